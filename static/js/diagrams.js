// Draw ```mermaid fences. Loaded only on pages that have a diagram.
/* global mermaid */
mermaid.initialize({ startOnLoad: false, securityLevel: "strict", theme: "neutral" });
function drawDiagrams(root) {
  const nodes = root.querySelectorAll(".sop-body .mermaid:not([data-processed])");
  if (nodes.length) mermaid.run({ nodes: Array.from(nodes) }).catch((err) => console.error(err));
}
document.addEventListener("DOMContentLoaded", () => drawDiagrams(document));
document.addEventListener("htmx:afterSettle", (e) => drawDiagrams(e.target));
