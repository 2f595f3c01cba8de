// Where each row of a windowed list sits, for rows of different heights. Pure: no DOM.
//
// The list is a sequence of items (today one per step; later also the header of a collapsible group
// of steps, an episode of a thinking trace, whose hidden steps are simply not items). Heights start as
// estimates and become measured ones as rows are rendered; a Fenwick tree keeps prefix sums, so
// setting a height, finding the offset of an item and finding the item at a scroll position each cost
// O(log n) whatever the chain's length (20,000 steps: 15 steps of a loop).

export class Heights {
  constructor(estimates) {
    const n = estimates.length;
    this.n = n;
    this.h = Float64Array.from(estimates);
    this.tree = new Float64Array(n + 1);
    for (let i = 0; i < n; i += 1) {
      this.tree[i + 1] += this.h[i];
      const parent = i + 1 + ((i + 1) & -(i + 1));
      if (parent <= n) this.tree[parent] += this.tree[i + 1];
    }
    this.mask = 1;
    while (this.mask * 2 <= n) this.mask *= 2;
  }

  get(i) { return this.h[i]; }

  /** Set item i's height; returns the change. */
  set(i, height) {
    const delta = height - this.h[i];
    if (delta === 0) return 0;
    this.h[i] = height;
    for (let j = i + 1; j <= this.n; j += j & -j) this.tree[j] += delta;
    return delta;
  }

  /** Sum of the heights of items 0..i-1: the top of item i. */
  offset(i) {
    let sum = 0;
    for (let j = Math.min(i, this.n); j > 0; j -= j & -j) sum += this.tree[j];
    return sum;
  }

  total() { return this.offset(this.n); }

  /** The item covering position y (0 for y <= 0, n-1 past the end). */
  indexAt(y) {
    if (this.n === 0) return -1;
    if (y <= 0) return 0;
    let pos = 0;
    let rest = y;
    for (let step = this.mask; step > 0; step >>= 1) {
      const next = pos + step;
      if (next <= this.n && this.tree[next] <= rest) {
        pos = next;
        rest -= this.tree[next];
      }
    }
    return Math.min(pos, this.n - 1);
  }
}

/** A first guess at a step's row height from its text: lines of `perLine` characters. */
export function estimateHeight(text, { base = 46, line = 23, perLine = 90 } = {}) {
  let lines = 0;
  for (const part of text.split("\n")) lines += Math.max(1, Math.ceil(part.length / perLine));
  return base + (Math.max(1, lines) - 1) * line;
}

/** The items to render for a viewport [top, top + height), with `overscan` pixels either side. */
export function visibleRange(heights, top, height, overscan = 600) {
  if (heights.n === 0) return [0, -1];
  const first = heights.indexAt(Math.max(0, top - overscan));
  const last = heights.indexAt(top + height + overscan);
  return [first, last];
}
