// Release pages: build a release through the API, follow its progress live (the project's websocket
// group sends "release.progress"; without websockets the page polls the API), re-make, compare, evaluate.
// Everything shown from a reply is set with textContent: names and errors are never parsed as HTML.
(function () {
  "use strict";
  const csrfCookie = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  const csrf = csrfCookie ? csrfCookie.split("=")[1] : "";

  function show(box, lines, kind) {
    if (!box) return;
    box.replaceChildren();
    box.className = kind;
    lines.forEach((text) => {
      const p = document.createElement("p");
      p.textContent = text;
      box.appendChild(p);
    });
  }

  function problems(body, status) {
    if (body.detail) return [body.detail];
    const lines = Object.entries(body).map(([field, msgs]) => `${field}: ${[].concat(msgs).join(" ")}`);
    return lines.length ? lines : [`The server answered ${status}.`];
  }

  async function send(url, options) {
    const res = await fetch(url, { credentials: "same-origin", ...options,
      headers: { "X-CSRFToken": csrf, ...(options && options.headers) } });
    let body = {};
    try { body = await res.json(); } catch { body = { detail: `Server error ${res.status}` }; }
    return { res, body };
  }

  // --- the new-release form ---
  // The page reloads to show a queued or finished release; a link clicked meanwhile wins (the reload would
  // cancel the navigation the user asked for): leaving the page clears the pending reload.
  let reloadTimer = null;
  function reloadSoon(ms) {
    clearTimeout(reloadTimer);
    reloadTimer = setTimeout(() => location.reload(), ms);
  }
  window.addEventListener("beforeunload", () => clearTimeout(reloadTimer));

  const form = document.getElementById("release-form");
  if (form) {
    const out = document.getElementById("release-result");
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const data = new FormData(form);
      const payload = {
        name: data.get("name"), version: data.get("version"), description: data.get("description") || "",
        formats: data.getAll("formats"), label_source: data.get("label_source"),
        min_agreement: Number(data.get("min_agreement")), min_label_sets: Number(data.get("min_label_sets")),
        test_fraction: Number(data.get("test_fraction")), seed: data.get("seed"), neutral: data.get("neutral"),
        include_gold: data.has("include_gold"), include_screening: data.has("include_screening"),
        include_planted: data.has("include_planted"),
      };
      show(out, ["Sending…"], "busy");
      const { res, body } = await send(form.dataset.url, { method: "POST", body: JSON.stringify(payload),
        headers: { "Content-Type": "application/json" } });
      if (res.ok) {
        show(out, [`${body.name} ${body.version} is queued for building.`], "ok");
        reloadSoon(600);
      } else {
        show(out, problems(body, res.status), "error");
      }
    });
  }

  // --- live progress of releases being built ---
  const table = document.getElementById("releases");
  function rowOf(id) { return table && table.querySelector(`[data-release="${Number(id)}"]`); }

  function paint(row, p) {
    if (!row) return;
    const status = p.status || row.dataset.status;
    const text = row.querySelector(".status-text");
    const bar = row.querySelector(".progress span");
    const count = row.querySelector(".release-count");
    if (p.total && bar) bar.style.width = Math.min(100, Math.round((100 * (p.done || 0)) / p.total)) + "%";
    if (count && p.total) count.textContent = `${p.done || 0} of ${p.total} chains`;
    if (status !== row.dataset.status) {
      row.dataset.status = status;
      if (text) text.textContent = status === "done" ? "Done" : status === "failed" ? "Failed" : "Building";
      if (status === "done" || status === "failed") reloadSoon(400);
    }
  }

  function open() {
    return Array.from(table ? table.querySelectorAll("[data-release]") : [])
      .filter((row) => row.dataset.status === "queued" || row.dataset.status === "building");
  }

  async function poll() {
    const rows = open();
    for (const row of rows) {
      try {
        const res = await fetch(row.dataset.api, { credentials: "same-origin" });
        if (res.ok) {
          const r = await res.json();
          paint(row, { ...r.progress, status: r.status });
        }
      } catch { /* offline: try again later */ }
    }
    if (open().length) setTimeout(poll, 2000);
  }

  if (table && open().length) {
    let socket = null;
    if (window.WebSocket && table.dataset.ws) {
      const scheme = location.protocol === "https:" ? "wss://" : "ws://";
      socket = new WebSocket(scheme + location.host + table.dataset.ws);
      socket.addEventListener("message", (event) => {
        let message = {};
        try { message = JSON.parse(event.data); } catch { return; }
        if (message.event === "release.progress" && message.payload) paint(rowOf(message.payload.release), message.payload);
      });
    }
    // Polling as well, slowly: it catches a release that finished before the socket opened.
    setTimeout(poll, socket ? 3000 : 1000);
  }

  // --- re-make, compare, evaluate ---
  const remake = document.getElementById("remake");
  if (remake) {
    remake.addEventListener("click", async () => {
      const out = document.getElementById("remake-result");
      show(out, ["Queued…"], "busy");
      const { res, body } = await send(remake.dataset.url, { method: "POST" });
      if (res.ok) location.href = `/releases/${Number(body.id)}/`;
      else show(out, problems(body, res.status), "error");
    });
  }

  const diff = document.getElementById("diff-form");
  if (diff) {
    diff.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = document.getElementById("diff-result");
      const other = new FormData(diff).get("other");
      const { res, body } = await send(`${diff.dataset.url}?other=${encodeURIComponent(other)}`, { method: "GET" });
      if (!res.ok) { show(out, problems(body, res.status), "error"); return; }
      const c = body.counts;
      const lines = [
        body.same_content ? "Same content (identical content hash)." : "The content differs.",
        `From ${body.old.name} ${body.old.version} to ${body.new.name} ${body.new.version}: ${c.added} chains added, ` +
          `${c.removed} removed, ${c.relabelled} relabelled, ${c.revised} re-segmented or edited, ` +
          `${c.moved_split} moved between splits, ${c.unchanged} unchanged.`,
      ];
      Object.entries(body.filters).forEach(([k, [a, b]]) => lines.push(`${k}: ${JSON.stringify(a)} → ${JSON.stringify(b)}`));
      Object.entries(body.rows).forEach(([k, [a, b]]) => { if (a !== b) lines.push(`${k} rows: ${a ?? 0} → ${b ?? 0}`); });
      if (body.added.length) lines.push(`Added: ${body.added.slice(0, 20).join(", ")}${c.added > 20 ? " …" : ""}`);
      if (body.removed.length) lines.push(`Removed: ${body.removed.slice(0, 20).join(", ")}${c.removed > 20 ? " …" : ""}`);
      if (body.relabelled.length) lines.push(`Relabelled: ${body.relabelled.slice(0, 20).join(", ")}${c.relabelled > 20 ? " …" : ""}`);
      show(out, lines, "ok");
    });
  }

  const evaluation = document.getElementById("evaluation-form");
  if (evaluation) {
    evaluation.addEventListener("submit", async (event) => {
      event.preventDefault();
      const out = document.getElementById("evaluation-result");
      show(out, ["Scoring…"], "busy");
      const { res, body } = await send(evaluation.dataset.url, { method: "POST", body: new FormData(evaluation) });
      if (res.ok) location.href = `/evaluations/${Number(body.id)}/`;
      else show(out, problems(body, res.status), "error");
    });
  }
})();
