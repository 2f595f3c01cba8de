// Import form on the project page: upload through the API, show the result or each refused row.
(function () {
  "use strict";
  const form = document.getElementById("import-form");
  if (!form) return;
  const out = document.getElementById("import-result");
  const csrf = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));

  function show(lines, kind) {
    out.replaceChildren();
    out.className = kind;
    lines.forEach((text) => {
      const p = document.createElement("p");
      p.textContent = text; // row text from an uploaded file is never parsed as HTML
      out.appendChild(p);
    });
  }

  async function poll(url) {
    const res = await fetch(url, { credentials: "same-origin" });
    const job = await res.json();
    report(job, res.status);
  }

  function report(job, status) {
    if (job.status === "done") {
      const r = job.result;
      show([`Imported ${r.chains_created} chains (${r.steps_created} steps); ${r.chains_skipped} were already here; ` +
            `${r.label_sets_created} label sets came with them. Format: ${r.format}.`], "ok");
    } else if (job.status === "failed" || status >= 400) {
      const errors = (job.errors || []).map((e) => `line ${e.line}${e.field ? ", " + e.field : ""}: ${e.message}`);
      show([job.detail || "The import was refused; nothing was imported.", ...errors], "error");
    } else {
      show([`Import ${job.status}…`], "busy");
      setTimeout(() => poll(`/api/imports/${job.id}/`), 1000);
    }
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    show(["Uploading…"], "busy");
    const res = await fetch(form.dataset.url, {
      method: "POST", body: new FormData(form), credentials: "same-origin",
      headers: { "X-CSRFToken": csrf ? csrf.split("=")[1] : "" },
    });
    let body = {};
    try { body = await res.json(); } catch { body = { detail: `Server error ${res.status}` }; }
    report(body, res.status);
  });
})();

// Live progress: the project's websocket group says when an annotator submits or an import lands;
// the bar is then refreshed from the API. Reconnects with backoff; without websockets the page simply
// stays as loaded.
(function () {
  "use strict";
  const box = document.getElementById("project-progress");
  if (!box || !window.WebSocket) return;
  const bar = box.querySelector(".progress span");
  const text = box.querySelector("[aria-live]");
  const GONE = [401, 403, 404]; // logged out, or no longer a member of this project
  let delay = 1000;
  let latest = 0;

  // Shows the progress the API reports; resolves to the response status (0: no answer). Only the
  // answer to the latest request is shown: an older one arriving late never overwrites a newer one.
  async function refresh() {
    const ticket = ++latest;
    try {
      const res = await fetch(box.dataset.api, { credentials: "same-origin" });
      if (res.ok) {
        const p = (await res.json()).progress;
        if (ticket === latest) {
          bar.style.width = p.percent + "%";
          text.textContent = `${p.complete} of ${p.total} chains fully annotated (${p.percent}%)`;
        }
      }
      return res.status;
    } catch {
      return 0; // offline or the server is restarting: the next event or reconnection refreshes again
    }
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss://" : "ws://";
    const socket = new WebSocket(scheme + location.host + box.dataset.ws);
    let opened = false;
    socket.onopen = () => {
      opened = true;
      delay = 1000;
      refresh(); // what happened while the page had no socket (loading, reconnecting) was not sent to it
    };
    socket.onmessage = (message) => {
      const { event } = JSON.parse(message.data);
      if (event === "assignment.submitted" || event === "import.done") refresh();
    };
    socket.onclose = async (close) => {
      if (close.code === 4401 || close.code === 4404) return; // closed on purpose after opening: don't retry
      // The consumer refuses a socket at the handshake (HTTP 403), which a browser reports like a
      // network failure: code 1006, no reason. The API says whether access is gone; then stop.
      if (!opened && GONE.includes(await refresh())) return;
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 30000);
    };
  }
  connect();
})();
