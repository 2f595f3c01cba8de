// The annotation workspace for long chains. The page carries its data as one JSON payload
// (#workspace-data); this module renders only the rows near the viewport (windowed, variable heights:
// layout.js), renders markdown and TeX as rows come into view and caches the HTML (render.js), keeps
// the labels in typed arrays (labels.js), autosaves sparse patches (saver.js) and hosts extensions
// (extensions.js). Keys pressed before it ran were queued by the page's inline script and are replayed.

import { ExtensionHost } from "./extensions.js";
import { Labels, search } from "./labels.js";
import { Heights, estimateHeight, visibleRange } from "./layout.js";
import { RenderCache, renderRich } from "./render.js";
import { Saver } from "./saver.js";

const early = window.__stepwiseEarly || { q: [], stop() {} };
const data = JSON.parse(document.getElementById("workspace-data").textContent);
const $ = (id) => document.getElementById(id);
const root = $("workspace");
const katex = window.katex || null;
const schema = data.schema;
const mode = schema.mode;
const scale = schema.scale;
const lowest = scale[0].value;
const n = data.chain.stepCount;
// The page carries the texts of the steps around the one it opens on (`textsFrom` on); the rest come
// from the texts API after the first frame (loadTexts). Until then such a step's row shows a
// placeholder, filled in place when its text arrives; search and the extensions wait for them.
const texts = new Array(n).fill(null);
for (let k = 0; k < data.texts.length; k += 1) texts[data.textsFrom + k] = data.texts[k];
let textsLoaded = data.texts.length === n;
const keys = data.keys; // null: step i has key i
const keyIndex = keys ? new Map(keys.map((key, i) => [key, i])) : null;
const keyOf = (i) => (keys ? keys[i] : i);
const indexOfKey = (key) => (keyIndex ? (keyIndex.has(key) ? keyIndex.get(key) : -1)
  : Number.isInteger(key) && key >= 0 && key < n ? key : -1);
const OPEN = new Set(["assigned", "in_progress"]);
const csrf = document.querySelector("input[name=csrfmiddlewaretoken]").value;
// Unsaved work is kept per tab (a tab id in sessionStorage survives its reloads): two tabs of one chain
// never overwrite each other's copy. A tab that finds the copy of a tab that no longer answers (closed,
// crashed) takes it over (see restoreOrphans).
const baseKey = `stepwise:ws:${data.assignment.id}`;
const tabId = sessionStorage.getItem("stepwise:tab") || Math.random().toString(36).slice(2, 10);
sessionStorage.setItem("stepwise:tab", tabId);
const storageKey = `${baseKey}:tab:${tabId}`;
const commentKey = `${baseKey}:comment`;
const levelByValue = new Map(scale.map((level) => [level.value, level]));
const keyToValue = new Map(scale.map((level) => [level.key, level.value]));
const shown = (value) => (value > 0 ? `+${value}` : value < 0 ? `−${-value}` : "0");

let status = data.assignment.status;
let closed = !OPEN.has(status);
const labels = new Labels(n, schema);
labels.load(data.labels);
const cache = new RenderCache(3000);
const undo = [];
const notes = new Map(); // step key -> [{...note, source}]
const railMarks = new Map(); // kind -> Set of indexes
let current = 0;
let expanded = -1; // the step whose editor (rationale, correction, error type) is open
let matches = [];
let matchSet = new Set();
let matchAt = -1;
let lowerTexts = null;
let submitting = false;
// A submit in flight holds the labels as they were sent: nothing changes what the server may already have
// stored, until it answers (see submit()).
let held = false;
const frozen = () => closed || held;

// --- announcements ----------------------------------------------------------------------------------
const live = $("ws-live");
let announcing = null;
function announce(message) {
  // Polite: a screen reader finishes what it reads, then says this. Emptied after the key's handler
  // (with the rows' repaint) and written in the next frame, so the same message twice is said twice.
  announcing = message;
  flushSoon();
}
const hint = $("ws-hint");
let hintTimer = null;
function say(message, kind = "info") {
  hint.textContent = message;
  hint.dataset.kind = kind;
  hint.hidden = !message;
  clearTimeout(hintTimer);
  if (message) hintTimer = setTimeout(() => { hint.hidden = true; }, 6000);
  if (message) announce(message);
}

// --- layout -----------------------------------------------------------------------------------------
const viewport = $("ws-viewport");
const list = $("steps");
const digits = String(n).length;
root.style.setProperty("--num-w", `${Math.max(2, digits) + 1}ch`);
const perLine = Math.max(24, Math.floor((viewport.clientWidth - 260) / 8.2));
const heights = new Heights(texts.map((text) => estimateHeight(text || "", { perLine })));
const measured = new Uint8Array(n); // 1: the row's height was measured (kept when the texts arrive)
const rows = new Map(); // index -> element
list.setAttribute("aria-setsize", String(n));

let listHeight = -1;
function setListHeight() {
  const total = heights.total();
  if (total !== listHeight) { listHeight = total; list.style.height = `${total}px`; }
}

// The viewport's height, kept by an observer: read on every key, and a read of `clientHeight` after
// the key's first DOM write would force a layout of the page in the middle of the handler.
let viewHeight = viewport.clientHeight;
new ResizeObserver(() => { viewHeight = viewport.clientHeight; renderSoon(); }).observe(viewport);

const measurer = new ResizeObserver((entries) => {
  let shift = 0;
  const top = viewport.scrollTop;
  for (const entry of entries) {
    const el = entry.target;
    if (!el.isConnected) continue;
    const i = Number(el.dataset.index);
    const size = entry.borderBoxSize && entry.borderBoxSize[0] ? entry.borderBoxSize[0].blockSize : el.offsetHeight;
    const rowTop = heights.offset(i);
    const delta = heights.set(i, Math.max(8, Math.round(size)));
    measured[i] = 1;
    // Keep what the annotator looks at in place: rows above the viewport's top that grew push it down.
    if (delta && rowTop < top) shift += delta;
  }
  if (shift) viewport.scrollTop = top + shift;
  placeRows();
  setListHeight();
  // Rows that shrank (estimates are longer than rendered TeX; a closed editor) bring rows below into
  // view: build them in the next frame, and the overscan after it.
  renderSoon();
});

const placed = new WeakMap(); // row element -> the offset its transform says
function placeRows() {
  for (const [i, el] of rows) {
    const y = heights.offset(i);
    if (placed.get(el) !== y) { placed.set(el, y); el.style.transform = `translateY(${y}px)`; }
  }
}

let frameQueued = false;
function renderSoon() {
  if (frameQueued) return;
  frameQueued = true;
  requestAnimationFrame(() => { frameQueued = false; renderWindow(); drawRail(); });
}

// Rows inside the viewport are built at once (a key, a scroll, a jump); the rows of the overscan above
// and below it, and the removal of rows that left it, wait for an idle moment: a key that moves the
// window by a row then does not pay, before its frame, for building, typesetting and laying out the
// row that enters the overscan 500 px below.
const OVERSCAN = 500;
function insertRow(i) {
  const el = buildRow(i);
  rows.set(i, el);
  measurer.observe(el);
  let before = null; // the row after it in the list: the DOM keeps the steps' order (reading, Tab)
  let beforeIndex = Infinity;
  for (const [k, other] of rows) if (k > i && k < beforeIndex) { beforeIndex = k; before = other; }
  list.insertBefore(el, before);
}

function renderWindow() {
  const [first, last] = visibleRange(heights, viewport.scrollTop, viewHeight, 0);
  let built = false;
  for (let i = first; i <= last; i += 1) {
    if (!rows.has(i)) { insertRow(i); built = true; }
  }
  if (built) { placeRows(); setListHeight(); }
  fillSoon();
}

let fillQueued = false;
const idle = window.requestIdleCallback ? (f) => window.requestIdleCallback(f, { timeout: 300 })
  : (f) => setTimeout(() => f({ didTimeout: true, timeRemaining: () => 8 }), 50);
function fillSoon() {
  if (fillQueued) return;
  fillQueued = true;
  idle(fillWindow);
}

function fillWindow(deadline) {
  fillQueued = false;
  const [first, last] = visibleRange(heights, viewport.scrollTop, viewHeight, OVERSCAN);
  for (const [i, el] of rows) {
    if (i >= first && i <= last) continue;
    if (el.contains(document.activeElement) && i === current) continue; // keep typing in an open editor
    measurer.unobserve(el);
    el.remove();
    rows.delete(i);
  }
  // Nearest the viewport first, in slices of about 6 ms (at least one row each), so that a key pressed
  // meanwhile waits little.
  const [top, bottom] = visibleRange(heights, viewport.scrollTop, viewHeight, 0);
  const start = performance.now();
  let built = 0;
  for (let d = 1; top - d >= first || bottom + d <= last; d += 1) {
    for (const i of [bottom + d, top - d]) {
      if (i < first || i > last || rows.has(i)) continue;
      if (built && (performance.now() - start > 6 || deadline.timeRemaining() < 2)) { placeRows(); setListHeight(); fillSoon(); return; }
      insertRow(i);
      built += 1;
    }
  }
  if (built) { placeRows(); setListHeight(); }
}

// --- rows -------------------------------------------------------------------------------------------
const proto = document.createElement("article");
proto.className = "step";
proto.tabIndex = -1;
proto.innerHTML = `<div class="step-no" aria-hidden="true"></div>
<div class="rate" role="group" aria-label="Rating"></div>
<div class="step-body"><div class="step-text md"></div><div class="step-meta"></div><div class="step-notes"></div></div>
<div class="step-tools">
  <button type="button" class="t" data-act="flag" aria-pressed="false" title="Flag for review (f)">⚑</button>
  <button type="button" class="t" data-act="unsure" aria-pressed="false" title="Unsure (x)">?</button>
  <button type="button" class="t" data-act="edit" data-field="rationale" aria-expanded="false" title="Rationale, correction, error type (r / c / e)">✎</button>
</div>`;
// The scale comes from the project's schema (names written by a researcher): built as DOM, not HTML.
for (const level of scale) {
  const button = document.createElement("button");
  button.type = "button";
  button.className = "r";
  button.dataset.act = "rate";
  button.dataset.value = String(level.value);
  button.style.setProperty("--c", level.color);
  button.setAttribute("aria-pressed", "false");
  button.title = `${level.name} (${shown(level.value)}): key ${level.key}`;
  button.textContent = shown(level.value);
  proto.querySelector(".rate").appendChild(button);
}

const PENDING_HTML = '<span class="muted step-pending">Loading this step…</span>';
function stepHtml(i) {
  if (texts[i] === null) return PENDING_HTML;
  return cache.get(keyOf(i), () => renderRich(texts[i], katex));
}

function buildRow(i) {
  const el = proto.cloneNode(true);
  el.dataset.index = String(i);
  el.dataset.key = String(keyOf(i));
  el.id = `step-${i}`;
  el.setAttribute("aria-posinset", String(i + 1));
  el.setAttribute("aria-setsize", String(n));
  const text = el.querySelector(".step-text");
  text.id = `step-text-${i}`;
  text.innerHTML = stepHtml(i); // render.js escapes every character of the model's text
  if (texts[i] === null) el.dataset.pending = "1";
  el.querySelector(".step-no").textContent = String(i + 1);
  el.querySelector(".step-notes").id = `step-notes-${i}`;
  el.setAttribute("aria-describedby", `step-text-${i} step-notes-${i}`);
  renderNotes(el, i);
  if (i === expanded) el.querySelector(".step-body").appendChild(buildEditor(i));
  paintRow(el, i);
  return el;
}

function stepLabel(i, label) {
  const parts = [`Step ${i + 1} of ${n}`];
  if (label.rating === null) parts.push("not rated");
  else parts.push(`rated ${levelByValue.get(label.rating)?.name || ""} ${shown(label.rating)}`);
  if (labels.closedAt(i, mode)) parts.push("after the first error, not labelled");
  if (label.flagged) parts.push("flagged");
  if (label.unsure) parts.push("unsure");
  if (label.error_type) parts.push(`error type ${label.error_type}`);
  if (label.rationale) parts.push("has a rationale");
  if (label.correction) parts.push("has a correction");
  const count = (notes.get(keyOf(i)) || []).length;
  if (count) parts.push(`${count} note${count > 1 ? "s" : ""}`);
  return parts.join(", ");
}

// Writes only what changed: a repaint of an unchanged row (the previous and next rows of every key)
// then costs the browser no style invalidation, relayout or repaint.
function setAttr(el, name, value) {
  if (el.getAttribute(name) !== value) el.setAttribute(name, value);
}

function paintRow(el, i) {
  const label = labels.get(i);
  const after = labels.closedAt(i, mode);
  const first = labels.firstError();
  const rating = label.rating === null ? "" : String(label.rating);
  if (el.dataset.rating !== rating) el.dataset.rating = rating;
  el.classList.toggle("current", i === current);
  el.classList.toggle("after-error", after);
  el.classList.toggle("first-error", first === i);
  el.classList.toggle("match", matchSet.has(i));
  const tabIndex = i === current ? 0 : -1;
  if (el.tabIndex !== tabIndex) el.tabIndex = tabIndex;
  setAttr(el, "aria-label", stepLabel(i, label));
  for (const button of el.querySelectorAll("button.r")) {
    setAttr(button, "aria-pressed", String(Number(button.dataset.value) === label.rating));
    if (button.disabled !== (frozen() || after)) button.disabled = frozen() || after;
  }
  const [flag, unsure, edit] = el.querySelectorAll("button.t");
  setAttr(flag, "aria-pressed", String(label.flagged));
  setAttr(unsure, "aria-pressed", String(label.unsure));
  setAttr(edit, "aria-expanded", String(i === expanded));
  if (flag.disabled !== frozen()) flag.disabled = unsure.disabled = frozen();
  edit.classList.toggle("has", Boolean(label.rationale || label.correction || label.error_type));
  const badges = [];
  if (first === i) badges.push(["first error", "b-error"]);
  if (label.flagged) badges.push(["flagged", "b-flag"]);
  if (label.unsure) badges.push(["unsure", "b-unsure"]);
  if (label.error_type) badges.push([label.error_type, "b-type"]);
  if (i !== expanded) {
    if (label.rationale) badges.push([`Rationale: ${label.rationale.slice(0, 140)}${label.rationale.length > 140 ? "…" : ""}`, "b-text"]);
    if (label.correction) badges.push([`Correction: ${label.correction.slice(0, 140)}${label.correction.length > 140 ? "…" : ""}`, "b-text"]);
  }
  const meta = el.querySelector(".step-meta");
  const signature = JSON.stringify(badges);
  if (meta.dataset.badges === signature) return;
  meta.dataset.badges = signature;
  meta.replaceChildren();
  for (const [text, cls] of badges) {
    const span = document.createElement("span");
    span.className = `badge ${cls}`;
    span.textContent = text; // text, never markup: rationales and error types are the annotator's input
    meta.appendChild(span);
  }
  meta.hidden = !meta.firstChild;
}

// Rows and the summary are repainted in a microtask, after the key's handler: its focus() and scroll
// then find the page's style and layout clean (a write before them forced a style recalculation of
// the row's subtree, then the frame did it again), and the frame does each once.
const dirtyRows = new Set();
let summaryDirty = false;
let saveShown = null; // [text, kind, state] of the save state, to be written
let flushQueued = false;
function flushSoon() {
  if (flushQueued) return;
  flushQueued = true;
  queueMicrotask(flushPaint);
}
function flushPaint() {
  flushQueued = false;
  for (const i of dirtyRows) {
    const el = rows.get(i);
    if (el) paintRow(el, i);
  }
  dirtyRows.clear();
  if (summaryDirty) { summaryDirty = false; writeSummary(); }
  if (saveShown) {
    const [text, kind, state] = saveShown;
    saveShown = null;
    setText(saveState, text);
    if (saveState.dataset.kind !== kind) saveState.dataset.kind = kind;
    if (root.dataset.save !== state) root.dataset.save = state;
  }
  if (announcing !== null) {
    const message = announcing;
    announcing = null;
    live.textContent = "";
    requestAnimationFrame(() => { live.textContent = message; });
  }
}

function repaint(i) {
  dirtyRows.add(i);
  flushSoon();
}

function repaintAll() {
  for (const i of rows.keys()) dirtyRows.add(i);
  flushSoon();
}

// --- the editor of one step: rationale, correction, error type ---------------------------------------
function buildEditor(i) {
  const label = labels.get(i);
  const box = document.createElement("div");
  box.className = "step-editor";
  const field = (name, title, key, control) => {
    const wrap = document.createElement("label");
    wrap.className = `ed-${name}`;
    const head = document.createElement("span");
    head.className = "ed-title";
    head.textContent = title;
    const kbd = document.createElement("kbd");
    kbd.textContent = key;
    head.append(" ", kbd);
    control.dataset.field = name;
    control.dataset.index = String(i);
    wrap.append(head, control);
    box.appendChild(wrap);
    return control;
  };
  const rationale = document.createElement("textarea");
  rationale.rows = 2;
  rationale.maxLength = 20000;
  rationale.placeholder = "Why this rating? (saved as you type)";
  rationale.value = label.rationale;
  field("rationale", "Rationale", "r", rationale);
  const correction = document.createElement("textarea");
  correction.rows = 3;
  correction.maxLength = 20000;
  correction.placeholder = "A corrected version of this step";
  correction.value = label.correction;
  field("correction", "Corrected step", "c", correction);
  if (!label.correction) {
    const copy = document.createElement("button");
    copy.type = "button";
    copy.className = "link small";
    copy.dataset.act = "copy-step";
    copy.textContent = "Start from the step's text";
    box.querySelector(".ed-correction").appendChild(copy);
  }
  const select = document.createElement("select");
  const none = document.createElement("option");
  none.value = "";
  none.textContent = "— none —";
  select.appendChild(none);
  for (const type of schema.error_types || []) {
    const option = document.createElement("option");
    option.value = type;
    option.textContent = type;
    select.appendChild(option);
  }
  select.value = label.error_type;
  field("error_type", "Error type", "e", select);
  const note = document.createElement("p");
  note.className = "muted small";
  note.textContent = "Esc goes back to the steps. Saved as you type.";
  box.appendChild(note);
  if (frozen()) box.querySelectorAll("textarea, select, button").forEach((c) => { c.disabled = true; });
  return box;
}

function openEditor(i, fieldName) {
  if (expanded !== -1 && expanded !== i) closeEditor(false);
  expanded = i;
  ensureVisible(i);
  renderWindow();
  const el = rows.get(i);
  if (!el) return;
  if (!el.querySelector(".step-editor")) el.querySelector(".step-body").appendChild(buildEditor(i));
  paintRow(el, i);
  const control = el.querySelector(`[data-field="${fieldName}"]`);
  if (control) control.focus({ preventScroll: true });
  ensureVisible(i);
}

function closeEditor(refocus = true) {
  const i = expanded;
  if (i === -1) return;
  expanded = -1;
  const el = rows.get(i);
  if (el) {
    const box = el.querySelector(".step-editor");
    if (box) box.remove();
    paintRow(el, i);
  }
  if (refocus) focusStep(current);
}

// --- moving -----------------------------------------------------------------------------------------
const MARGIN = 48;
function ensureVisible(i) {
  const top = heights.offset(i);
  const bottom = top + heights.get(i);
  const view = viewHeight;
  if (top < viewport.scrollTop + MARGIN) viewport.scrollTop = Math.max(0, top - MARGIN);
  else if (bottom > viewport.scrollTop + view - MARGIN) {
    viewport.scrollTop = heights.get(i) > view - 2 * MARGIN ? top - MARGIN : bottom - view + MARGIN;
  }
}

const position = $("ws-position");
function focusStep(i, { scroll = true, focus = true } = {}) {
  const next = Math.max(0, Math.min(n - 1, i));
  const prev = current;
  current = next;
  // Scroll and focus before any write of this key (the rows' repaint waits for the microtask), so
  // neither forces a style recalculation or a layout.
  if (scroll) ensureVisible(next);
  renderWindow();
  const el = rows.get(next);
  const typing = document.activeElement && document.activeElement.closest("input, textarea, select, dialog");
  if (el && focus && !typing) el.focus({ preventScroll: true });
  repaint(prev);
  repaint(next);
  setText(position, `Step ${next + 1} of ${n}`);
  drawRailSoon();
  host.emit("focus", { index: next, key: keyOf(next) });
}

// --- changing labels --------------------------------------------------------------------------------
function change(i, patch, { kind = "rating", record = true } = {}) {
  if (closed) {
    say(status === "submitted" ? "This chain is submitted. Reopen it (button on the right) to change it."
      : "This chain is closed; it can no longer be changed.", "warn");
    return false;
  }
  if (held) {
    say("Submitting: the labels stay as they were sent until the server answers.", "warn");
    return false;
  }
  const firstBefore = labels.firstError();
  const before = labels.apply(i, patch);
  if (record) undo.push({ i, patch: before });
  if (undo.length > 500) undo.shift();
  saver.change(i, patch, kind);
  if (labels.firstError() !== firstBefore) { repaintAll(); railChanged(); } else { repaint(i); railChanged(i); }
  updateSummary();
  host.emit("label", { index: i, key: keyOf(i), fields: { ...patch } });
  return true;
}

function rate(i, value, advance) {
  if (labels.closedAt(i, mode)) {
    const first = labels.firstError();
    say(`Labelling ended at step ${first + 1}, the first error. Change that step's rating to go on.`, "warn");
    return;
  }
  const previous = labels.ratingOf(i);
  if (previous !== value) {
    if (!change(i, { rating: value })) return;
    const level = levelByValue.get(value);
    announce(value === null ? `Step ${i + 1}: rating cleared` : `Step ${i + 1} rated ${level.name} ${shown(value)}`);
  }
  // −1 keeps the focus (time for a rationale, an error type); in first-error mode it ends labelling.
  if (advance && value !== null && value !== lowest && i === current && i < n - 1) focusStep(i + 1);
}

function toggle(i, field) {
  const value = !labels.get(i)[field];
  if (change(i, { [field]: value })) announce(`Step ${i + 1} ${value ? "" : "no longer "}${field === "flagged" ? "flagged" : "marked unsure"}`);
}

function undoLast() {
  const last = undo.pop();
  if (!last) { say("Nothing to undo."); return; }
  change(last.i, last.patch, { record: false });
  focusStep(last.i);
  announce(`Undone on step ${last.i + 1}`);
}

function textChanged(control) {
  const i = Number(control.dataset.index);
  const field = control.dataset.field;
  let value = control.value;
  if (field === "correction" && value === texts[i]) value = ""; // the step's text unchanged is no correction
  change(i, { [field]: value }, { kind: field === "error_type" ? "rating" : "text", record: field === "error_type" });
}

// --- summary, finish --------------------------------------------------------------------------------
const ratedBar = $("rated-bar");
const ratedCount = $("rated-count");
const suggestionEl = $("finish-suggestion");
// A text written only when it differs: the summary is updated on every key.
function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}
function updateSummary() {
  summaryDirty = true;
  flushSoon();
}
function writeSummary() {
  const first = labels.firstError();
  const reachable = mode === "first_error" && first !== -1 ? first + 1 : n;
  let ratedReachable = labels.rated;
  if (reachable !== n) {
    ratedReachable = 0;
    for (let i = 0; i < reachable; i += 1) if (labels.ratingOf(i) !== null) ratedReachable += 1;
  }
  const fill = `scaleX(${ratedReachable / Math.max(1, reachable)})`;
  if (ratedBar.style.transform !== fill) ratedBar.style.transform = fill;
  setText(ratedCount, `${labels.rated} of ${n} steps rated` + (first !== -1 ? ` · first error: step ${first + 1}` : ""));
  const suggestion = labels.suggestion(mode);
  if (closed || !suggestion) {
    setText(suggestionEl, "");
  } else {
    const name = (data.finishReasons.find(([value]) => value === suggestion) || [suggestion, suggestion])[1];
    setText(suggestionEl, `Suggested from your ratings: “${name}”${suggestion === "found_error" ? ` (step ${first + 1})` : ""}. Choose it yourself below.`);
  }
  const firstError = first === -1 ? "" : String(first);
  if (root.dataset.firstError !== firstError) root.dataset.firstError = firstError;
}

// --- rail (minimap) ---------------------------------------------------------------------------------
const rail = $("ws-rail");
const railCtx = rail.getContext("2d");
const MARK_STYLES = ["#7a5af8", "#0ba5ec", "#f79009", "#ee46bc", "#16b364", "#667085"];
const markStyle = new Map();
let railQueued = false;
function drawRailSoon() {
  if (railQueued) return;
  railQueued = true;
  requestAnimationFrame(() => { railQueued = false; drawRail(); });
}
// The rail's size, kept by an observer (a read of clientHeight in a frame callback after the key's
// writes would force a layout there).
let railW = rail.clientWidth;
let railH = rail.clientHeight;
new ResizeObserver(() => { railW = rail.clientWidth; railH = rail.clientHeight; railFull = true; drawRailSoon(); }).observe(rail);

// The labels' layer of the rail is kept in a canvas of its own and redrawn only where steps changed
// (one pixel row per changed step; the whole layer when the first error moved, the size changed or
// labels were restored); each frame copies it and draws the overlays (first-error veil, the viewport,
// the current step, extensions' marks, search matches) over it.
const railBase = document.createElement("canvas");
const baseCtx = railBase.getContext("2d");
let railFull = true;
const railSteps = new Set();
let railRows = null; // per pixel row: the worst rating, any unrated step, any flagged step
function railChanged(i) {
  if (i === undefined) railFull = true; else railSteps.add(i);
  drawRailSoon();
}
function railPixelRow(y, pixelRows) {
  // The steps i with floor(i * pixelRows / n) === y.
  const from = Math.ceil((y * n) / pixelRows);
  const to = Math.min(n, Math.ceil(((y + 1) * n) / pixelRows));
  let worst = -999;
  let unrated = 0;
  let flagged = 0;
  for (let i = from; i < to; i += 1) {
    const r = labels.ratingOf(i);
    if (r === null) { if (!labels.closedAt(i, mode)) unrated = 1; } else if (worst === -999 || r < worst) worst = r;
    if (labels.bits[i] & 1) flagged = 1;
  }
  railRows.worst[y] = worst;
  railRows.unrated[y] = unrated;
  railRows.flagged[y] = flagged;
}
function paintRailRow(ctx, y, w, h) {
  // One pixel row covers n / h steps: show the most telling state among them (error > neutral-ish >
  // unrated > good), so a single −1 among a thousand steps still shows.
  const bandW = w - 6;
  const worst = railRows.worst[y];
  if (worst !== -999) {
    ctx.fillStyle = levelByValue.get(worst)?.color || "#98a2b3";
    ctx.fillRect(0, y, bandW, Math.max(1, h / n));
  } else if (railRows.unrated[y]) {
    ctx.fillStyle = "#d0d5dd";
    ctx.fillRect(0, y, bandW, Math.max(1, h / n));
  }
  if (railRows.flagged[y]) { ctx.fillStyle = "#f79009"; ctx.fillRect(bandW, y, 6, Math.max(2, h / n)); }
}
function drawRailBase(ratio, w, h) {
  const pixelRows = Math.max(1, Math.floor(h));
  const ctx = baseCtx;
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  // Row by row only when a pixel row holds whole steps (n >= rows): then every mark is one row high
  // (a flag two, so the row above's flag is drawn again).
  if (!railFull && railRows && railRows.worst.length === pixelRows && n >= pixelRows) {
    const redo = new Set();
    for (const i of railSteps) redo.add(Math.floor((i * pixelRows) / n));
    for (const y of redo) {
      railPixelRow(y, pixelRows);
      ctx.fillStyle = "#eaecf0";
      ctx.fillRect(0, y, w, 1);
      paintRailRow(ctx, y, w, h);
      if (y > 0 && railRows.flagged[y - 1]) paintRailRow(ctx, y - 1, w, h);
    }
    railSteps.clear();
    return;
  }
  railFull = false;
  railSteps.clear();
  railRows = { worst: new Int16Array(pixelRows), unrated: new Uint8Array(pixelRows), flagged: new Uint8Array(pixelRows) };
  ctx.clearRect(0, 0, w, h);
  ctx.fillStyle = "#eaecf0";
  ctx.fillRect(0, 0, w, h);
  for (let y = 0; y < pixelRows; y += 1) {
    railPixelRow(y, pixelRows);
    paintRailRow(ctx, y, w, h);
  }
}
function drawRail() {
  const top0 = viewport.scrollTop; // read first: nothing below writes to the DOM
  const ratio = window.devicePixelRatio || 1;
  const w = railW;
  const h = railH;
  if (!w || !h) return;
  if (rail.width !== Math.round(w * ratio) || rail.height !== Math.round(h * ratio)) {
    rail.width = railBase.width = Math.round(w * ratio);
    rail.height = railBase.height = Math.round(h * ratio);
    railFull = true;
  }
  drawRailBase(ratio, w, h);
  const ctx = railCtx;
  ctx.setTransform(1, 0, 0, 1, 0, 0);
  ctx.drawImage(railBase, 0, 0);
  ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
  const first = labels.firstError();
  const bandW = w - 6;
  if (mode === "first_error" && first !== -1) {
    const y = ((first + 1) * h) / n;
    ctx.fillStyle = "rgba(246,247,249,0.75)";
    ctx.fillRect(0, y, w, h - y);
    ctx.fillStyle = "#b42318";
    ctx.fillRect(0, Math.max(0, (first * h) / n - 1), w, 3);
  }
  // The viewport's window and the current step.
  const total = heights.total() || 1;
  const top = (top0 / total) * h;
  const span = Math.max(4, (viewHeight / total) * h);
  ctx.strokeStyle = "#1d2330";
  ctx.lineWidth = 1;
  ctx.strokeRect(0.5, top + 0.5, w - 1, span - 1);
  ctx.fillStyle = "#1d2330";
  ctx.fillRect(0, Math.floor((current * h) / n), w, 2);
  // Extensions' marks last, over everything: a critique on a step must show wherever it is.
  let k = 0;
  for (const [kind, set] of railMarks) {
    if (!markStyle.has(kind)) markStyle.set(kind, MARK_STYLES[markStyle.size % MARK_STYLES.length]);
    ctx.fillStyle = markStyle.get(kind);
    const x = k % 2 === 0 ? 0 : Math.floor(bandW / 2);
    for (const i of set) ctx.fillRect(x, Math.floor((i * h) / n), Math.ceil(bandW / 2), 3);
    k += 1;
  }
  for (const i of matches.length < 2000 ? matches : []) {
    ctx.fillStyle = "#1f6feb";
    ctx.fillRect(bandW - 4, Math.floor((i * h) / n), 4, 2);
  }
}

function railJump(event) {
  const box = rail.getBoundingClientRect();
  const i = Math.floor(((event.clientY - box.top) / box.height) * n);
  focusStep(Math.max(0, Math.min(n - 1, i)));
}
rail.addEventListener("pointerdown", (event) => {
  railJump(event);
  rail.setPointerCapture(event.pointerId);
  const move = (e) => railJump(e);
  rail.addEventListener("pointermove", move);
  rail.addEventListener("pointerup", () => rail.removeEventListener("pointermove", move), { once: true });
});

// --- notes from extensions --------------------------------------------------------------------------
function renderNotes(el, i) {
  const box = el.querySelector(".step-notes");
  box.replaceChildren();
  const list = notes.get(keyOf(i)) || [];
  box.hidden = list.length === 0;
  for (const note of list) {
    const item = document.createElement("div");
    item.className = `note tone-${note.tone}`;
    item.dataset.note = note.id;
    const title = document.createElement("strong");
    title.textContent = note.title; // untrusted: text, never HTML
    const body = document.createElement("span");
    body.className = "note-text";
    body.textContent = note.text;
    item.append(title, " ", body);
    if (note.actions.length) {
      const actions = document.createElement("span");
      actions.className = "note-actions";
      actions.setAttribute("role", "group");
      actions.setAttribute("aria-label", `Respond to: ${note.title}`);
      for (const action of note.actions) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "link small";
        button.dataset.act = "note";
        button.dataset.note = note.id;
        button.dataset.action = action.id;
        button.textContent = action.label;
        actions.appendChild(button);
      }
      item.appendChild(actions);
    }
    box.appendChild(item);
  }
}

function setStepNotes(stepKey, cleaned, source) {
  const i = indexOfKey(stepKey);
  if (i === -1) throw new RangeError(`no step with key ${stepKey} in this chain`);
  const others = (notes.get(stepKey) || []).filter((note) => note.source !== source);
  const next = [...others, ...cleaned.map((note) => ({ ...note, source }))];
  if (next.length) notes.set(stepKey, next); else notes.delete(stepKey);
  const el = rows.get(i);
  if (el) { renderNotes(el, i); paintRow(el, i); }
  if (i === current && cleaned.length) announce(`${cleaned.length} note${cleaned.length > 1 ? "s" : ""} on step ${i + 1}: ${cleaned[0].title}`);
}

// --- side panels and extension status -------------------------------------------------------------
const panels = $("ws-panels");
const panelById = new Map();
function sidePanel(id, title) {
  if (panelById.has(id)) return panelById.get(id);
  const details = document.createElement("details");
  details.className = "card ext-panel";
  details.open = true;
  details.dataset.panel = id;
  const summary = document.createElement("summary");
  summary.textContent = title;
  const body = document.createElement("div");
  body.className = "ext-body";
  details.append(summary, body);
  panels.appendChild(details);
  panelById.set(id, body);
  return body;
}
const extStatus = $("ws-ext-status");
const statusLines = new Map();
function extensionStatus(name, message, kind) {
  let line = statusLines.get(name);
  if (!line) {
    line = document.createElement("span");
    line.className = "ext-status";
    extStatus.appendChild(line);
    statusLines.set(name, line);
  }
  line.textContent = message ? `${name}: ${message}` : "";
  line.dataset.kind = kind;
  extStatus.hidden = ![...statusLines.values()].some((l) => l.textContent);
}

// --- saving -----------------------------------------------------------------------------------------
let activeSeconds = data.assignment.activeSeconds || 0;
const saveState = $("save-state");
const conflictBox = $("ws-conflict");
const STATE_TEXT = {
  saved: () => "All changes saved",
  pending: () => "Saving…",
  saving: () => "Saving…",
  offline: (count) => `Not saved yet: can't reach the server. ${count} change${count === 1 ? " is" : "s are"} kept in this browser; retrying`,
  auth: () => "Not saved: you seem to be logged out. Log in again in another tab; your changes are kept here",
  conflict: () => "Not saved: changed in another tab or window",
  closed: () => "This chain is closed",
  rejected: (count, detail) => `Not saved: ${detail}`,
};
const saver = new Saver({
  url: data.urls.labels, csrf, version: data.assignment.version, storageKey, storage: window.localStorage,
  fetch: (...args) => window.fetch(...args), activeSeconds: () => (closed ? null : activeSeconds),
  onState(state, detail, count) {
    // Written with the rows' repaint, after the key's handler (a write here, before the handler's
    // scroll, forced a layout of the page).
    saveShown = [STATE_TEXT[state](count, detail),
      state === "saved" ? "ok" : state === "pending" || state === "saving" ? "busy" : "error", state];
    flushSoon();
    if (state === "conflict") showConflict();
    if (state === "closed") { closed = true; repaintAll(); say(detail || "This chain was closed elsewhere.", "warn"); }
  },
});

function showConflict() {
  conflictBox.hidden = false;
  const count = saver.pending.size;
  conflictBox.querySelector(".conflict-count").textContent =
    count ? `Your last ${count === 1 ? "change" : `${count} changes`} on this page ${count === 1 ? "is" : "are"} kept in this browser and offered again after the reload.` : "";
  conflictBox.querySelector("button").focus();
}
conflictBox.querySelector("button").addEventListener("click", () => window.location.reload());

window.addEventListener("beforeunload", (event) => {
  // Only when something would be lost: a conflict's changes are kept in this browser already.
  if (!closed && (submitting || (saver.dirty() && saver.stopped !== "conflict"))) {
    event.preventDefault();
    event.returnValue = "";
  }
});
window.addEventListener("online", () => saver.retryNow());
document.addEventListener("visibilitychange", () => { if (document.visibilityState === "visible") saver.retryNow(); });

// Active time: seconds with the tab visible and an input in the last minute.
let lastInput = performance.now();
const activeEl = $("active-time");
const clock = (s) => `${Math.floor(s / 3600)}:${String(Math.floor(s / 60) % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}`;
function showActive() { activeEl.textContent = clock(activeSeconds); }
for (const type of ["pointerdown", "wheel", "keydown", "input"]) {
  document.addEventListener(type, () => { lastInput = performance.now(); }, { passive: true, capture: true });
}
setInterval(() => {
  if (!closed && document.visibilityState === "visible" && performance.now() - lastInput < 60000) {
    activeSeconds += 1;
    showActive();
  }
}, 1000);
// Not while a submit is in flight: a save then would move the version the submit was sent with.
setInterval(() => { if (!submitting) saver.heartbeat(); }, 30000);

// --- restoring what a previous page left (reload, crash, conflict) ---------------------------------
const restoreBox = $("ws-restore");
const offeredKey = `${baseKey}:offered`;
function restore(entry = saver.readStored(), own = true) {
  if (closed) {
    saver.clearStored();
    localStorage.removeItem(offeredKey);
    return;
  }
  if (entry) {
    activeSeconds = Math.max(activeSeconds, entry.activeSeconds || 0);
    const patches = new Map(entry.pending || []);
    if (entry.inflight) {
      for (const { step, ...patch } of entry.inflight.labels) patches.set(step, { ...patch, ...(patches.get(step) || {}) });
    }
    // Its batch in flight reached the server (version + 1) or not (same version); anything else means
    // another page saved since, and the batch would only meet a conflict.
    const fresh = entry.inflight ? [saver.version, saver.version - 1].includes(entry.inflight.version)
      : entry.version === saver.version;
    if (!entry.conflict && fresh && (own || !saver.dirty())) {
      // A reload or a crash of this page: its saves go on where they stopped (a batch that may have
      // reached the server is sent again with its own key, and answered `replayed` if it did).
      for (const [index, patch] of patches) if (index < n) labels.apply(index, patch);
      saver.adopt(entry);
      if (!own) { repaintAll(); updateSummary(); railChanged(); say(`Unsaved changes to ${patches.size} step${patches.size === 1 ? "" : "s"} from a closed tab were restored; saving.`); }
    } else {
      // Another page saved since: these are offered, not applied unasked. Kept under their own key
      // until the annotator decides, so a further reload still offers them.
      let offered = new Map();
      try { offered = new Map(JSON.parse(localStorage.getItem(offeredKey) || "[]")); } catch { /* unreadable: replaced */ }
      for (const [index, patch] of patches) offered.set(index, { ...(offered.get(index) || {}), ...patch });
      try { localStorage.setItem(offeredKey, JSON.stringify([...offered])); } catch { /* storage full */ }
      if (own) saver.clearStored();
    }
  }
  let offered = null;
  try { offered = JSON.parse(localStorage.getItem(offeredKey) || "null"); } catch { offered = null; }
  if (!offered || !offered.length) return;
  const patches = new Map(offered);
  restoreBox.hidden = false;
  const steps = [...patches.keys()].slice(0, 8).map((i) => i + 1).join(", ") + (patches.size > 8 ? " …" : "");
  restoreBox.querySelector(".restore-count").textContent = `Changes to ${patches.size} step${patches.size === 1 ? "" : "s"} `
    + `(${steps}) made on an earlier page of this chain were not saved, because another tab or window saved first.`;
  restoreBox.querySelector("[data-act=apply]").onclick = () => {
    for (const [index, patch] of patches) if (index < n) change(index, patch);
    localStorage.removeItem(offeredKey);
    restoreBox.hidden = true;
    say(`${patches.size} earlier change${patches.size === 1 ? "" : "s"} applied; saving.`);
    focusStep(current);
  };
  restoreBox.querySelector("[data-act=discard]").onclick = () => {
    localStorage.removeItem(offeredKey);
    restoreBox.hidden = true;
    say("Earlier changes discarded.");
    focusStep(current);
  };
}

// Tabs of this chain answer each other: a stored copy whose tab does not answer within a moment
// belongs to a tab that was closed or crashed, and is taken over.
const channel = typeof BroadcastChannel === "function" ? new BroadcastChannel(baseKey) : null;
const alive = new Set();
if (channel) {
  channel.onmessage = (event) => {
    const msg = event.data || {};
    if (msg.type === "ping" && msg.from !== tabId) channel.postMessage({ type: "pong", from: tabId });
    if (msg.type === "pong") alive.add(msg.from);
  };
}
function restoreOrphans() {
  if (closed) return;
  const prefix = `${baseKey}:tab:`;
  const found = [];
  for (let k = 0; k < localStorage.length; k += 1) {
    const name = localStorage.key(k);
    if (name && name.startsWith(prefix) && name !== storageKey) found.push(name);
  }
  if (!found.length) return;
  if (channel) channel.postMessage({ type: "ping", from: tabId });
  setTimeout(() => {
    for (const name of found) {
      if (alive.has(name.slice(prefix.length))) continue;
      let entry = null;
      try { entry = JSON.parse(localStorage.getItem(name) || "null"); } catch { entry = null; }
      localStorage.removeItem(name);
      if (entry) restore(entry, false);
    }
  }, channel ? 300 : 0);
}

// --- finish: submit, skip, reopen, next -----------------------------------------------------------
const finishBox = $("finish");
const doneBox = $("done");
const submitError = $("submit-error");
const comment = $("comment");
const finishInputs = () => Array.from(document.querySelectorAll("input[name=finish_reason]"));
comment.value = localStorage.getItem(commentKey) || data.assignment.comment || "";
comment.addEventListener("input", () => {
  try { localStorage.setItem(commentKey, comment.value); } catch { /* storage full */ }
});

async function post(url, body) {
  const response = await fetch(url, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrf }, body: JSON.stringify(body || {}),
  });
  let payload = {};
  try { payload = await response.json(); } catch { payload = {}; }
  return { ok: response.ok, status: response.status, payload };
}

function message(payload, fallback) {
  if (payload && typeof payload.detail === "string") return payload.detail;
  if (payload && typeof payload === "object") {
    const first = Object.values(payload)[0];
    if (Array.isArray(first) && typeof first[0] === "string") return first[0];
  }
  return fallback;
}

// A submit (and a skip) goes on until the server answers it. A network error (the server crashed or
// restarts) or a server error (a proxy's 502, a 503 while the database is away) is retried with backoff, the
// same request each time: the server answers a submit or skip it already stored as done, so one whose reply
// was lost lands once. Meanwhile the labels and the comment are held as sent and the page says it is retrying.
const FINISH_BACKOFF_MS = [1000, 2000, 4000, 8000, 15000];
const RETRIED_STATUSES = new Set([401, 403, 408, 429]); // logged out (log in in another tab), throttled

function hold(on) {
  held = on;
  root.dataset.submitting = on ? "1" : "";
  comment.readOnly = on;
  for (const input of finishInputs()) input.disabled = on;
  for (const control of document.querySelectorAll(".step-editor textarea, .step-editor select, .step-editor button")) {
    control.disabled = frozen();
  }
  repaintAll();
}

/** POST until the server answers: a network error, a 5xx or a 401/403/408/429 is retried with backoff, the
 * same body each time, `onRetry` told why; any other answer is returned. For requests the server answers as
 * done when they are repeated (submit, skip). */
async function postUntilAnswered(url, body, onRetry) {
  for (let attempt = 0; ; attempt += 1) {
    let res = null;
    try { res = await post(url, body); } catch { res = null; }
    if (res && (res.ok || (res.status < 500 && !RETRIED_STATUSES.has(res.status)))) return res;
    const wait = FINISH_BACKOFF_MS[Math.min(attempt, FINISH_BACKOFF_MS.length - 1)];
    const why = !res ? "can't reach the server" : res.status === 401 || res.status === 403
      ? "you seem to be logged out; log in again in another tab" : `the server answered ${res.status}`;
    onRetry(`${why}. Nothing is lost; retrying in ${Math.round(wait / 1000)} s.`);
    await pause(wait);
  }
}

function pause(ms) {
  return new Promise((resolve) => {
    const done = () => { clearTimeout(timer); window.removeEventListener("online", done); resolve(); };
    const timer = setTimeout(done, ms);
    window.addEventListener("online", done); // the browser says the network is back: try now
  });
}

async function submit() {
  if (closed || submitting) return;
  submitError.textContent = "";
  const chosen = finishInputs().find((input) => input.checked);
  if (!chosen) {
    submitError.textContent = "Choose how the chain ended (arrow keys, then Ctrl+Enter again).";
    const suggestion = labels.suggestion(mode);
    const target = finishInputs().find((input) => input.value === suggestion) || finishInputs()[0];
    target.focus(); // focused, not chosen: the annotator picks it
    return;
  }
  if (chosen.value === "give_up" && !comment.value.trim()) {
    submitError.textContent = "Say in the comment why you gave up; it helps whoever looks at this chain next.";
    comment.focus();
    return;
  }
  submitting = true;
  const button = $("submit");
  button.disabled = true;
  hold(true);
  root.dataset.submit = "saving";
  try {
    if (saver.dirty()) submitError.textContent = "Submitting once your last changes are saved…";
    const outcome = await saver.idle(); // the saver retries its saves itself, however long the server is away
    if (outcome === "conflict") return;
    const body = {
      version: saver.version, finish_reason: chosen.value, comment: comment.value,
      active_seconds: activeSeconds, save_key: saver.lastKey, labels: [],
    };
    root.dataset.submit = "sending";
    const res = await postUntilAnswered(data.urls.submit, body, (why) => {
      submitError.textContent = `Not submitted yet: ${why}`;
      root.dataset.submit = "retrying";
    });
    if (res.ok) {
      hold(false);
      closed = true;
      status = "submitted";
      saver.clearStored();
      localStorage.removeItem(commentKey);
      submitError.textContent = "";
      root.dataset.submit = "done";
      showClosed();
      announce("Submitted. Press n for the next chain.");
      return;
    }
    if (res.status === 409 && res.payload.field === "version") {
      saver.stopped = "conflict";
      saver.setState("conflict");
      return;
    }
    submitError.textContent = message(res.payload, `The chain could not be submitted (error ${res.status}).`);
  } finally {
    submitting = false;
    button.disabled = false;
    if (!closed) { hold(false); root.dataset.submit = ""; }
  }
}

const skipDialog = $("skip-dialog");
function openSkip() {
  if (closed) return;
  skipDialog.showModal();
  skipDialog.querySelector("input[name=skip_reason]").focus();
}
skipDialog.addEventListener("close", () => focusStep(current));
$("skip-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const picked = skipDialog.querySelector("input[name=skip_reason]:checked");
  const detail = $("skip-detail").value.trim();
  const reason = [picked ? picked.value : "", detail].filter(Boolean).join(": ");
  const error = $("skip-error");
  if (!reason) { error.textContent = "Choose or write a reason for skipping."; return; }
  error.textContent = "";
  await saver.idle();
  const res = await postUntilAnswered(data.urls.skip, { reason }, (why) => { error.textContent = `Not skipped yet: ${why}`; });
  if (!res.ok) { error.textContent = message(res.payload, `Could not skip (error ${res.status}).`); return; }
  error.textContent = "";
  closed = true;
  status = "skipped";
  saver.clearStored();
  skipDialog.close();
  showClosed();
  announce("Skipped. Press n for the next chain.");
});
$("skip-cancel").addEventListener("click", () => skipDialog.close());

async function reopen() {
  const res = await post(data.urls.reopen, {});
  if (!res.ok) { say(message(res.payload, "Could not reopen this chain."), "warn"); return; }
  const previous = res.payload.reopened_from || {};
  if (previous.comment) localStorage.setItem(commentKey, previous.comment);
  window.location.reload();
}

function nextChain() { $("next-form").requestSubmit(); }

function showClosed() {
  finishBox.hidden = true;
  doneBox.hidden = false;
  doneBox.querySelector(".done-text").textContent = status === "submitted" ? "Submitted. Thank you."
    : status === "skipped" ? "Skipped." : "This chain is closed.";
  const reopenButton = $("reopen");
  reopenButton.hidden = !(status === "submitted" && schema.allow_reopen !== false);
  saveShown = null; // the outcome replaces any save state still to be written
  saveState.textContent = status === "submitted" ? "Submitted" : status === "skipped" ? "Skipped" : "Closed";
  saveState.dataset.kind = "ok";
  repaintAll();
  $("next-chain").focus();
}
$("reopen").addEventListener("click", reopen);
$("submit").addEventListener("click", submit);

// --- search, go to, help --------------------------------------------------------------------------
const searchBar = $("ws-search");
const searchInput = $("ws-search-input");
const searchCount = $("ws-search-count");
function openSearch() {
  searchBar.hidden = false;
  searchInput.focus();
  searchInput.select();
}
function closeSearch() {
  searchInput.blur(); // before the focus moves back to the steps (focusStep leaves a focused input alone)
  searchBar.hidden = true;
  matches = [];
  matchSet = new Set();
  repaintAll();
  drawRailSoon();
  focusStep(current);
}
let searchTimer = null;
searchInput.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(runSearch, 120);
});
let searchWaits = false;
function runSearch() {
  if (!textsLoaded) {
    searchCount.textContent = "loading the chain's steps…";
    if (!searchWaits) { searchWaits = true; loadTexts().then(() => { searchWaits = false; runSearch(); }); }
    return;
  }
  if (!lowerTexts) lowerTexts = texts.map((t) => t.toLocaleLowerCase());
  matches = search(lowerTexts, searchInput.value.toLocaleLowerCase());
  matchSet = new Set(matches);
  matchAt = -1;
  repaintAll();
  drawRailSoon();
  if (!searchInput.value.trim()) { searchCount.textContent = ""; return; }
  if (!matches.length) { searchCount.textContent = "no step contains it"; return; }
  gotoMatch(1);
}
function gotoMatch(dir) {
  if (!matches.length) return;
  if (matchAt === -1) {
    // From the current step on.
    const from = matches.findIndex((i) => (dir > 0 ? i >= current : i <= current));
    matchAt = from === -1 ? (dir > 0 ? 0 : matches.length - 1) : from;
  } else {
    matchAt = (matchAt + dir + matches.length) % matches.length;
  }
  searchCount.textContent = `${matchAt + 1} of ${matches.length}${matches.length === 5000 ? "+" : ""} steps`;
  focusStep(matches[matchAt], { focus: false });
  announce(`Step ${matches[matchAt] + 1}, match ${matchAt + 1} of ${matches.length}`);
}
searchInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter") { event.preventDefault(); if (matchAt === -1 && !matches.length) runSearch(); else gotoMatch(event.shiftKey ? -1 : 1); }
  if (event.key === "Escape") { event.preventDefault(); event.stopPropagation(); closeSearch(); }
});
$("ws-search-close").addEventListener("click", closeSearch);

const gotoDialog = $("goto-dialog");
const gotoInput = $("goto-input");
function openGoto() {
  gotoInput.max = String(n);
  gotoInput.value = "";
  gotoDialog.showModal();
  gotoInput.focus();
}
$("goto-form").addEventListener("submit", (event) => {
  event.preventDefault();
  const number = Number(gotoInput.value);
  if (!Number.isInteger(number) || number < 1 || number > n) {
    $("goto-error").textContent = `Type a step number from 1 to ${n}.`;
    return;
  }
  gotoDialog.close();
  focusStep(number - 1);
});
gotoDialog.addEventListener("close", () => { $("goto-error").textContent = ""; focusStep(current); });

const help = $("help");
function toggleHelp() {
  help.hidden = !help.hidden;
  $("help-toggle").setAttribute("aria-expanded", String(!help.hidden));
}
$("help-toggle").addEventListener("click", toggleHelp);
$("ws-next-unrated").addEventListener("click", () => nextUnrated(1));
$("ws-open-search").addEventListener("click", openSearch);
$("ws-open-goto").addEventListener("click", openGoto);
$("ws-open-skip").addEventListener("click", openSkip);

function nextUnrated(dir) {
  const i = labels.nextUnrated(current, dir, mode);
  if (i === -1) { say(mode === "first_error" && labels.firstError() !== -1 ? "Every step up to the first error is rated." : "Every step is rated."); return; }
  focusStep(i);
}

// --- clicks (one listener for every row) -----------------------------------------------------------
list.addEventListener("click", (event) => {
  const row = event.target.closest(".step");
  if (!row) return;
  const i = Number(row.dataset.index);
  const button = event.target.closest("button");
  if (i !== current) focusStep(i, { scroll: false, focus: !button });
  if (!button) return;
  const act = button.dataset.act;
  if (act === "rate") rate(i, Number(button.dataset.value), false);
  else if (act === "flag") toggle(i, "flagged");
  else if (act === "unsure") toggle(i, "unsure");
  else if (act === "edit") { if (expanded === i) closeEditor(); else openEditor(i, "rationale"); }
  else if (act === "copy-step") {
    const area = row.querySelector("textarea[data-field=correction]");
    if (texts[i] === null) { say("This step's text is still loading; try again in a moment."); return; }
    area.value = texts[i];
    area.focus();
    button.remove();
  } else if (act === "note") {
    host.emit("noteAction", { noteId: button.dataset.note, actionId: button.dataset.action, stepKey: keyOf(i) });
    announce(`${button.textContent} sent`);
  }
});
list.addEventListener("input", (event) => {
  if (event.target.matches("textarea[data-field]")) textChanged(event.target);
});
list.addEventListener("change", (event) => {
  if (event.target.matches("select[data-field]")) textChanged(event.target);
});
viewport.addEventListener("scroll", renderSoon, { passive: true });
window.addEventListener("resize", renderSoon);

// --- keys -----------------------------------------------------------------------------------------
function handleKey(event) {
  const key = event.key;
  if (key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); submit(); return; }
  const target = event.target && event.target.closest ? event.target : null;
  if (target && target.closest("dialog")) return; // its own form handles its keys
  // Enter and Space on a focused button or link press it, as anywhere else.
  if (target && target.closest("button, a, summary") && (key === "Enter" || key === " ")) return;
  if (target && target.closest("input, textarea, select, [contenteditable]")) {
    if (key === "Escape") {
      event.preventDefault();
      if (target.closest(".step-editor")) closeEditor(); else { target.blur(); focusStep(current); }
    }
    return;
  }
  if (event.altKey || event.ctrlKey || event.metaKey || event.isComposing) return;
  if (closed && key === "n") { event.preventDefault(); nextChain(); return; }
  if (keyToValue.has(key)) { event.preventDefault(); rate(current, keyToValue.get(key), true); return; }
  const actions = {
    j: () => focusStep(current + 1), ArrowDown: () => focusStep(current + 1),
    k: () => focusStep(current - 1), ArrowUp: () => focusStep(current - 1),
    Home: () => focusStep(0), End: () => focusStep(n - 1),
    PageDown: () => focusStep(heights.indexAt(heights.offset(current) + viewHeight * 0.9)),
    PageUp: () => focusStep(heights.indexAt(Math.max(0, heights.offset(current) - viewHeight * 0.9))),
    n: () => nextUnrated(1), N: () => nextUnrated(-1),
    u: undoLast, f: () => toggle(current, "flagged"), x: () => toggle(current, "unsure"),
    r: () => openEditor(current, "rationale"), c: () => openEditor(current, "correction"),
    e: () => openEditor(current, "error_type"),
    Backspace: () => rate(current, null, false), Delete: () => rate(current, null, false),
    g: openGoto, "/": openSearch, s: openSkip, "?": toggleHelp,
    Enter: () => {
      const first = rows.get(current)?.querySelector(".note-actions button");
      if (first) first.focus(); else openEditor(current, "rationale");
    },
    Escape: () => { if (!help.hidden) toggleHelp(); if (expanded !== -1) closeEditor(); },
  };
  const action = actions[key];
  if (!action) return;
  event.preventDefault();
  action();
}

// --- the rest of the steps' texts -------------------------------------------------------------------
let whenTexts = null;
/** Resolves once every step's text is in the page; the request goes after the first frame. */
function loadTexts() {
  if (!whenTexts) {
    whenTexts = textsLoaded ? Promise.resolve()
      : new Promise((resolve) => requestAnimationFrame(() => setTimeout(() => fetchTexts(resolve), 0)));
  }
  return whenTexts;
}

async function fetchTexts(resolve) {
  for (let attempt = 0; ; attempt += 1) {
    let outcome = "retry";
    try {
      const response = await fetch(data.urls.texts, { credentials: "same-origin", headers: { Accept: "application/x-ndjson, application/json" } });
      if (response.ok) outcome = await readTexts(response);
      else if (response.status === 409) outcome = "changed";
    } catch { /* offline: retried below */ }
    if (outcome === "done") { textsDone(); resolve(); return; }
    if (outcome === "changed") {
      // The chain was edited since this page opened: its labels still save (by step key), its texts
      // here are the old ones.
      say("This chain's steps were changed since the page opened: reload the page to see them all.", "warn");
      return;
    }
    say("Loading the rest of the chain's steps: can't reach the server, retrying. Ratings you make are kept.", "warn");
    await new Promise((done) => { setTimeout(done, Math.min(30000, 1000 * 2 ** attempt)); });
  }
}

// JSON lines, taken in as they arrive and in slices of a few milliseconds (a key pressed meanwhile is
// handled between two slices): the head {revision, count}, then one JSON string per step, in order.
async function readTexts(response) {
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let rest = "";
  let head = null;
  let next = 0;
  let batch = [];
  for (;;) {
    const { done, value } = await reader.read();
    rest += done ? decoder.decode() : decoder.decode(value, { stream: true });
    const cut = rest.lastIndexOf("\n");
    const lines = cut === -1 ? [] : rest.slice(0, cut).split("\n");
    if (cut !== -1) rest = rest.slice(cut + 1);
    let slice = performance.now();
    for (const line of lines) {
      const item = JSON.parse(line);
      if (head === null) {
        head = item;
        if (head.revision !== data.assignment.revision || head.count !== n) { reader.cancel(); return "changed"; }
        continue;
      }
      batch.push(item);
      if (performance.now() - slice > 4) {
        textsArrived(next, batch);
        next += batch.length;
        batch = [];
        await new Promise((go) => { setTimeout(go, 0); });
        slice = performance.now();
      }
    }
    if (batch.length) { textsArrived(next, batch); next += batch.length; batch = []; }
    if (done) return head !== null && next === n ? "done" : "retry";
  }
}

function textsArrived(from, batch) {
  // What is at the viewport's top stays there while the estimated heights of the new texts come in.
  const top = viewport.scrollTop;
  const anchor = heights.indexAt(top);
  const within = top - heights.offset(anchor);
  for (let k = 0; k < batch.length; k += 1) {
    const i = from + k;
    if (texts[i] !== null) continue;
    texts[i] = batch[k];
    if (!measured[i]) heights.set(i, estimateHeight(batch[k], { perLine }));
  }
  const moved = heights.offset(anchor) + within;
  if (moved !== top) viewport.scrollTop = moved;
  // Rows built with a placeholder get their text in place (focus and an open editor stay).
  for (const [i, el] of rows) {
    if (!el.dataset.pending || i < from || i >= from + batch.length) continue;
    delete el.dataset.pending;
    el.querySelector(".step-text").innerHTML = stepHtml(i);
  }
  placeRows();
  setListHeight();
}

function textsDone() {
  textsLoaded = true;
  root.dataset.texts = "all";
  lowerTexts = null;
  renderWindow();
  drawRailSoon();
}

// --- extensions -----------------------------------------------------------------------------------
const host = new ExtensionHost({
  assignment: { id: data.assignment.id, revision: data.assignment.revision, project: data.assignment.project,
                chain: { id: data.chain.id, pk: data.chain.pk }, stepCount: n },
  step: (index) => (Number.isInteger(index) && index >= 0 && index < n ? { index, key: keyOf(index), text: texts[index] } : null),
  indexOfKey,
  setStepNotes,
  markRail(stepKey, kind) {
    const i = indexOfKey(stepKey);
    if (i === -1) throw new RangeError(`no step with key ${stepKey} in this chain`);
    if (!railMarks.has(kind)) railMarks.set(kind, new Set());
    railMarks.get(kind).add(i);
    drawRailSoon();
  },
  clearRail(kind) {
    if (kind === undefined) railMarks.clear(); else railMarks.delete(kind);
    drawRailSoon();
  },
  sidePanel,
  status: extensionStatus,
});

// --- start --------------------------------------------------------------------------------------------
const problem = $("problem-text");
problem.innerHTML = renderRich(data.chain.problem, katex);
const answer = $("reference-answer");
if (answer && data.chain.referenceAnswer) answer.innerHTML = renderRich(data.chain.referenceAnswer, katex);
for (const [value, name] of data.finishReasons) {
  const label = document.createElement("label");
  const input = document.createElement("input");
  input.type = "radio";
  input.name = "finish_reason";
  input.value = value;
  label.append(input, ` ${name}`);
  $("finish-reasons").appendChild(label);
}
restore();
restoreOrphans();
updateSummary();
showActive();
const firstOpen = labels.nextUnrated(-1, 1, mode);
current = firstOpen !== -1 ? firstOpen : Math.max(0, labels.firstError());
focusStep(current); // scrolls before it builds the rows in view: one layout of them, in the first frame
if (closed) showClosed();
else saveState.dataset.kind = saver.dirty() ? "busy" : "";
document.addEventListener("keydown", handleKey);
root.dataset.ready = "1";
if (textsLoaded) root.dataset.texts = "all";
early.ready = true;
early.stop();
for (const queued of early.q.splice(0)) handleKey({ ...queued, target: document.body, preventDefault() {} });
// Extensions start once every step's text is in the page (their API reads any step's text).
const stub = window.StepwiseWorkspace;
window.StepwiseWorkspace = { register: (extension) => host.register(extension), version: 1 };
loadTexts().then(() => host.start(stub));
drawRail();
