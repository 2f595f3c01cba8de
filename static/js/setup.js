// Set-up pages: the guidelines' live preview, role selects that save on change, "split at cursor",
// import jobs' progress that updates in place (the results stay on the page), and live project progress.
import { renderMath } from "./math.js";

const csrf = () => (document.cookie.split("; ").find((c) => c.startsWith("csrftoken=")) || "").split("=")[1] || "";

// --- guidelines: preview as annotators will see it (rendered and sanitized by the server) ---
const source = document.querySelector("textarea[data-preview-url]");
if (source) {
  const target = document.querySelector(source.dataset.preview);
  let timer = 0;
  let sent = 0;
  const refresh = async () => {
    const mine = ++sent;
    try {
      const res = await fetch(source.dataset.previewUrl, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
        body: JSON.stringify({ text: source.value }),
      });
      if (!res.ok || mine !== sent) return;
      const body = await res.json();
      target.innerHTML = body.html; // nh3-sanitized by the server: the HTML annotators' pages show
      renderMath(target.parentElement); // renders the .math elements inside the root it is given
      target.dataset.state = "fresh";
    } catch {
      target.dataset.state = "offline";
    }
  };
  source.addEventListener("input", () => {
    target.dataset.state = "typing";
    clearTimeout(timer);
    timer = setTimeout(refresh, 250);
  });
}

// --- selects that save on change (members' roles) ---
for (const select of document.querySelectorAll("select[data-autosubmit]")) {
  select.addEventListener("change", () => select.form.requestSubmit());
}

// --- step editor: "Split at cursor" sends where the cursor is in the (possibly edited) text ---
for (const button of document.querySelectorAll("button[data-split]")) {
  button.addEventListener("click", () => {
    const form = button.form;
    form.elements.at.value = String(form.elements.text.selectionStart);
  });
}

// --- import jobs: progress and results in place ---
function describe(job) {
  if (job.status === "done") {
    const r = job.result || {};
    return `${r.chains_created} chains created, ${r.chains_skipped} already here, ${r.steps_created} steps`;
  }
  if (job.status === "failed") {
    return (job.errors || []).slice(0, 5).map((e) => (e.line ? `line ${e.line}: ` : "") + e.message).join("\n");
  }
  const live = job.live || {};
  return live.total ? `${Math.round((100 * live.done) / live.total)}% read` : "";
}

async function watch(row) {
  try {
    const res = await fetch(row.dataset.api, { credentials: "same-origin" });
    if (!res.ok) return;
    const job = await res.json();
    row.dataset.status = job.status;
    const status = row.querySelector('[data-field="status"]');
    const bar = row.querySelector('[data-field="bar"]');
    const live = job.live || {};
    if (bar && live.total) bar.value = Math.round((100 * live.done) / live.total);
    row.querySelector('[data-field="result"]').textContent = describe(job); // file text: never as HTML
    if (job.status === "queued" || job.status === "running") {
      setTimeout(() => watch(row), 1000);
    } else {
      status.textContent = job.status === "done" ? "Done" : "Failed";
    }
  } catch {
    setTimeout(() => watch(row), 5000);
  }
}

for (const row of document.querySelectorAll('#import-jobs tr[data-status="queued"], #import-jobs tr[data-status="running"]')) {
  watch(row);
}

// --- progress (the Progress tab, the Settings tab's line): live over the project's websocket ---
// Each event that changes progress (a pass submitted, a claim, an expiry, an import) makes the page re-read
// GET …/progress/; one request at a time, and a burst of events while it runs costs one more request, not
// one each. Reconnects with backoff; stops when the API says access is gone. Without a socket the page
// re-reads every 60 s.
const PROGRESS_EVENTS = new Set(["assignment.submitted", "assignment.claimed", "assignment.expired",
  "assignment.reopened", "import.done"]);

function etaText(eta) {
  if (eta.remaining === 0) return "done";
  if (eta.days_left === null) return "no estimate: no submissions in the last 24 hours";
  return `about ${eta.days_left} days at this pace`;
}

function setField(root, name, text) {
  const el = root.querySelector(`[data-field="${name}"]`);
  if (el) el.textContent = text; // usernames and counts: never as HTML
}

function renderProgress(box, { project: p, eta, members }) {
  const bar = box.querySelector(".progress span");
  if (bar) bar.style.width = `${p.percent}%`;
  const chains = `${p.complete} of ${p.total} chains fully annotated (${p.percent}%)`;
  setField(box, "chains", chains);
  setField(box, "passes", `${eta.passes_done} of ${eta.passes_needed} (${eta.remaining} to go)`);
  setField(box, "pace", `${eta.per_day} in the last 24 hours`);
  setField(box, "eta", etaText(eta));
  const pace = eta.days_left === null ? "no submissions in the last 24 hours"
    : `about ${eta.days_left} days left at ${eta.per_day} a day`;
  setField(box, "summary", `${chains} · ${eta.passes_done} of ${eta.passes_needed} passes · ${pace}`);
  const table = document.querySelector("#progress-members tbody");
  if (!table || !members) return;
  for (const m of members) {
    let row = table.querySelector(`tr[data-user="${CSS.escape(m.username)}"]`);
    if (!row) {
      table.querySelector("td[colspan]")?.parentElement.remove(); // "no members yet"
      row = document.createElement("tr");
      row.dataset.user = m.username;
      for (const name of ["username", "role", "open", "submitted", "submitted_last_24h", "dropped",
        "seconds_per_chain", "last_submitted_at"]) {
        const cell = document.createElement("td");
        cell.dataset.field = name;
        row.appendChild(cell);
      }
      table.appendChild(row);
    }
    setField(row, "username", m.username);
    setField(row, "role", m.role);
    for (const name of ["open", "submitted", "submitted_last_24h", "dropped"]) setField(row, name, String(m[name]));
    setField(row, "seconds_per_chain", m.seconds_per_chain === null ? "—" : `${m.seconds_per_chain} s`);
    setField(row, "last_submitted_at", m.last_submitted_at
      ? m.last_submitted_at.slice(0, 16).replace("T", " ") : "—");
  }
}

function liveProgress(box) {
  const GONE = [401, 403, 404]; // logged out, or no longer running this project
  let delay = 1000;
  let running = false;
  let again = false;
  let poll = 0;

  async function refresh() {
    if (running) { again = true; return 0; }
    running = true;
    try {
      const res = await fetch(box.dataset.api, { credentials: "same-origin" });
      if (res.ok) {
        renderProgress(box, await res.json());
        box.dataset.refreshes = String(Number(box.dataset.refreshes || 0) + 1);
      }
      return res.status;
    } catch {
      return 0; // offline for a moment: the next event, reconnection or poll refreshes again
    } finally {
      running = false;
      if (again) { again = false; refresh(); }
    }
  }

  function connect() {
    if (!window.WebSocket || !box.dataset.ws) return;
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + box.dataset.ws);
    let opened = false;
    socket.onopen = () => {
      opened = true;
      delay = 1000;
      clearInterval(poll);
      box.dataset.state = "live";
      setField(box, "live", "Live: updates as annotators submit.");
      refresh(); // what happened while the page had no socket was not sent to it
    };
    socket.onmessage = (message) => {
      const { event } = JSON.parse(message.data);
      if (PROGRESS_EVENTS.has(event)) refresh();
    };
    socket.onclose = async (close) => {
      box.dataset.state = "offline";
      if (close.code === 4401 || close.code === 4404) return; // closed on purpose: don't retry
      // A refusal at the handshake looks like a network failure (1006): the API says if access is gone.
      if (!opened && GONE.includes(await refresh())) return;
      setField(box, "live", "Reconnecting; meanwhile refreshed every minute.");
      clearInterval(poll);
      poll = setInterval(() => { if (document.visibilityState === "visible") refresh(); }, 60000);
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
}

for (const box of document.querySelectorAll("[data-live-progress]")) liveProgress(box);

// --- settings: how each segmentation would split a pasted text ---
const segmentText = document.getElementById("segment-text");
if (segmentText) {
  const out = document.getElementById("segment-preview");
  let timer = 0;
  const show = async () => {
    const res = await fetch(segmentText.dataset.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf() },
      body: JSON.stringify({ text: segmentText.value || " " }),
    });
    if (!res.ok) return;
    const byMode = await res.json();
    out.replaceChildren();
    for (const [mode, steps] of Object.entries(byMode)) {
      const box = document.createElement("div");
      box.className = "segment-mode";
      const title = document.createElement("h3");
      title.textContent = `${mode}: ${steps.length} step${steps.length === 1 ? "" : "s"}`;
      const list = document.createElement("ol");
      for (const step of steps) {
        const item = document.createElement("li");
        item.textContent = step; // pasted text: never parsed as HTML
        list.appendChild(item);
      }
      box.append(title, list);
      out.appendChild(box);
    }
  };
  segmentText.addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(show, 300); });
  show();
}
