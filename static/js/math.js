// Render math in every .math element with the locally served KaTeX. The text arrives escaped by
// Django; KaTeX only turns delimited TeX into its own markup (trust is off: no \href, no HTML).
(function () {
  function render(root) {
    if (!window.renderMathInElement) return;
    (root || document).querySelectorAll(".math").forEach(function (el) {
      window.renderMathInElement(el, {
        delimiters: [
          { left: "$$", right: "$$", display: true },
          { left: "\\[", right: "\\]", display: true },
          { left: "\\(", right: "\\)", display: false },
          { left: "$", right: "$", display: false },
        ],
        throwOnError: false,
        trust: false,
      });
    });
  }
  window.stepwiseRenderMath = render;
  document.addEventListener("DOMContentLoaded", function () { render(document); });
})();
