// The annotator's labels for one chain, in typed arrays (20,000 steps cost a few hundred kB), and the
// sparse changes not yet saved. Pure: no DOM, no network.

export const UNRATED = -128; // no rating in the Int8Array (ratings are -100..100)
const FLAG = 1;
const UNSURE = 2;

export class Labels {
  constructor(n, schema) {
    this.n = n;
    this.schema = schema;
    this.rating = new Int8Array(n).fill(UNRATED);
    this.bits = new Uint8Array(n);
    this.text = new Map(); // index -> {rationale, correction, error_type}
    this.rated = 0;
    this.lowest = schema.scale[0].value;
    this.errors = new Set(); // indexes rated lowest: the first error is their minimum
    this.firstErrorCache = -1;
  }

  /** Rows [index, rating, unsure, flagged, rationale, correction, error_type] as the page payload has them. */
  load(rows) {
    for (const [index, rating, unsure, flagged, rationale, correction, errorType] of rows) {
      this.apply(index, { rating, unsure, flagged, rationale, correction, error_type: errorType });
    }
  }

  get(index) {
    const r = this.rating[index];
    const t = this.text.get(index);
    return {
      rating: r === UNRATED ? null : r,
      unsure: (this.bits[index] & UNSURE) !== 0,
      flagged: (this.bits[index] & FLAG) !== 0,
      rationale: t ? t.rationale : "",
      correction: t ? t.correction : "",
      error_type: t ? t.error_type : "",
    };
  }

  ratingOf(index) { const r = this.rating[index]; return r === UNRATED ? null : r; }

  /** Set the fields given (a sparse patch); returns the fields' previous values. */
  apply(index, patch) {
    const before = {};
    const now = this.get(index);
    for (const field of Object.keys(patch)) before[field] = now[field];
    if ("rating" in patch) {
      const old = this.rating[index];
      const value = patch.rating === null || patch.rating === undefined ? UNRATED : patch.rating;
      if (old === UNRATED && value !== UNRATED) this.rated += 1;
      if (old !== UNRATED && value === UNRATED) this.rated -= 1;
      this.rating[index] = value;
      if (value === this.lowest) this.errors.add(index); else this.errors.delete(index);
      this.firstErrorCache = -2; // recomputed on demand
    }
    if ("flagged" in patch) this.bits[index] = patch.flagged ? this.bits[index] | FLAG : this.bits[index] & ~FLAG;
    if ("unsure" in patch) this.bits[index] = patch.unsure ? this.bits[index] | UNSURE : this.bits[index] & ~UNSURE;
    for (const field of ["rationale", "correction", "error_type"]) {
      if (!(field in patch)) continue;
      const t = this.text.get(index) || { rationale: "", correction: "", error_type: "" };
      t[field] = patch[field] || "";
      if (t.rationale || t.correction || t.error_type) this.text.set(index, t); else this.text.delete(index);
    }
    return before;
  }

  /** Index of the first step rated lowest (the first error), or -1. */
  firstError() {
    if (this.firstErrorCache === -2) {
      let first = -1;
      for (const i of this.errors) if (first === -1 || i < first) first = i;
      this.firstErrorCache = first;
    }
    return this.firstErrorCache;
  }

  /** In first-error mode, steps after the first error are not labelled. */
  closedAt(index, mode) {
    const first = mode === "first_error" ? this.firstError() : -1;
    return first !== -1 && index > first;
  }

  /** The next unrated step after `from` going `dir` (+1/-1), wrapping; -1 when every reachable step is rated. */
  nextUnrated(from, dir, mode) {
    const limit = mode === "first_error" && this.firstError() !== -1 ? this.firstError() + 1 : this.n;
    if (limit === 0) return -1;
    for (let k = 1; k <= limit; k += 1) {
      const i = (((from + dir * k) % limit) + limit) % limit;
      if (this.rating[i] === UNRATED) return i;
    }
    return -1;
  }

  /** What the page would suggest as the finish reason (never chosen for the annotator). */
  suggestion(mode) {
    if (this.firstError() !== -1) return "found_error";
    if (this.rated === this.n && this.n > 0) return "solution";
    return mode === "first_error" ? null : null;
  }

  counts() {
    let flagged = 0;
    let unsure = 0;
    for (let i = 0; i < this.n; i += 1) {
      if (this.bits[i] & FLAG) flagged += 1;
      if (this.bits[i] & UNSURE) unsure += 1;
    }
    return { rated: this.rated, flagged, unsure, notes: this.text.size };
  }
}

/** Merge a sparse patch into a map of pending patches (index -> fields): the last value of a field wins. */
export function mergePatch(pending, index, patch) {
  pending.set(index, { ...(pending.get(index) || {}), ...patch });
}

/** Indexes of steps whose text contains `query` (case-insensitive), in order, at most `limit`. */
export function search(texts, query, limit = 5000) {
  const q = query.trim().toLocaleLowerCase();
  if (!q) return [];
  const found = [];
  for (let i = 0; i < texts.length && found.length < limit; i += 1) {
    if (texts[i].toLocaleLowerCase().includes(q)) found.push(i);
  }
  return found;
}
