// Draw ```mermaid fences. Loaded only on pages that have a diagram.
/* global mermaid */
// useMaxWidth: false draws a diagram at its natural size, so its text stays readable; a diagram wider than the
// page scrolls sideways inside its box (portal.css) instead of being scaled down to fit.
const natural = { useMaxWidth: false };
mermaid.initialize({
  startOnLoad: false, securityLevel: "strict", theme: "neutral",
  flowchart: natural, sequence: natural, gantt: natural, state: natural, class: natural, er: natural, journey: natural,
});
function scrollable(nodes) {
  // A box that scrolls must be reachable by keyboard (arrow keys scroll it once focused).
  nodes.forEach((n) => { if (n.scrollWidth > n.clientWidth) n.tabIndex = 0; });
}
function drawDiagrams(root) {
  const nodes = Array.from(root.querySelectorAll(".sop-body .mermaid:not([data-processed])"));
  if (nodes.length) mermaid.run({ nodes }).then(() => scrollable(nodes)).catch((err) => console.error(err));
}
document.addEventListener("DOMContentLoaded", () => drawDiagrams(document));
document.addEventListener("htmx:afterSettle", (e) => drawDiagrams(e.target));
