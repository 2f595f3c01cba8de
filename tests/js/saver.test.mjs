// The autosave queue (static/js/workspace/saver.js) against a scripted server: what is sent, retried,
// kept in storage, and when it stops. The real server is exercised by the Playwright tests.
import assert from "node:assert/strict";
import { test } from "node:test";

import { Saver } from "../../static/js/workspace/saver.js";

function memoryStorage() {
  const map = new Map();
  return { getItem: (k) => (map.has(k) ? map.get(k) : null), setItem: (k, v) => map.set(k, String(v)),
           removeItem: (k) => map.delete(k), map };
}

// Timers run when the test says so.
function manualTimers() {
  let id = 0;
  const due = new Map();
  return { set: (f, ms) => { id += 1; due.set(id, { f, ms }); return id; }, clear: (t) => due.delete(t),
           async runAll() { const jobs = [...due.values()]; due.clear(); for (const job of jobs) await job.f(); } };
}

function server(replies) {
  const requests = [];
  const fetch = async (url, init) => {
    const body = JSON.parse(init.body);
    requests.push(body);
    const reply = replies.shift();
    if (reply === "network") throw new TypeError("Failed to fetch");
    return { ok: reply.status < 300, status: reply.status, json: async () => reply.body };
  };
  return { fetch, requests };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 0));

test("changes are batched sparsely and sent with the version; the reply's version is used next", async () => {
  const timers = manualTimers();
  const { fetch, requests } = server([{ status: 200, body: { version: 6, active_seconds: 3 } },
                                      { status: 200, body: { version: 7, active_seconds: 3 } }]);
  const saver = new Saver({ url: "/l/", csrf: "t", version: 5, storageKey: "k", storage: memoryStorage(), fetch, timers,
                            activeSeconds: () => 3 });
  saver.change(0, { rating: 1 });
  saver.change(0, { flagged: true });
  saver.change(4, { rationale: "why" }, "text");
  await timers.runAll();
  await settle();
  assert.deepEqual(requests[0].labels, [{ step: 0, rating: 1, flagged: true }, { step: 4, rationale: "why" }]);
  assert.equal(requests[0].version, 5);
  assert.equal(requests[0].active_seconds, 3);
  assert.equal(saver.state, "saved");
  saver.change(1, { rating: -1 });
  await timers.runAll();
  await settle();
  assert.equal(requests[1].version, 6);
  assert.notEqual(requests[1].save_key, requests[0].save_key);
});

test("a lost reply is retried with the same key and version; changes made meanwhile wait for the next batch", async () => {
  const timers = manualTimers();
  const storage = memoryStorage();
  const { fetch, requests } = server(["network", { status: 500, body: {} },
                                      { status: 200, body: { version: 2, replayed: true } },
                                      { status: 200, body: { version: 3 } }]);
  const states = [];
  const saver = new Saver({ url: "/l/", csrf: "t", version: 1, storageKey: "k", storage, fetch, timers,
                            onState: (s) => states.push(s) });
  saver.change(2, { rating: 0 });
  await timers.runAll(); await settle();
  assert.equal(saver.state, "offline");
  assert.ok(JSON.parse(storage.getItem("k")).inflight, "the batch in flight is kept in storage");
  saver.change(3, { rating: 1 });
  await timers.runAll(); await settle(); // the 500
  await timers.runAll(); await settle(); // replayed
  await timers.runAll(); await settle(); // the waiting change
  assert.equal(requests[0].save_key, requests[1].save_key);
  assert.equal(requests[1].save_key, requests[2].save_key);
  assert.equal(requests[2].version, 1);
  assert.deepEqual(requests[3].labels, [{ step: 3, rating: 1 }]);
  assert.equal(requests[3].version, 2);
  assert.equal(saver.state, "saved");
  assert.equal(storage.getItem("k"), null, "nothing left to keep");
  assert.ok(states.includes("offline"));
});

test("a conflict stops saving and keeps every unsaved change in storage for the reload", async () => {
  const timers = manualTimers();
  const storage = memoryStorage();
  const { fetch } = server([{ status: 409, body: { detail: "stale", field: "version" } }]);
  const saver = new Saver({ url: "/l/", csrf: "t", version: 1, storageKey: "k", storage, fetch, timers });
  saver.change(7, { rating: -1, error_type: "logic" });
  await timers.runAll(); await settle();
  assert.equal(saver.state, "conflict");
  const entry = JSON.parse(storage.getItem("k"));
  assert.equal(entry.conflict, true);
  assert.deepEqual(entry.pending, [[7, { rating: -1, error_type: "logic" }]]);
  saver.change(8, { rating: 1 }); // ignored once stopped
  assert.equal(await saver.idle(), "conflict");
});

test("a refused batch is reported with the server's words and not retried", async () => {
  const timers = manualTimers();
  const { fetch, requests } = server([{ status: 400, body: { detail: "rating 7 is not on this project's scale" } }]);
  const saver = new Saver({ url: "/l/", csrf: "t", version: 1, storageKey: "k", storage: memoryStorage(), fetch, timers });
  saver.change(0, { rating: 7 });
  await timers.runAll(); await settle();
  assert.equal(saver.state, "rejected");
  assert.match(saver.detail, /not on this project's scale/);
  await timers.runAll(); await settle();
  assert.equal(requests.length, 1);
});

test("a page that crashed mid-save hands its batch to the next page, which sends it as it was", async () => {
  const storage = memoryStorage();
  const timers = manualTimers();
  const first = new Saver({ url: "/l/", csrf: "t", version: 4, storageKey: "k", storage,
                            fetch: () => new Promise(() => {}), timers });
  first.change(1, { rating: 1 });
  await timers.runAll(); // in flight forever: the page dies here
  const sent = JSON.parse(storage.getItem("k")).inflight;
  const { fetch, requests } = server([{ status: 200, body: { version: 5, replayed: true } }]);
  const second = new Saver({ url: "/l/", csrf: "t", version: 5, storageKey: "k", storage, fetch, timers: manualTimers() });
  second.adopt(second.readStored());
  await settle();
  assert.equal(requests[0].save_key, sent.saveKey);
  assert.equal(requests[0].version, 4);
  assert.equal(second.state, "saved");
});
