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
    try { body = await res.json(); } catch (e) { body = { detail: `Server error ${res.status}` }; }
    report(body, res.status);
    if (res.ok && body.status === "done") setTimeout(() => location.reload(), 1500);
  });
})();
