import assert from "node:assert/strict";
import { test } from "node:test";

import { Labels, mergePatch, search } from "../../static/js/workspace/labels.js";

const SCHEMA = { scale: [{ value: -1 }, { value: 0 }, { value: 1 }], mode: "first_error" };

test("sparse patches change only their fields", () => {
  const labels = new Labels(5, SCHEMA);
  labels.load([[1, -1, true, true, "why", "better", "arithmetic"]]);
  labels.apply(1, { rating: 1 });
  assert.deepEqual(labels.get(1), { rating: 1, unsure: true, flagged: true, rationale: "why", correction: "better",
                                    error_type: "arithmetic" });
  const before = labels.apply(1, { rationale: "" });
  assert.deepEqual(before, { rationale: "why" });
  assert.equal(labels.get(1).correction, "better");
  assert.equal(labels.rated, 1);
});

test("the first error follows the lowest rating, whatever order steps are rated in", () => {
  const labels = new Labels(8000, SCHEMA);
  labels.apply(5000, { rating: -1 });
  labels.apply(10, { rating: -1 });
  assert.equal(labels.firstError(), 10);
  assert.ok(labels.closedAt(11, "first_error") && !labels.closedAt(10, "first_error"));
  assert.ok(!labels.closedAt(11, "full"));
  labels.apply(10, { rating: 0 });
  assert.equal(labels.firstError(), 5000);
  labels.apply(5000, { rating: null });
  assert.equal(labels.firstError(), -1);
});

test("next unrated wraps and stops at the first error in first-error mode", () => {
  const labels = new Labels(6, SCHEMA);
  labels.apply(0, { rating: 1 });
  labels.apply(1, { rating: 1 });
  assert.equal(labels.nextUnrated(0, 1, "full"), 2);
  labels.apply(3, { rating: -1 });
  assert.equal(labels.nextUnrated(3, 1, "first_error"), 2); // 4 and 5 are past the first error
  labels.apply(2, { rating: 0 });
  assert.equal(labels.nextUnrated(0, 1, "first_error"), -1);
  assert.equal(labels.nextUnrated(0, -1, "full"), 5);
});

test("suggestion: found_error with a lowest rating, solution when all are rated, else none", () => {
  const labels = new Labels(2, SCHEMA);
  assert.equal(labels.suggestion("full"), null);
  labels.apply(0, { rating: 1 });
  labels.apply(1, { rating: 1 });
  assert.equal(labels.suggestion("full"), "solution");
  labels.apply(1, { rating: -1 });
  assert.equal(labels.suggestion("full"), "found_error");
});

test("pending patches merge: the last value of a field wins, other fields stay", () => {
  const pending = new Map();
  mergePatch(pending, 3, { rating: 1, flagged: true });
  mergePatch(pending, 3, { rating: -1 });
  assert.deepEqual(pending.get(3), { rating: -1, flagged: true });
});

test("search finds steps containing the text, case-insensitively, in order", () => {
  const texts = ["Alpha beta", "gamma", "BETA max", "b"].map((t) => t.toLocaleLowerCase());
  assert.deepEqual(search(texts, "Beta"), [0, 2]);
  assert.deepEqual(search(texts, "  "), []);
});
