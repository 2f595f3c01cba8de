// Loaded as a classic script before the workspace's markup, so it runs at once (no inline script: the
// Content-Security-Policy allows scripts from /static/ only). Keys pressed while the page loads are
// queued and replayed once the workspace is ready, and extensions that register early wait in a
// queue (static/js/workspace/extensions.js).
(function () {
  "use strict";
  const early = window.__stepwiseEarly = { q: [], ready: false };
  function keep(e) {
    if (early.ready || e.isComposing) return;
    const t = e.target;
    if (t && t.closest && t.closest("input, textarea, select, [contenteditable], dialog")) return;
    if ((e.ctrlKey || e.metaKey) && e.key !== "Enter") return;
    if (e.altKey || e.key === "Tab" || e.key === "Shift" || e.key === "Control" || e.key === "Meta") return;
    early.q.push({ key: e.key, ctrlKey: e.ctrlKey, metaKey: e.metaKey, shiftKey: e.shiftKey, altKey: false });
    e.preventDefault();
  }
  document.addEventListener("keydown", keep, true);
  early.stop = function () { document.removeEventListener("keydown", keep, true); };
  window.StepwiseWorkspace = window.StepwiseWorkspace || { _queue: [], register: function (x) { this._queue.push(x); } };
})();
