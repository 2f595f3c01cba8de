import assert from "node:assert/strict";
import { test } from "node:test";

import { Heights, estimateHeight, visibleRange } from "../../static/js/workspace/layout.js";

function naive(hs) {
  const offsets = [0];
  for (const h of hs) offsets.push(offsets.at(-1) + h);
  return offsets;
}

test("offsets and indexAt match a plain prefix sum after random updates", () => {
  let seed = 7;
  const rnd = () => { seed = (seed * 1103515245 + 12345) % 2 ** 31; return seed / 2 ** 31; };
  for (const n of [1, 2, 3, 17, 1000]) {
    const hs = Array.from({ length: n }, () => 20 + Math.floor(rnd() * 200));
    const heights = new Heights(hs);
    for (let round = 0; round < 200; round += 1) {
      const i = Math.floor(rnd() * n);
      hs[i] = 8 + Math.floor(rnd() * 400);
      heights.set(i, hs[i]);
      const offsets = naive(hs);
      const probe = Math.floor(rnd() * n);
      assert.equal(heights.offset(probe), offsets[probe]);
      assert.equal(heights.total(), offsets[n]);
      const y = rnd() * offsets[n];
      const at = heights.indexAt(y);
      assert.ok(offsets[at] <= y && y < offsets[at + 1], `n=${n} y=${y} at=${at}`);
    }
    assert.equal(heights.indexAt(-5), 0);
    assert.equal(heights.indexAt(heights.total() + 100), n - 1);
  }
});

test("20,000 rows: a million lookups and updates in well under a second", () => {
  const heights = new Heights(new Array(20000).fill(50));
  const t0 = performance.now();
  for (let k = 0; k < 1_000_000; k += 1) {
    heights.set(k % 20000, 40 + (k % 30));
    heights.indexAt((k * 37) % heights.total());
  }
  assert.ok(performance.now() - t0 < 1500);
});

test("the visible range covers the viewport and the overscan", () => {
  const heights = new Heights(new Array(100).fill(100));
  assert.deepEqual(visibleRange(heights, 1000, 500, 200), [8, 17]);
  assert.deepEqual(visibleRange(new Heights([]), 0, 500), [0, -1]);
});

test("estimates grow with the text", () => {
  assert.ok(estimateHeight("x".repeat(1000)) > estimateHeight("short"));
  assert.equal(estimateHeight("a\nb\nc", { base: 40, line: 20 }), 80);
});
