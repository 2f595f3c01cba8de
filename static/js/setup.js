// Set-up pages: the guidelines' live preview, role selects that save on change, "split at cursor",
// and import jobs' progress that updates in place (the results stay on the page).
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

// --- settings: progress refreshed every 15 s while the page is visible ---
const progressBox = document.getElementById("setup-progress");
if (progressBox) {
  const bar = progressBox.querySelector(".progress span");
  const summary = progressBox.querySelector('[data-field="summary"]');
  const tick = async () => {
    if (document.visibilityState !== "visible") return;
    try {
      const res = await fetch(progressBox.dataset.api, { credentials: "same-origin" });
      if (!res.ok) return;
      const { project: p, eta } = await res.json();
      bar.style.width = `${p.percent}%`;
      const pace = eta.days_left === null ? "no submissions in the last 24 hours"
        : `about ${eta.days_left} days left at ${eta.per_day} a day`;
      summary.textContent = `${p.complete} of ${p.total} chains fully annotated (${p.percent}%) · ` +
        `${eta.passes_done} of ${eta.passes_needed} passes · ${pace}`;
    } catch {
      // offline for a moment: the next tick tries again
    }
  };
  setInterval(tick, 15000);
}

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
