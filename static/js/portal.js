// Small behaviours that must not be inline (CSP: script-src 'self').
document.addEventListener("click", (e) => {
  const btn = e.target.closest("[data-print]");
  if (btn) window.print();
});

function resultLinks() {
  return Array.from(document.querySelectorAll("#search-results a.result"));
}

document.addEventListener("keydown", (e) => {
  const t = e.target;
  // "/" focuses the search box from anywhere (unless typing in a field).
  if (e.key === "/" && !e.ctrlKey && !e.metaKey && !e.altKey) {
    if (t.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(t.tagName)) return;
    const box = document.querySelector('[data-search-box="main"]') || document.querySelector("[data-search-box]");
    if (box) { e.preventDefault(); box.focus(); box.select(); }
    return;
  }
  // In the search box: arrows move through the results, Enter opens the chosen one (the first by default).
  if (!t.matches || !t.matches('[data-search-box="main"]')) return;
  const links = resultLinks();
  if (!links.length) return;
  let i = links.findIndex((a) => a.classList.contains("selected"));
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    i = e.key === "ArrowDown" ? Math.min(i + 1, links.length - 1) : Math.max(i - 1, 0);
    links.forEach((a, k) => { a.classList.toggle("selected", k === i); a.setAttribute("aria-selected", k === i); });
    links[i].scrollIntoView({ block: "nearest" });
  } else if (e.key === "Enter") {
    e.preventDefault();
    window.location.href = links[Math.max(i, 0)].href;
  }
});
