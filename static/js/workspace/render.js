// Model text (steps, problems) to HTML: a small markdown subset and TeX through KaTeX. Pure: no DOM, so
// node's test runner checks it (tests/js/render.test.mjs).
//
// Nothing in the input becomes markup of its own: every character of text goes through escapeHtml, the
// only tags written are the ones built here (strong, em, code, pre, del, ul/ol/li, blockquote, br, a for
// http(s) links only, spans), and TeX goes to KaTeX with trust off (no \href, \url, \htmlClass,
// \includegraphics: KaTeX shows them as errors, as text) and bounded sizes. Bidirectional overrides
// and zero-width characters, which can make a step read differently from what it says, are shown as
// visible marks instead of acting on the text.
//
// Math delimiters: $$…$$ and \[…\] (display), \(…\) and $…$ (inline). A single $ follows pandoc's rule so
// prices stay text (GSM8K chains are full of them): the opening $ has a non-space right after it, the
// closing $ a non-space right before it and no digit right after it, and a $ with a space before it
// ends the search ("$5 and $10" is text, "$x^2$" is math). \$ is never a delimiter.

const PAIRS = [["$$", "$$", true], ["\\[", "\\]", true], ["\\(", "\\)", false]];
const SPACE = /\s/;

function closingDollar(text, start) {
  if (start >= text.length || SPACE.test(text[start])) return -1;
  for (let j = start; j < text.length; j += 1) {
    const c = text[j];
    if (c === "\\") { j += 1; continue; }
    if (c === "\n" && text[j + 1] === "\n") return -1; // math never spans a blank line
    if (c !== "$") continue;
    if (SPACE.test(text[j - 1]) || j === start) return -1;
    if (/[0-9]/.test(text[j + 1] || "")) return -1;
    return j;
  }
  return -1;
}

/** [{text}, {tex, display, source}, ...] in order; plain runs merged. Concatenating the parts' `source`
 *  (math) and `text` gives the input back, less the line breaks beside display math. */
export function splitMath(text) {
  const parts = [];
  let plain = "";
  let i = 0;
  const pushPlain = () => { if (plain) parts.push({ text: plain }); plain = ""; };
  while (i < text.length) {
    let matched = false;
    for (const [open, close, display] of PAIRS) {
      if (!text.startsWith(open, i)) continue;
      const end = text.indexOf(close, i + open.length);
      if (end > i + open.length) {
        pushPlain();
        parts.push({ tex: text.slice(i + open.length, end), display, source: text.slice(i, end + close.length) });
        i = end + close.length;
        matched = true;
      }
      break;
    }
    if (matched) continue;
    if (text[i] === "\\" && text[i + 1] === "$") { plain += "\\$"; i += 2; continue; }
    if (text[i] === "$" && text[i + 1] !== "$") {
      const end = closingDollar(text, i + 1);
      if (end > 0) {
        pushPlain();
        parts.push({ tex: text.slice(i + 1, end), display: false, source: text.slice(i, end + 1) });
        i = end + 1;
        continue;
      }
    }
    if (text.startsWith("$$", i)) { plain += "$$"; i += 2; continue; }
    plain += text[i];
    i += 1;
  }
  pushPlain();
  parts.forEach((part, n) => {
    if (!part.display) return;
    const before = parts[n - 1];
    const after = parts[n + 1];
    if (before && before.text !== undefined) before.text = before.text.replace(/[ \t]*\n[ \t]*$/, "");
    if (after && after.text !== undefined) after.text = after.text.replace(/^[ \t]*\n/, "");
  });
  return parts.filter((part) => part.tex !== undefined || part.text);
}

// Characters that change how text around them reads without showing themselves.
const INVISIBLE = {
  "\u200b": "ZWSP", "\u200c": "ZWNJ", "\u200d": "ZWJ", "\u2060": "WJ", "\ufeff": "BOM", "\u00ad": "SHY",
  "\u200e": "LRM", "\u200f": "RLM", "\u061c": "ALM", "\u202a": "LRE", "\u202b": "RLE", "\u202c": "PDF",
  "\u202d": "LRO", "\u202e": "RLO", "\u2066": "LRI", "\u2067": "RLI", "\u2068": "FSI", "\u2069": "PDI",
  "\u0000": "NUL",
};
const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
// eslint-disable-next-line no-control-regex
const SPECIAL = /[&<>"'\u200b-\u200f\u2060\ufeff\u00ad\u061c\u202a-\u202e\u2066-\u2069\u0000]/g;

/** Text as HTML text: the five HTML specials escaped, invisible controls shown as marks. */
export function escapeHtml(text) {
  return String(text).replace(SPECIAL, (c) => {
    if (ESCAPES[c]) return ESCAPES[c];
    const code = "U+" + c.charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    return `<span class="ctl" title="${INVISIBLE[c] || "control"} ${code}">${INVISIBLE[c] || code}</span>`;
  });
}

const MARK = "\u0000"; // placeholders for math: \u0000 in the input was turned into a mark first

function katexHtml(katex, part) {
  if (!katex) return `<span class="tex-raw">${escapeHtml(part.source)}</span>`;
  try {
    // trust false: \href and friends render as errors (text); sizes bounded against hostile TeX.
    return katex.renderToString(part.tex, {
      displayMode: part.display, throwOnError: false, trust: false, strict: "ignore", maxSize: 20, maxExpand: 300,
      output: "htmlAndMathml",
    });
  } catch {
    return `<span class="tex-raw">${escapeHtml(part.source)}</span>`;
  }
}

const SAFE_URL = /^https?:\/\/[^\s<>]+$/i; // quotes are escaped in the attribute

function findClosing(s, token, from) {
  // The next `token` after `from` that is not preceded by a space (emphasis closes on a word).
  let j = s.indexOf(token, from);
  while (j !== -1 && (j === from || SPACE.test(s[j - 1]))) j = s.indexOf(token, j + 1);
  return j;
}

function inline(s, math, depth) {
  let out = "";
  let i = 0;
  let plainFrom = 0;
  const flush = (to) => { if (to > plainFrom) out += escapeHtml(s.slice(plainFrom, to)); };
  while (i < s.length) {
    const c = s[i];
    let html = null;
    let next = i + 1;
    if (c === MARK) {
      const end = s.indexOf(MARK, i + 1);
      html = math.html(Number(s.slice(i + 1, end)));
      next = end + 1;
    } else if (c === "\\" && /[\\`*_~[\]()#+\-.!>|]/.test(s[i + 1] || "")) {
      html = escapeHtml(s[i + 1]);
      next = i + 2;
    } else if (c === "`") {
      let run = 1;
      while (s[i + run] === "`") run += 1;
      const fence = "`".repeat(run);
      const end = s.indexOf(fence, i + run);
      if (end > i + run) {
        html = `<code>${escapeHtml(math.source(s.slice(i + run, end)))}</code>`;
        next = end + run;
      } else {
        html = escapeHtml(fence);
        next = i + run;
      }
    } else if (depth < 4 && (s.startsWith("**", i) || s.startsWith("__", i)) && s[i + 2] && !SPACE.test(s[i + 2])) {
      const token = s.slice(i, i + 2);
      const end = findClosing(s, token, i + 2);
      if (end > i + 2) {
        html = `<strong>${inline(s.slice(i + 2, end), math, depth + 1)}</strong>`;
        next = end + 2;
      }
    } else if (depth < 4 && s.startsWith("~~", i)) {
      const end = findClosing(s, "~~", i + 2);
      if (end > i + 2) {
        html = `<del>${inline(s.slice(i + 2, end), math, depth + 1)}</del>`;
        next = end + 2;
      }
    } else if (depth < 4 && c === "*" && s[i + 1] && !SPACE.test(s[i + 1]) && s[i + 1] !== "*") {
      const end = findClosing(s, "*", i + 1);
      if (end > i + 1) {
        html = `<em>${inline(s.slice(i + 1, end), math, depth + 1)}</em>`;
        next = end + 1;
      }
    } else if (c === "[" && depth < 4) {
      const found = /^\[([^\]\n]{1,500})\]\(([^)\s]{1,2000})\)/.exec(s.slice(i, i + 2600));
      if (found) {
        const url = math.source(found[2]);
        const label = inline(found[1], math, depth + 1);
        // Only http(s) becomes a link; javascript:, data: and the rest stay the text they are.
        html = SAFE_URL.test(url)
          ? `<a href="${escapeHtml(url)}" rel="noopener noreferrer nofollow" target="_blank">${label}</a>`
          : `[${label}](${escapeHtml(url)})`;
        next = i + found[0].length;
      }
    }
    if (html === null) { i += 1; continue; }
    flush(i);
    out += html;
    i = next;
    plainFrom = next;
  }
  flush(s.length);
  return out;
}

const FENCE = /^\s{0,3}(```|~~~)/;
const HEADING = /^\s{0,3}(#{1,6})\s+(.*)$/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const NUMBERED = /^\s{0,3}(\d{1,9})[.)]\s+(.*)$/;
const QUOTE = /^\s{0,3}>\s?(.*)$/;

function blocks(text, math) {
  const lines = text.split("\n");
  const out = [];
  let para = [];
  let list = null; // {tag, items, start}
  const endPara = () => {
    if (para.length) out.push(`<p>${para.map((line) => inline(line, math, 0)).join("<br>")}</p>`);
    para = [];
  };
  const endList = () => {
    if (!list) return;
    const start = list.tag === "ol" && list.start !== 1 ? ` start="${list.start}"` : "";
    out.push(`<${list.tag}${start}>${list.items.map((item) => `<li>${inline(item, math, 0)}</li>`).join("")}</${list.tag}>`);
    list = null;
  };
  for (let n = 0; n < lines.length; n += 1) {
    const line = lines[n];
    if (FENCE.test(line)) {
      endPara(); endList();
      const fence = FENCE.exec(line)[1];
      const body = [];
      n += 1;
      while (n < lines.length && !lines[n].trim().startsWith(fence)) { body.push(lines[n]); n += 1; }
      out.push(`<pre><code>${escapeHtml(math.source(body.join("\n")))}</code></pre>`);
      continue;
    }
    if (!line.trim()) { endPara(); endList(); continue; }
    let m = HEADING.exec(line);
    if (m) { endPara(); endList(); out.push(`<p class="md-h md-h${m[1].length}">${inline(m[2], math, 0)}</p>`); continue; }
    m = BULLET.exec(line);
    if (m && !/^\s{0,3}[-*_](\s*[-*_]){2,}\s*$/.test(line)) {
      endPara();
      if (!list || list.tag !== "ul") { endList(); list = { tag: "ul", items: [] }; }
      list.items.push(m[1]);
      continue;
    }
    m = NUMBERED.exec(line);
    if (m) {
      endPara();
      if (!list || list.tag !== "ol") { endList(); list = { tag: "ol", items: [], start: Number(m[1]) }; }
      list.items.push(m[2]);
      continue;
    }
    m = QUOTE.exec(line);
    if (m) { endPara(); endList(); out.push(`<blockquote>${inline(m[1], math, 0)}</blockquote>`); continue; }
    if (list) endList();
    para.push(line);
  }
  endPara();
  endList();
  return out.join("");
}

/** HTML for model text: markdown blocks and inline marks, math by `katex` (window.katex; none: TeX shown
 *  as text). */
export function renderRich(text, katex) {
  const parts = splitMath(String(text).replaceAll(MARK, "\ufffd"));
  const maths = [];
  let marked = "";
  for (const part of parts) {
    if (part.tex === undefined) { marked += part.text; continue; }
    marked += MARK + maths.length + MARK;
    maths.push(part);
  }
  const rendered = new Map();
  const math = {
    html(n) {
      if (!rendered.has(n)) rendered.set(n, katexHtml(katex, maths[n]));
      const part = maths[n];
      return part.display ? `<span class="math-display">${rendered.get(n)}</span>` : rendered.get(n);
    },
    // Inside code and link targets math is the text it was written as.
    // eslint-disable-next-line no-control-regex
    source(s) { return s.replace(/\u0000(\d+)\u0000/g, (_, n) => maths[Number(n)].source); },
  };
  return blocks(marked, math);
}

/** A bounded cache of rendered HTML (least recently used out first). */
export class RenderCache {
  constructor(limit = 3000) { this.limit = limit; this.map = new Map(); }
  get(key, make) {
    let html = this.map.get(key);
    if (html !== undefined) {
      this.map.delete(key);
      this.map.set(key, html);
      return html;
    }
    html = make();
    this.map.set(key, html);
    if (this.map.size > this.limit) this.map.delete(this.map.keys().next().value);
    return html;
  }
}
