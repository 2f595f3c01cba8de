// The annotation workspace: rate steps with buttons or keys, autosave every change, submit.
// Nothing is lost: unsaved changes are kept in localStorage until the server has them, and saves are
// sent one at a time with the version the server last returned (optimistic locking).
(function () {
  "use strict";
  const root = document.getElementById("workspace");
  if (!root) return;
  const state = JSON.parse(document.getElementById("initial-state").textContent);
  const api = root.dataset.api;
  const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
  const storeKey = "stepwise:pending:" + root.dataset.assignment;
  const steps = Array.from(document.querySelectorAll("#steps .step"));
  const ratings = new Map(); // step index -> rating (-1, 0, 1) or null
  const undo = [];
  let pending = new Map(JSON.parse(localStorage.getItem(storeKey) || "[]")); // step -> rating, not yet saved
  let saving = false;
  let submitting = false; // a submit is in flight: no new ratings or saves until it answers
  let focusIndex = 0;
  let closed = state.status === "submitted" || state.status === "skipped" || state.status === "expired";
  let activeSeconds = state.activeSeconds || 0;
  let lastInput = Date.now();

  if (closed && pending.size) {
    // Left over from another tab or a lost response: the server's labels are final now, don't show these.
    pending = new Map();
    localStorage.removeItem(storeKey);
  }
  state.labels.forEach((l) => ratings.set(l.step, l.rating));
  pending.forEach((rating, step) => ratings.set(step, rating));

  const saveState = document.getElementById("save-state");
  const submitError = document.getElementById("submit-error");

  function setSaveState(text, kind) {
    saveState.textContent = text;
    saveState.dataset.kind = kind || "";
  }

  function paint() {
    let rated = 0;
    steps.forEach((el) => {
      const rating = ratings.get(Number(el.dataset.index));
      if (rating !== undefined && rating !== null) rated += 1;
      el.dataset.rating = rating === undefined || rating === null ? "" : String(rating);
      el.querySelectorAll("button.r").forEach((b) => {
        b.setAttribute("aria-pressed", String(Number(b.dataset.rating) === rating));
        b.disabled = closed;
      });
    });
    document.getElementById("rated-bar").style.width = (100 * rated) / steps.length + "%";
    document.getElementById("rated-count").textContent = rated + " of " + steps.length + " steps rated";
    suggestFinish();
  }

  function suggestFinish() {
    const chosen = document.querySelector("input[name=finish_reason]:checked");
    if (chosen && chosen.dataset.user === "1") return; // the annotator chose; don't override
    const values = steps.map((el) => ratings.get(Number(el.dataset.index)));
    let suggestion = null;
    if (values.includes(-1)) suggestion = "found_error";
    else if (values.every((v) => v !== undefined && v !== null)) suggestion = "solution";
    document.querySelectorAll("input[name=finish_reason]").forEach((input) => {
      input.checked = input.value === suggestion;
    });
  }

  function focusStep(index, scroll) {
    focusIndex = Math.max(0, Math.min(steps.length - 1, index));
    steps.forEach((el, i) => {
      el.classList.toggle("focused", i === focusIndex);
      el.setAttribute("aria-selected", String(i === focusIndex));
    });
    if (scroll !== false) steps[focusIndex].scrollIntoView({ block: "nearest" });
  }

  function rate(index, rating, advance) {
    if (closed || submitting) return;
    const previous = ratings.has(index) ? ratings.get(index) : null;
    if (previous === rating) {
      // Re-confirming a rating changes nothing but still moves on, so 3 3 3 … walks down a chain.
      if (advance && index === focusIndex && rating !== -1) focusStep(index + 1);
      return;
    }
    undo.push([index, previous]);
    ratings.set(index, rating);
    pending.set(index, rating);
    localStorage.setItem(storeKey, JSON.stringify(Array.from(pending)));
    paint();
    flush();
    if (advance && index === focusIndex && rating !== -1) focusStep(index + 1);
  }

  async function request(url, body) {
    const response = await fetch(url, {
      method: body.method || "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      credentials: "same-origin",
      body: JSON.stringify(body.data),
    });
    let payload = {};
    try { payload = await response.json(); } catch (e) { /* empty body */ }
    return { ok: response.ok, status: response.status, payload };
  }

  function describe(payload, fallback) {
    if (payload && payload.detail) return payload.detail + (payload.field ? " (" + payload.field + ")" : "");
    if (payload && typeof payload === "object") {
      const first = Object.entries(payload)[0];
      if (first) return first[0] + ": " + JSON.stringify(first[1]);
    }
    return fallback;
  }

  async function flush() {
    if (saving || submitting || pending.size === 0 || closed) return;
    saving = true;
    const batch = new Map(pending);
    setSaveState("Saving…", "busy");
    try {
      const labels = Array.from(batch, ([step, rating]) => ({ step, rating }));
      const res = await request(api + "labels/", { method: "PUT", data: { version: state.version, labels, active_seconds: activeSeconds } });
      if (res.ok) {
        state.version = res.payload.version;
        batch.forEach((rating, step) => { if (pending.get(step) === rating) pending.delete(step); });
        localStorage.setItem(storeKey, JSON.stringify(Array.from(pending)));
        setSaveState(pending.size ? "Saving…" : "All changes saved", pending.size ? "busy" : "ok");
      } else if (res.status === 409) {
        setSaveState(describe(res.payload, "Changed elsewhere; reload."), "error");
        saving = false;
        return;
      } else {
        setSaveState("Not saved: " + describe(res.payload, "server error " + res.status), "error");
        saving = false;
        return;
      }
    } catch (e) {
      setSaveState("Offline — your labels are kept here and will be saved when the connection is back", "error");
      saving = false;
      setTimeout(flush, 3000);
      return;
    }
    saving = false;
    if (pending.size) flush();
  }

  async function submit() {
    if (closed || submitting) return; // a second Ctrl+Enter while the first is in flight does nothing
    submitError.textContent = "";
    const chosen = document.querySelector("input[name=finish_reason]:checked");
    if (!chosen) {
      submitError.textContent = "Choose how the chain ended before submitting.";
      return;
    }
    while (saving) await new Promise((r) => setTimeout(r, 50));
    if (closed || submitting) return;
    submitting = true;
    const labels = steps
      .map((el) => Number(el.dataset.index))
      .filter((i) => ratings.has(i))
      .map((i) => ({ step: i, rating: ratings.get(i) }));
    const button = document.getElementById("submit");
    button.disabled = true;
    try {
      const res = await request(api + "submit/", {
        data: { version: state.version, finish_reason: chosen.value, labels,
                comment: document.getElementById("comment").value, active_seconds: activeSeconds },
      });
      if (res.ok) {
        pending.clear();
        localStorage.removeItem(storeKey);
        closed = true;
        state.version = res.payload.version;
        setSaveState("Submitted", "ok");
        document.getElementById("finish").hidden = true;
        document.getElementById("done").hidden = false;
        document.getElementById("next-chain").focus();
        paint();
      } else {
        submitError.textContent = describe(res.payload, "Submit failed (" + res.status + ")");
      }
    } catch (e) {
      submitError.textContent = "Could not reach the server; nothing was lost. Try again.";
    } finally {
      submitting = false;
      button.disabled = false;
      if (!closed && pending.size) flush(); // ratings typed before a failed submit still get saved
    }
  }

  // Buttons
  steps.forEach((el) => {
    el.addEventListener("click", (event) => {
      const index = Number(el.dataset.index);
      focusStep(index, false);
      const button = event.target.closest("button.r");
      if (button) rate(index, Number(button.dataset.rating), false);
    });
  });
  document.querySelectorAll("input[name=finish_reason]").forEach((input) => {
    input.addEventListener("change", () => { input.dataset.user = "1"; });
  });
  document.getElementById("submit").addEventListener("click", submit);
  const helpToggle = document.getElementById("help-toggle");
  const help = document.getElementById("help");
  function toggleHelp() {
    help.hidden = !help.hidden;
    helpToggle.setAttribute("aria-expanded", String(!help.hidden));
  }
  helpToggle.addEventListener("click", toggleHelp);

  // Keys
  const keyRatings = { "1": -1, "-": -1, "2": 0, "0": 0, "3": 1, "=": 1, "+": 1 };
  const allowed = new Set(Array.from(document.querySelectorAll("#steps .step:first-child button.r"), (b) => Number(b.dataset.rating)));
  const finishInputs = Array.from(document.querySelectorAll("input[name=finish_reason]"));
  document.addEventListener("keydown", (event) => {
    lastInput = Date.now();
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      submit();
      return;
    }
    if (event.altKey || event.ctrlKey || event.metaKey || event.isComposing) return;
    // In the finish form (radios, comment) keys do what they do in any form: arrows pick a radio, digits
    // are typed. Escape goes back to the steps.
    if (event.target.closest("input, textarea, select, [contenteditable]")) {
      if (event.key === "Escape") {
        event.target.blur();
        focusStep(focusIndex);
      }
      return;
    }
    if (closed && event.key === "n") {
      document.getElementById("next-chain").click();
      return;
    }
    if (event.key in keyRatings && allowed.has(keyRatings[event.key])) {
      event.preventDefault();
      rate(focusIndex, keyRatings[event.key], true);
    } else if (event.key === "ArrowDown" || event.key === "j") {
      event.preventDefault();
      focusStep(focusIndex + 1);
    } else if (event.key === "ArrowUp" || event.key === "k") {
      event.preventDefault();
      focusStep(focusIndex - 1);
    } else if (event.key === "Backspace" || event.key === "Delete") {
      event.preventDefault();
      rate(focusIndex, null, false);
    } else if (event.key === "u") {
      const last = undo.pop();
      if (last) {
        rate(last[0], last[1], false);
        undo.pop(); // the undo itself is not undoable
        focusStep(last[0]);
      }
    } else if (event.key === "f" && !closed) {
      event.preventDefault();
      (finishInputs.find((input) => input.checked) || finishInputs[0]).focus();
    } else if (event.key === "?") {
      toggleHelp();
    }
  });

  // Active time: seconds with the page visible and input in the last minute.
  document.addEventListener("mousemove", () => { lastInput = Date.now(); }, { passive: true });
  setInterval(() => {
    if (!closed && document.visibilityState === "visible" && Date.now() - lastInput < 60000) activeSeconds += 1;
  }, 1000);
  window.addEventListener("beforeunload", (event) => {
    if (pending.size && !closed) { event.preventDefault(); event.returnValue = ""; }
  });

  if (closed) {
    document.getElementById("finish").hidden = true;
    document.getElementById("done").hidden = state.status !== "submitted";
    setSaveState(state.status === "submitted" ? "Submitted" : "Closed", "ok");
  }
  paint();
  focusStep(Math.max(0, steps.findIndex((el) => !ratings.has(Number(el.dataset.index)) || ratings.get(Number(el.dataset.index)) === null)), false);
  if (pending.size) flush();
})();
