// Render math in every .math element (guidelines, pages other than the workspace) with the locally
// served KaTeX. The text arrives escaped by Django; only delimited TeX is handed to KaTeX (trust off:
// no \href, no HTML), everything else stays a text node. The delimiter rules are the workspace's
// (static/js/workspace/render.js: prices like "$5 and $10" stay text).
import { splitMath } from "./workspace/render.js";

function renderText(node) {
  const parts = splitMath(node.nodeValue);
  if (!parts.some((part) => part.tex !== undefined)) return;
  const fragment = document.createDocumentFragment();
  for (const part of parts) {
    if (part.tex === undefined) {
      fragment.appendChild(document.createTextNode(part.text));
      continue;
    }
    const span = document.createElement("span");
    try {
      window.katex.render(part.tex, span, { displayMode: part.display, throwOnError: false, trust: false, strict: "ignore" });
    } catch {
      span.textContent = part.source; // never lose the text, whatever KaTeX thinks of it
    }
    fragment.appendChild(span);
  }
  node.parentNode.replaceChild(fragment, node);
}

export function renderMath(root) {
  if (!window.katex) return;
  for (const el of (root || document).querySelectorAll(".math")) {
    const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT, {
      acceptNode: (node) => (node.parentElement.closest(".katex, code, pre") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
    });
    const nodes = [];
    while (walker.nextNode()) nodes.push(walker.currentNode);
    nodes.forEach(renderText);
  }
}

window.stepwiseSplitMath = splitMath;
window.stepwiseRenderMath = renderMath;
renderMath(document); // a module runs after the document is parsed
