// Autosave: sparse label patches, debounced, one request at a time, kept in localStorage until the
// server has them. No DOM: `fetch`, `storage` and the timers are passed in (tests/js/saver.test.mjs
// drives it against a scripted server).
//
// A batch in flight never changes: it keeps its `save_key` and its version through every retry, so a
// retry of a save whose reply was lost is answered `replayed` by the server instead of a conflict,
// and changes made meanwhile wait in `pending` for the next batch. States reported to `onState`:
// "saved", "pending", "saving", "offline" (network or server error: retried with backoff), "auth"
// (logged out: retried), "conflict" (another tab or window saved since this page loaded: stops),
// "closed" (submitted or skipped elsewhere: stops), "rejected" (the server refused the batch's content).

import { mergePatch } from "./labels.js";

export const DEBOUNCE_MS = { rating: 250, text: 700 };
export const MAX_WAIT_MS = 1000; // every change reaches the server within a second while it answers
const BACKOFF_MS = [1000, 2000, 4000, 8000, 15000, 30000];

function randomKey() {
  const bytes = new Uint8Array(12);
  globalThis.crypto.getRandomValues(bytes);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export class Saver {
  constructor({ url, csrf, version, storageKey, storage, fetch, timers, activeSeconds, onState, onSaved }) {
    this.url = url;
    this.csrf = csrf;
    this.version = version;
    this.storageKey = storageKey;
    this.storage = storage;
    this.fetch = fetch;
    this.timers = timers || { set: (f, ms) => setTimeout(f, ms), clear: (t) => clearTimeout(t) };
    this.activeSeconds = activeSeconds || (() => null);
    this.onState = onState || (() => {});
    this.onSaved = onSaved || (() => {});
    this.pending = new Map();
    this.inflight = null;
    this.lastKey = "";
    this.stopped = null; // "conflict" | "closed" once saving cannot go on
    this.timer = null;
    this.firstPendingAt = null;
    this.failures = 0;
    this.storedSeconds = null;
    this.idleWaiters = [];
    this.state = "saved";
    this.detail = "";
  }

  /** The entry a previous page of this assignment left (reload, crash, conflict), or null. */
  readStored() {
    try {
      const raw = this.storage.getItem(this.storageKey);
      return raw ? JSON.parse(raw) : null;
    } catch {
      return null;
    }
  }

  persist() {
    const entry = {
      v: 1, version: this.version, at: Date.now(), conflict: this.stopped === "conflict",
      pending: Array.from(this.pending), inflight: this.inflight,
      activeSeconds: this.activeSeconds(),
    };
    try {
      if (!entry.pending.length && !entry.inflight) this.storage.removeItem(this.storageKey);
      else this.storage.setItem(this.storageKey, JSON.stringify(entry));
    } catch {
      // Storage full or refused (private mode): the server copy is what counts; saving goes on.
    }
  }

  clearStored() {
    try { this.storage.removeItem(this.storageKey); } catch { /* nothing to clear */ }
  }

  /** Unsaved work exists (what the leave-page prompt asks about). */
  dirty() { return this.pending.size > 0 || this.inflight !== null; }

  setState(state, detail = "") {
    this.state = state;
    this.detail = detail;
    this.onState(state, detail, this.pending.size + (this.inflight ? this.inflight.labels.length : 0));
    if (!this.dirty() || this.stopped) {
      const waiters = this.idleWaiters.splice(0);
      waiters.forEach((resolve) => resolve(this.stopped || state));
    }
  }

  /** A change to step `index`: `patch` holds only the fields that changed. */
  change(index, patch, kind = "rating") {
    if (this.stopped) return;
    mergePatch(this.pending, index, patch);
    if (this.firstPendingAt === null) this.firstPendingAt = Date.now();
    this.persist();
    // With a batch in flight (or waiting to be retried) the next batch goes when that one is answered;
    // scheduling now would replace the retry's timer.
    if (this.inflight) return;
    this.setState("pending");
    this.schedule(DEBOUNCE_MS[kind] || DEBOUNCE_MS.rating);
  }

  /** Saves of a previous page (crash, reload) taken over: the batch in flight first, as it was sent. */
  adopt(entry) {
    if (entry.inflight) this.inflight = entry.inflight;
    for (const [index, patch] of entry.pending || []) mergePatch(this.pending, index, patch);
    if (this.pending.size && this.firstPendingAt === null) this.firstPendingAt = Date.now();
    this.persist();
    if (this.inflight) this.send();
    else this.schedule(0);
  }

  schedule(ms) {
    if (this.timer !== null) this.timers.clear(this.timer);
    const waited = this.firstPendingAt === null ? 0 : Date.now() - this.firstPendingAt;
    const delay = Math.max(0, Math.min(ms, MAX_WAIT_MS - waited));
    this.timer = this.timers.set(() => { this.timer = null; this.flush(); }, delay);
  }

  /** Active time alone, when it grew since the server last stored it (a save with no labels). */
  heartbeat() {
    const seconds = this.activeSeconds();
    if (this.stopped || this.inflight || this.pending.size || seconds === null) return;
    if (this.storedSeconds !== null && seconds <= this.storedSeconds) return;
    this.inflight = { labels: [], saveKey: randomKey(), version: this.version };
    this.send();
  }

  flush() {
    if (this.stopped || this.inflight || this.pending.size === 0) return;
    this.inflight = {
      labels: Array.from(this.pending, ([step, patch]) => ({ step, ...patch })),
      saveKey: randomKey(), version: this.version,
    };
    this.pending = new Map();
    this.firstPendingAt = null;
    this.persist();
    this.send();
  }

  async send() {
    const batch = this.inflight;
    if (!batch || this.stopped) return;
    this.setState("saving");
    let response;
    let body = {};
    try {
      const seconds = this.activeSeconds();
      response = await this.fetch(this.url, {
        method: "PATCH", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": this.csrf },
        body: JSON.stringify({ version: batch.version, labels: batch.labels, save_key: batch.saveKey,
                               active_seconds: seconds }),
      });
      try { body = await response.json(); } catch { body = {}; }
      if (response.ok) this.storedSeconds = Math.max(this.storedSeconds || 0, body.active_seconds || 0);
    } catch {
      return this.retry("offline", "");
    }
    if (this.inflight !== batch) return; // taken over meanwhile (cannot happen with one sender; be safe)
    if (response.ok) {
      this.version = body.version;
      this.lastKey = batch.saveKey;
      this.inflight = null;
      this.failures = 0;
      this.persist();
      this.onSaved(batch, body);
      if (this.pending.size) {
        this.setState("pending");
        this.schedule(0);
      } else {
        this.setState("saved");
      }
      return;
    }
    if (response.status === 409 && body.field === "status") {
      this.stopped = "closed";
      this.clearStored();
      return this.setState("closed", body.detail || "");
    }
    if (response.status === 409) {
      // Another tab or window saved since this page loaded: stop, keep everything here for after a reload.
      for (const label of batch.labels) {
        const { step, ...patch } = label;
        mergePatch(this.pending, step, { ...patch, ...(this.pending.get(step) || {}) });
      }
      this.inflight = null;
      this.stopped = "conflict";
      this.persist();
      return this.setState("conflict", body.detail || "");
    }
    if (response.status === 401 || response.status === 403) return this.retry("auth", body.detail || "");
    if (response.status >= 400 && response.status < 500) {
      // The content was refused (a limit, a value off the scale): retrying cannot help. Say what.
      this.inflight = null;
      this.persist();
      this.setState("rejected", body.detail || `the server refused the save (${response.status})`);
      if (this.pending.size) this.schedule(0);
      return;
    }
    return this.retry("offline", `server error ${response.status}`);
  }

  retry(state, detail) {
    const wait = BACKOFF_MS[Math.min(this.failures, BACKOFF_MS.length - 1)];
    this.failures += 1;
    this.setState(state, detail);
    this.retryAt = Date.now() + wait;
    if (this.timer !== null) this.timers.clear(this.timer);
    this.timer = this.timers.set(() => { this.timer = null; this.send(); }, wait);
  }

  /** Retry now (the browser came back online, the tab became visible). */
  retryNow() {
    if (this.inflight && (this.state === "offline" || this.state === "auth")) {
      if (this.timer !== null) this.timers.clear(this.timer);
      this.timer = null;
      this.send();
    }
  }

  /** Send what is pending now and resolve once nothing is in flight or pending (or saving stopped). */
  idle() {
    if (this.timer !== null && !this.inflight) { this.timers.clear(this.timer); this.timer = null; this.flush(); }
    if (!this.dirty() || this.stopped) return Promise.resolve(this.stopped || this.state);
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }
}
