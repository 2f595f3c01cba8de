// Render math in every .math element with the locally served KaTeX. The text arrives escaped by
// Django; only delimited TeX is handed to KaTeX (trust off: no \href, no HTML), everything else stays
// a text node, so nothing in an imported step can become markup.
//
// Delimiters: $$…$$ and \[…\] (display), \(…\) and $…$ (inline). A single $ follows pandoc's rule so
// prices stay text (GSM8K chains are full of them): the opening $ has a non-space right after it, the
// closing $ a non-space right before it and no digit right after it, and a $ with a space before it
// ends the search ("$5 and $10" is text, "$x^2$" is math). \$ is never a delimiter.
(function () {
  "use strict";
  const PAIRS = [["$$", "$$", true], ["\\[", "\\]", true], ["\\(", "\\)", false]];
  const SPACE = /\s/;

  function closingDollar(text, start) {
    // Index of the $ closing an inline $…$ opened at start - 1, or -1.
    if (start >= text.length || SPACE.test(text[start])) return -1;
    for (let j = start; j < text.length; j += 1) {
      const c = text[j];
      if (c === "\\") { j += 1; continue; } // \$ and other escapes belong to the TeX
      if (c === "\n" && text[j + 1] === "\n") return -1; // math never spans a blank line
      if (c !== "$") continue;
      if (SPACE.test(text[j - 1]) || j === start) return -1;
      if (/[0-9]/.test(text[j + 1] || "")) return -1;
      return j;
    }
    return -1;
  }

  function split(text) {
    // [{text}, {tex, display}, ...] in order; plain runs are merged.
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
      if (text.startsWith("$$", i)) { plain += "$$"; i += 2; continue; } // unclosed $$
      plain += text[i];
      i += 1;
    }
    pushPlain();
    // A display block starts its own line; drop the line break beside it so pre-wrap text shows no blank line.
    parts.forEach((part, n) => {
      if (!part.display) return;
      const before = parts[n - 1];
      const after = parts[n + 1];
      if (before && before.text !== undefined) before.text = before.text.replace(/[ \t]*\n[ \t]*$/, "");
      if (after && after.text !== undefined) after.text = after.text.replace(/^[ \t]*\n/, "");
    });
    return parts.filter((part) => part.tex !== undefined || part.text);
  }

  function renderText(node) {
    const parts = split(node.nodeValue);
    if (!parts.some((part) => part.tex !== undefined)) return;
    const fragment = document.createDocumentFragment();
    parts.forEach((part) => {
      if (part.tex === undefined) {
        fragment.appendChild(document.createTextNode(part.text));
        return;
      }
      const span = document.createElement("span");
      try {
        window.katex.render(part.tex, span, { displayMode: part.display, throwOnError: false, trust: false, strict: false });
      } catch (e) {
        span.textContent = part.source; // never lose the text, whatever KaTeX thinks of it
      }
      fragment.appendChild(span);
    });
    node.parentNode.replaceChild(fragment, node);
  }

  function render(root) {
    if (!window.katex) return;
    (root || document).querySelectorAll(".math").forEach((el) => {
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, {
        acceptNode: (node) => (node.parentElement.closest(".katex") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
      });
      const nodes = [];
      while (walker.nextNode()) nodes.push(walker.currentNode);
      nodes.forEach(renderText);
    });
  }

  window.stepwiseSplitMath = split;
  window.stepwiseRenderMath = render;
  document.addEventListener("DOMContentLoaded", () => render(document));
})();
