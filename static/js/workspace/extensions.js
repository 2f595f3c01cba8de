// The workspace's extension API (docs/architecture.md, "Workspace extensions"): other apps (oversight's
// critiques, symbolic checks, debates) show results on steps and in side panels without any Python
// import. An extension is an ES module listed in STEPWISE_WORKSPACE_EXTENSIONS that calls
// `window.StepwiseWorkspace.register({name, init(api)})`; registrations made before the workspace is
// ready wait in a queue (the page's inline stub keeps them).

const TONES = new Set(["warn", "info", "ok"]);
const MAX_NOTES = 50;
const MAX_TEXT = 5000;

function text(value, limit) {
  return typeof value === "string" ? value.slice(0, limit) : value === undefined || value === null ? "" : String(value).slice(0, limit);
}

/** Notes as the workspace keeps them: plain strings (never HTML), bounded, with a tone from the three. */
export function cleanNotes(notes) {
  if (!Array.isArray(notes)) throw new TypeError("notes must be an array of {id, kind, tone, title, text, actions}");
  return notes.slice(0, MAX_NOTES).map((note, n) => ({
    id: text(note && note.id !== undefined ? note.id : `note-${n}`, 200),
    kind: text(note && note.kind, 100),
    tone: TONES.has(note && note.tone) ? note.tone : "info",
    title: text(note && note.title, 500),
    text: text(note && note.text, MAX_TEXT),
    actions: Array.isArray(note && note.actions)
      ? note.actions.slice(0, 8).map((a) => ({ id: text(a && a.id, 100), label: text(a && a.label, 100) }))
        .filter((a) => a.id && a.label)
      : [],
  }));
}

export class ExtensionHost {
  constructor(workspace) {
    this.workspace = workspace; // the functions the API is made of (main.js)
    this.listeners = { focus: [], label: [], noteAction: [] };
    this.ready = false;
    this.extensions = [];
  }

  emit(event, detail) {
    for (const fn of this.listeners[event] || []) {
      try { fn(detail); } catch (error) { console.warn(`workspace extension ${event} listener failed`, error); }
    }
  }

  apiFor(extension) {
    const ws = this.workspace;
    const host = this;
    return Object.freeze({
      assignment: Object.freeze({ ...ws.assignment, chain: Object.freeze({ ...ws.assignment.chain }) }),
      step: (index) => ws.step(index),
      indexOfKey: (key) => ws.indexOfKey(key),
      setStepNotes: (stepKey, notes) => ws.setStepNotes(stepKey, cleanNotes(notes), extension.name),
      onNoteAction: (fn) => { host.listeners.noteAction.push(fn); },
      markRail: (stepKey, kind) => ws.markRail(stepKey, text(kind, 100)),
      clearRail: (kind) => ws.clearRail(kind === undefined ? undefined : text(kind, 100)),
      sidePanel: (id, title) => ws.sidePanel(`${extension.name}:${text(id, 100)}`, text(title, 200)),
      on: (event, fn) => {
        if (!(event === "focus" || event === "label")) throw new Error(`unknown workspace event "${event}" (focus, label)`);
        host.listeners[event].push(fn);
      },
      status: (message, kind) => ws.status(extension.name, text(message, 300), text(kind || "info", 20)),
    });
  }

  register(extension) {
    if (!extension || typeof extension.init !== "function") {
      console.warn("StepwiseWorkspace.register needs {name, init(api)}", extension);
      return;
    }
    const named = { name: text(extension.name || "extension", 100), init: extension.init };
    if (!this.ready) { this.extensions.push(named); return; }
    try {
      named.init(this.apiFor(named));
    } catch (error) {
      console.warn(`workspace extension ${named.name} failed to start`, error);
      this.workspace.status(named.name, "could not start", "warn");
    }
  }

  /** The workspace is ready: start the extensions registered so far, in the order they registered
   * (first those the page stub queued before the workspace's module ran). */
  start(stub) {
    this.ready = true;
    const queued = [...((stub && stub._queue) || []), ...this.extensions];
    this.extensions = [];
    queued.forEach((extension) => this.register(extension));
  }
}
