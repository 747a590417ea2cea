// Draw ```mermaid fences. Loaded only on pages that have a diagram (and by the editor once its preview has one).
// mermaid comes as an ES module, imported on first use: its core and the chunks of the diagram types a page uses
// (about 0.8 MB for a flowchart), not all 5.5 MB. The module's URL is on this script's data-mermaid-src, or on
// the editor's preview pane.
const mermaidSrc = (document.currentScript && document.currentScript.dataset.mermaidSrc)
  || (document.querySelector("[data-mermaid-src]") || { dataset: {} }).dataset.mermaidSrc;
// useMaxWidth: false draws a diagram at its natural size, so its text stays readable; a diagram wider than the
// page scrolls sideways inside its box (portal.css) instead of being scaled down to fit.
const natural = { useMaxWidth: false };
// layout "elk" (mermaid 12's default, said here because the pages preload its 1.6 MB chunk with the flowchart's:
// fetched with the rest instead of after mermaid has started drawing). dagre's chunk is 40 KB and lays out 3x
// faster, but overlaps the swimlane subgraphs of the complaint SOP's flowchart.
let mermaidReady = null;
function loadMermaid() {
  mermaidReady = mermaidReady || import(mermaidSrc).then(({ default: mermaid }) => {
    document.documentElement.dataset.mermaid = "loaded"; // for the tests: was mermaid needed on this view?
    mermaid.initialize({
      startOnLoad: false, securityLevel: "strict", theme: "neutral", layout: "elk",
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
// A drawn diagram is kept in localStorage, keyed by mermaid's versioned URL and the diagram's source: the next
// view of the SOP shows it at once, without loading or running mermaid (drawing a big flowchart takes a second of
// CPU on a front-desk PC). The SVG is mermaid's own output (securityLevel strict) made in this browser.
const CACHE = "sop-diagram:";
function cacheKey(source) {
  let h = 0x811c9dc5; // FNV-1a of the source, with the mermaid URL (its ?v= changes with the file)
  for (const ch of mermaidSrc + "\n" + source) { h ^= ch.codePointAt(0); h = Math.imul(h, 0x01000193) >>> 0; }
  return CACHE + h.toString(16) + ":" + source.length;
}
function remember(key, svg) {
  try { localStorage.setItem(key, svg); } catch (err) { // full: forget the diagrams kept so far, keep this one
    try {
      Object.keys(localStorage).filter((k) => k.startsWith(CACHE)).forEach((k) => localStorage.removeItem(k));
      localStorage.setItem(key, svg);
    } catch (again) { /* storage off: draw every time */ }
  }
}
function recall(key) {
  try { return localStorage.getItem(key); } catch (err) { return null; }
}
function drawDiagrams(root) {
  const nodes = Array.from(root.querySelectorAll(".sop-body .mermaid:not([data-processed])"));
  const keys = new Map(nodes.map((n) => [n, cacheKey(n.textContent)]));
  const toDraw = nodes.filter((n) => {
    const svg = recall(keys.get(n));
    if (!svg) return true;
    n.innerHTML = svg;
    n.setAttribute("data-processed", "true");
    return false;
  });
  scrollable(nodes.filter((n) => !toDraw.includes(n)));
  if (!toDraw.length) return Promise.resolve();
  return loadMermaid().then((mermaid) => mermaid.run({ nodes: toDraw })).then(() => {
    toDraw.forEach((n) => { if (n.querySelector("svg")) remember(keys.get(n), n.innerHTML); });
    scrollable(toDraw);
  }).catch((err) => console.error(err));
}
window.drawDiagrams = drawDiagrams;
if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => drawDiagrams(document));
else drawDiagrams(document);
document.addEventListener("htmx:afterSettle", (e) => drawDiagrams(e.target));
