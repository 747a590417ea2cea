// Draw ```mermaid fences. Loaded only on pages that have a diagram (and by the editor once its preview has one).
// mermaid comes as an ES module, imported on first use: its core and the chunks of the diagram types a page uses
// (about 0.8 MB for a flowchart), not all 5.5 MB. The module's URL is on this script's data-mermaid-src, or on
// the editor's preview pane.
const mermaidSrc = (document.currentScript && document.currentScript.dataset.mermaidSrc)
  || (document.querySelector("[data-mermaid-src]") || { dataset: {} }).dataset.mermaidSrc;
// useMaxWidth: false draws a diagram at its natural size, so its text stays readable; a diagram wider than the
// page scrolls sideways inside its box (portal.css) instead of being scaled down to fit.
const natural = { useMaxWidth: false };
let mermaidReady = null;
function loadMermaid() {
  mermaidReady = mermaidReady || import(mermaidSrc).then(({ default: mermaid }) => {
    mermaid.initialize({
      startOnLoad: false, securityLevel: "strict", theme: "neutral",
      flowchart: natural, sequence: natural, gantt: natural, state: natural, class: natural, er: natural, journey: natural,
    });
    return mermaid;
  });
  return mermaidReady;
}
function scrollable(nodes) {
  // A box that scrolls must be reachable by keyboard (arrow keys scroll it once focused).
  nodes.forEach((n) => { if (n.scrollWidth > n.clientWidth) n.tabIndex = 0; });
}
function drawDiagrams(root) {
  const nodes = Array.from(root.querySelectorAll(".sop-body .mermaid:not([data-processed])"));
  if (!nodes.length) return Promise.resolve();
  return loadMermaid().then((mermaid) => mermaid.run({ nodes })).then(() => scrollable(nodes))
    .catch((err) => console.error(err));
}
window.drawDiagrams = drawDiagrams;
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => drawDiagrams(document));
else drawDiagrams(document);
document.addEventListener("htmx:afterSettle", (e) => drawDiagrams(e.target));
