// Small behaviours that must not be inline (CSP: script-src 'self').
document.addEventListener("click", (e) => {
  const btn = e.target.closest("[data-print]");
  if (btn) window.print();
});
// "/" focuses the search box from anywhere (unless typing in a field).
document.addEventListener("keydown", (e) => {
  if (e.key !== "/" || e.ctrlKey || e.metaKey || e.altKey) return;
  const t = e.target;
  if (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName)) return;
  const box = document.querySelector("[data-search-box]");
  if (box) { e.preventDefault(); box.focus(); box.select(); }
});
