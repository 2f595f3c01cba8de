// Model text to HTML (static/js/workspace/render.js): markdown, KaTeX (the vendored build), and hostile
// strings that must come out as text.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { test } from "node:test";

import { RenderCache, escapeHtml, renderRich, splitMath } from "../../static/js/workspace/render.js";

const katex = createRequire(import.meta.url)("../../static/vendor/katex/katex.min.js");
// Every tag the renderer may write; KaTeX's own output is spans, and MathML for screen readers.
const ALLOWED = new Set(["p", "br", "strong", "em", "del", "code", "pre", "ul", "ol", "li", "blockquote", "a", "span",
  "math", "semantics", "mrow", "mi", "mo", "mn", "msup", "msub", "mfrac", "msqrt", "mtext", "annotation", "mspace",
  "mstyle", "mtable", "mtr", "mtd", "mover", "munder", "mpadded", "menclose", "svg", "path", "line", "mroot", "msubsup"]);

function tags(html) {
  return [...html.matchAll(/<([a-zA-Z][a-zA-Z0-9-]*)([^>]*)>/g)].map((m) => ({ name: m[1].toLowerCase(), attrs: m[2] }));
}

function assertInert(html) {
  for (const tag of tags(html)) {
    assert.ok(ALLOWED.has(tag.name), `unexpected <${tag.name}> in ${html.slice(0, 300)}`);
    assert.doesNotMatch(tag.attrs, /\son[a-z]+\s*=/i, `event handler attribute in <${tag.name}${tag.attrs}>`);
    assert.doesNotMatch(tag.attrs, /(href|src)\s*=\s*"(?!https?:)/i, `non-http link in <${tag.name}${tag.attrs}>`);
  }
}

test("markdown: bold, italic, code, lists, paragraphs and line breaks", () => {
  const html = renderRich("So **17 × 4 = 68** and *then* `x = 1`.\nNext line\n\n- one\n- two\n\n1. a\n2. b", katex);
  assert.match(html, /<strong>17 × 4 = 68<\/strong>/);
  assert.match(html, /<em>then<\/em>/);
  assert.match(html, /<code>x = 1<\/code>/);
  assert.match(html, /<br>Next line/);
  assert.match(html, /<ul><li>one<\/li><li>two<\/li><\/ul>/);
  assert.match(html, /<ol><li>a<\/li><li>b<\/li><\/ol>/);
});

test("math: inline and display TeX through KaTeX; prices stay text", () => {
  const html = renderRich("Since \\(\\frac{1}{3} \\times 18 = 6\\) and $x^2$:\n\\[ a + b \\]\nIt costs $5 and $10.", katex);
  assert.equal((html.match(/class="katex"/g) || []).length, 3);
  assert.match(html, /class="katex-display"/);
  assert.match(html, /It costs \$5 and \$10\./);
  assertInert(html);
});

test("math inside code stays the TeX it was written as", () => {
  const html = renderRich("`$x^2$` and\n```\n\\(y\\)\n```", katex);
  assert.match(html, /<code>\$x\^2\$<\/code>/);
  assert.doesNotMatch(html, /katex/);
});

const HOSTILE = [
  "<script>window.__xss = 1</script>Start",
  "<img src=x onerror=\"window.__xss=2\"> image",
  "[click](javascript:window.__xss=3) and [ok](https://example.org/a?b=1&c=\"2\")",
  "$\\href{javascript:window.__xss=4}{click}$ and $\\url{javascript:alert(1)}$",
  "$\\text{<img src=x onerror=alert(5)>}$ and $\\htmlClass{x}{y}$ and $\\includegraphics{x.png}$",
  "{{ user.password }} {% csrf_token %} ${alert(6)} <%= 7 %>",
  "abc\u202Edcba\u2066x\u2069 zero\u200Bwidth \u200D\uFEFF",
  "**<b>bold</b>** *<i onclick=x>*",
  "```\n<script>alert(8)</script>\n```",
  "> <svg onload=alert(9)>",
];

test("hostile strings render as text: no tag, handler or script URL of their own", () => {
  for (const text of HOSTILE) {
    const html = renderRich(text, katex);
    assertInert(html);
    assert.doesNotMatch(html, /<script|<img|<svg|href="javascript|<b>|<i /i, text);
  }
});

test("a javascript: link stays literal text; an https link is a link that opens apart", () => {
  const html = renderRich(HOSTILE[2], katex);
  assert.match(html, /\[click\]\(javascript:window.__xss=3\)/);
  assert.match(html, /<a href="https:\/\/example.org\/a\?b=1&amp;c=&quot;2&quot;" rel="noopener noreferrer nofollow" target="_blank">ok<\/a>/);
});

test("KaTeX \\href with trust off writes no link", () => {
  const html = renderRich(HOSTILE[3], katex);
  assert.doesNotMatch(html, /<a /);
});

test("template syntax is shown as written", () => {
  const html = renderRich(HOSTILE[5], katex);
  assert.match(html, /\{\{ user.password \}\} \{% csrf_token %\}/);
  assert.match(html, /&lt;%= 7 %&gt;/);
});

test("bidi overrides and zero-width characters are shown as marks and no longer act", () => {
  const html = renderRich(HOSTILE[6], katex);
  for (const c of ["\u202E", "\u2066", "\u2069", "\u200B", "\u200D", "\uFEFF"]) assert.ok(!html.includes(c));
  for (const name of ["RLO", "LRI", "PDI", "ZWSP", "ZWJ", "BOM"]) assert.match(html, new RegExp(`>${name}<`));
});

test("a 50,000-character step renders whole, fast", () => {
  const long = "word $x_1$ and **b** ".repeat(2500);
  const t0 = performance.now();
  const html = renderRich(long, katex);
  const ms = performance.now() - t0;
  assert.equal((html.match(/class="katex"/g) || []).length, 2500);
  assert.ok(ms < 3000, `${ms} ms`);
  const plain = "x".repeat(50_000);
  assert.equal(renderRich(plain, katex), `<p>${plain}</p>`);
});

test("without KaTeX the TeX is shown as text", () => {
  assert.equal(renderRich("$x<y$", null), '<p><span class="tex-raw">$x&lt;y$</span></p>');
});

test("escapeHtml escapes the five specials", () => {
  assert.equal(escapeHtml(`<a href="x" onclick='y'>&</a>`), "&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&lt;/a&gt;");
});

test("splitMath keeps prices as text and loses nothing but the breaks beside display math", () => {
  const cases = [
    ["Cost per gallon = $3.5, Total = $3.5 * 4000 = $14,000.", []],
    ["The answer is $\\boxed{2800}$.", ["\\boxed{2800}"]],
    ["pays $5 and then $x^2$ more", ["x^2"]],
    ["a $ with space $ is no math", []],
  ];
  for (const [text, math] of cases) {
    const parts = splitMath(text);
    assert.deepEqual(parts.filter((p) => p.tex !== undefined).map((p) => p.tex), math, text);
    assert.equal(parts.map((p) => p.source ?? p.text).join(""), text);
  }
});

test("the render cache keeps the most recent entries", () => {
  const cache = new RenderCache(2);
  let made = 0;
  const make = () => { made += 1; return `html${made}`; };
  cache.get(1, make); cache.get(2, make); cache.get(1, make); cache.get(3, make);
  assert.equal(made, 3);
  assert.equal(cache.get(1, make), "html1");
  assert.equal(cache.get(2, make), "html4"); // 2 was evicted
});
