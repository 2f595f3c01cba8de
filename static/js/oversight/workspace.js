// The oversight app's workspace extension (docs/oversight.md): critiques and symbolic mismatches as notes on
// their steps, runs and debates in a side panel, arriving live over the chain's websocket group. Everything
// from a model is untrusted: it reaches the page only through the extension API's notes (shown escaped)
// and textContent here. The page works without the websocket: it reads the API, and reads it again
// whenever the socket comes back, so nothing sent while it was down is missed.

const API = "/api/oversight";
const RATINGS = [["helpful", "Helpful"], ["nitpick", "Nitpick"], ["wrong", "Wrong"]];

function csrfToken() {
  // The page's own token first (what the workspace sends), the cookie if a page has no form.
  const input = document.querySelector("input[name=csrfmiddlewaretoken]");
  if (input && input.value) return input.value;
  const found = document.cookie.split("; ").find((c) => c.startsWith("csrftoken="));
  return found ? decodeURIComponent(found.slice("csrftoken=".length)) : "";
}

async function call(path, body) {
  const response = await fetch(API + path, body === undefined ? { credentials: "same-origin" } : {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() }, body: JSON.stringify(body),
  });
  const data = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(data.detail || `HTTP ${response.status}`);
  return data;
}

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function percent(x) { return x === null || x === undefined ? "" : ` (${Math.round(x * 100)}%)`; }

class Oversight {
  constructor(api) {
    this.api = api;
    this.runs = new Map();
    this.critiques = new Map();
    this.checks = new Map();
    this.turns = new Map(); // run id -> Map(turn id -> turn)
    this.verdicts = new Map(); // run id -> [verdict]
    this.ratings = new Map(); // "c<id>" / "s<id>" -> {rating, dismissed}
    this.notedKeys = new Map(); // step key -> the notes last set, as JSON
    this.current = 0;
    this.socketTries = 0;
  }

  async start() {
    const data = await call(`/assignments/${this.api.assignment.id}/`);
    if (!data.assisted) return; // the unassisted arm sees nothing and opens no socket
    addStyles();
    this.passes = data.passes || {};
    this.absorb(data, true);
    this.api.on("focus", (e) => { this.current = e.index; this.drawPanel(); });
    this.api.onNoteAction((e) => this.action(e));
    this.connect();
    // While a pass runs and the socket is silent (down, or a channel layer that does not reach the worker,
    // as in the embedded default's in-memory one), read the state every few seconds instead.
    this.lastMessage = 0;
    setInterval(() => {
      const busy = [...this.runs.values()].some((r) => r.status === "queued" || r.status === "running");
      if (busy && Date.now() - this.lastMessage > 8000) this.refresh();
    }, 5000);
  }

  refresh() {
    return call(`/assignments/${this.api.assignment.id}/`).then((d) => this.absorb(d, true)).catch(() => {});
  }

  absorb(data, replace) {
    if (replace) {
      this.runs.clear(); this.critiques.clear(); this.checks.clear(); this.turns.clear(); this.verdicts.clear();
    }
    for (const run of data.runs || []) this.runs.set(run.id, run);
    if (data.run && data.run.kind) this.runs.set(data.run.id, data.run);
    for (const c of data.critiques || []) this.critiques.set(c.id, c);
    for (const c of data.checks || []) this.checks.set(c.id, c);
    for (const t of data.turns || []) {
      if (!this.turns.has(t.run)) this.turns.set(t.run, new Map());
      this.turns.get(t.run).set(t.id, t);
    }
    for (const v of data.verdicts || []) {
      const list = (this.verdicts.get(v.run) || []).filter((old) => !(old.judge === v.judge && old.judgeModel === v.judgeModel));
      list.push(v);
      this.verdicts.set(v.run, list);
    }
    for (const r of data.ratings || []) {
      this.ratings.set(r.critique ? `c${r.critique}` : `s${r.check}`, { rating: r.rating, dismissed: r.dismissed });
    }
    this.drawNotes();
    this.drawPanel();
  }

  connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const socket = new WebSocket(`${scheme}://${location.host}/ws/oversight/chains/${this.api.assignment.chain.pk}/`);
    socket.onopen = () => {
      const catchingUp = this.socketTries > 0;
      this.socketTries = 0;
      this.live = true;
      this.status();
      if (catchingUp) this.refresh();
    };
    socket.onmessage = (message) => {
      this.lastMessage = Date.now();
      let event;
      try { event = JSON.parse(message.data); } catch { return; }
      if (event.event === "run") this.absorb({ runs: [event.payload] }, false);
      else if (event.event === "results") this.absorb(event.payload, false);
    };
    socket.onclose = (close) => {
      this.live = false;
      this.status();
      if (close.code === 4401 || close.code === 4404) return;
      this.socketTries += 1;
      setTimeout(() => this.connect(), Math.min(30000, 1000 * 2 ** Math.min(this.socketTries, 5)));
    };
    this.socket = socket;
  }

  status() {
    const runs = [...this.runs.values()];
    const busy = runs.filter((r) => r.status === "queued" || r.status === "running");
    const failed = runs.filter((r) => r.status === "failed");
    const parts = [];
    if (busy.length) parts.push(`${busy.length} pass${busy.length > 1 ? "es" : ""} running`);
    if (failed.length) parts.push(`${failed.length} failed`);
    if (!parts.length) parts.push(runs.length ? "model passes done" : "no model passes yet");
    if (!this.live) parts.push("offline, reconnecting");
    this.api.status(parts.join(" · "), failed.length || !this.live ? "warn" : busy.length ? "info" : "ok");
  }

  drawNotes() {
    const byKey = new Map();
    const add = (key, note) => { if (!byKey.has(key)) byKey.set(key, []); byKey.get(key).push(note); };
    this.api.clearRail("critique");
    this.api.clearRail("symbolic");
    for (const c of this.critiques.values()) {
      if (c.verdict === "correct" || this.api.indexOfKey(c.stepKey) < 0) continue;
      const rated = this.ratings.get(`c${c.id}`) || {};
      if (rated.dismissed) continue;
      const quote = c.quote ? `\n“${c.quote}”${c.quoteVerified ? " (quoted from the step)" : " (not found in the step)"}` : "";
      add(c.stepKey, {
        id: `c${c.id}`, kind: "critique", tone: c.verdict === "incorrect" ? "warn" : "info",
        title: c.verdict === "malformed" ? "Critic: answer could not be used"
          : `Critic: ${c.verdict}${percent(c.confidence)}${rated.rating ? ` · you said ${rated.rating}` : ""}`,
        text: c.explanation + quote,
        actions: [...RATINGS.map(([id, label]) => ({ id, label })), { id: "dismiss", label: "Dismiss" }],
      });
      if (c.verdict === "incorrect") this.api.markRail(c.stepKey, "critique");
    }
    for (const s of this.checks.values()) {
      if (s.outcome !== "mismatch" || this.api.indexOfKey(s.stepKey) < 0) continue;
      const rated = this.ratings.get(`s${s.id}`) || {};
      if (rated.dismissed) continue;
      const lines = s.findings.filter((f) => f.outcome === "mismatch")
        .map((f) => `${f.expression}: the left side is ${f.lhs}, the right side ${f.rhs}`);
      add(s.stepKey, {
        id: `s${s.id}`, kind: "symbolic", tone: "warn",
        title: `Symbolic check: mismatch${rated.rating ? ` · you said ${rated.rating}` : ""}`, text: lines.join("\n"),
        actions: [...RATINGS.map(([id, label]) => ({ id, label })), { id: "dismiss", label: "Dismiss" }],
      });
      this.api.markRail(s.stepKey, "symbolic");
    }
    // Only steps whose notes changed are set again (each set repaints the row and may be announced).
    for (const key of this.notedKeys.keys()) if (!byKey.has(key)) this.api.setStepNotes(key, []);
    const drawn = new Map();
    for (const [key, notes] of byKey) {
      const text = JSON.stringify(notes);
      if (this.notedKeys.get(key) !== text) this.api.setStepNotes(key, notes);
      drawn.set(key, text);
    }
    this.notedKeys = drawn;
    this.status();
  }

  async action({ noteId, actionId }) {
    const kind = noteId[0] === "c" ? "critiques" : "checks";
    const id = Number(noteId.slice(1));
    const body = actionId === "dismiss" ? { assignment: this.api.assignment.id, dismissed: true }
      : { assignment: this.api.assignment.id, rating: actionId };
    try {
      const saved = await call(`/${kind}/${id}/rating/`, body);
      this.ratings.set(noteId, saved);
      this.drawNotes();
      this.api.status(actionId === "dismiss" ? "dismissed" : `saved: ${actionId}`, "ok");
    } catch (error) {
      this.api.status(`could not save your rating: ${error.message}`, "warn");
    }
  }

  drawPanel() {
    const panel = this.api.sidePanel("oversight", "Model assistance");
    panel.replaceChildren();
    const runs = [...this.runs.values()];
    if (runs.some((r) => r.embedded)) {
      panel.appendChild(el("p", "ov-standin", "These results come from the embedded stand-in model (a tiny CPU model): "
        + "read them as a demonstration, not as judgements. Point the project at a real server with "
        + "STEPWISE_MODEL_BASE_URL (docs/oversight.md)."));
    }
    const list = el("ul", "ov-runs");
    for (const run of runs.filter((r) => r.kind !== "debate")) {
      const item = el("li", `ov-run ov-${run.status}`);
      item.dataset.run = run.id;
      item.appendChild(el("span", "", `${run.kind}${run.backend ? ` (${run.backend})` : ""}: ${run.status}`
        + (run.total ? ` ${run.done}/${run.total}` : "") + (run.malformed ? `, ${run.malformed} unusable` : "")));
      if (run.status === "failed") {
        item.appendChild(el("div", "ov-error", run.error));
        const retry = el("button", "ov-retry", "Retry");
        retry.type = "button";
        retry.addEventListener("click", () => call(`/runs/${run.id}/retry/`, {}).then((r) => this.absorb({ runs: [r] }, false))
          .catch((e) => this.api.status(`retry failed: ${e.message}`, "warn")));
        item.appendChild(retry);
      }
      list.appendChild(item);
    }
    if (list.children.length) panel.appendChild(list);
    if (this.passes && this.passes.debate) {
      const start = el("button", "ov-debate-start", `Debate step ${this.current + 1}`);
      start.type = "button";
      start.addEventListener("click", () => call(`/assignments/${this.api.assignment.id}/debates/`, { step_index: this.current })
        .then((r) => this.absorb({ runs: [r] }, false)).catch((e) => this.api.status(`debate not started: ${e.message}`, "warn")));
      panel.appendChild(start);
    }
    for (const run of runs.filter((r) => r.kind === "debate")) panel.appendChild(this.debate(run));
    this.status();
  }

  debate(run) {
    const box = el("section", "ov-debate");
    box.dataset.run = run.id;
    const index = this.api.indexOfKey(run.stepKey);
    box.appendChild(el("h3", "", `Debate about step ${index + 1}: ${run.status}${run.total ? ` ${run.done}/${run.total}` : ""}`));
    if (run.status === "failed") box.appendChild(el("div", "ov-error", run.error));
    const turns = [...(this.turns.get(run.id) || new Map()).values()].sort((a, b) => a.round - b.round || (a.side < b.side ? -1 : 1));
    for (const turn of turns) {
      const t = el("div", `ov-turn ov-${turn.side}`);
      t.appendChild(el("strong", "", `Round ${turn.round}, for “${turn.side}”: `));
      t.appendChild(el("span", "ov-text", turn.text));
      for (const q of turn.quotes) {
        const quote = el("blockquote", q.verified ? "ov-quote ov-verified" : "ov-quote ov-unverified", q.text);
        quote.appendChild(el("span", "ov-mark", q.verified ? " ✓ verified in the chain" : " ✗ not found in the chain"));
        t.appendChild(quote);
      }
      box.appendChild(t);
    }
    for (const v of this.verdicts.get(run.id) || []) {
      box.appendChild(el("p", "ov-verdict", `${v.judge === "model" ? `Model judge (${v.judgeModel})` : "Your verdict"}: `
        + `${v.verdict}, credence ${Math.round(v.credence * 100)}%`));
    }
    if (run.status === "done") {
      const form = el("form", "ov-judge");
      const name = `ov-verdict-${run.id}`;
      for (const side of ["correct", "incorrect"]) {
        const label = el("label", "");
        const radio = el("input");
        radio.type = "radio"; radio.name = name; radio.value = side;
        label.append(radio, ` The step is ${side}`);
        form.appendChild(label);
      }
      const credence = el("input", "ov-credence");
      credence.type = "range"; credence.min = "50"; credence.max = "100"; credence.value = "75";
      credence.setAttribute("aria-label", "Your credence, percent");
      const submit = el("button", "", "Record my verdict");
      submit.type = "submit";
      form.append(credence, submit);
      form.addEventListener("submit", (event) => {
        event.preventDefault();
        const chosen = form.querySelector(`input[name="${name}"]:checked`);
        if (!chosen) { this.api.status("choose correct or incorrect first", "warn"); return; }
        call(`/runs/${run.id}/verdict/`, { verdict: chosen.value, credence: Number(credence.value) / 100 })
          .then((v) => { this.absorb({ verdicts: [{ run: run.id, judge: "person", judgeModel: "", ...v }] }, false); this.api.status("verdict saved", "ok"); })
          .catch((e) => this.api.status(`verdict not saved: ${e.message}`, "warn"));
      });
      box.appendChild(form);
    }
    return box;
  }
}

function addStyles() {
  const link = document.createElement("link");
  link.rel = "stylesheet";
  link.href = new URL("./workspace.css", import.meta.url).href;
  document.head.appendChild(link);
}

window.StepwiseWorkspace.register({
  name: "oversight",
  init(api) {
    const oversight = new Oversight(api);
    oversight.start().catch((error) => api.status(`model assistance unavailable: ${error.message}`, "warn"));
  },
});
