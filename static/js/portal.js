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
  // Results are a plain list of links. From the search box, ArrowDown moves focus onto the first result and the
  // arrows walk the list (a screen reader reads each link as it gets focus); ArrowUp from the first goes back to
  // the box. Enter in the box opens the first result; Enter on a result follows that link.
  const box = document.querySelector('[data-search-box="main"]');
  const inBox = t === box;
  if (!inBox && !(t.matches && t.matches("#search-results a.result"))) return;
  const links = resultLinks();
  if (!links.length) return;
  const i = links.indexOf(t);
  if (e.key === "ArrowDown" || e.key === "ArrowUp") {
    e.preventDefault();
    const next = e.key === "ArrowDown" ? Math.min(i + 1, links.length - 1) : i - 1;
    const target = next < 0 ? box : links[next];
    links.forEach((a) => a.classList.toggle("selected", a === target));
    target.focus();
  } else if (e.key === "Enter" && inBox) {
    e.preventDefault();
    window.location.href = links[0].href;
  }
});

// A sideways-scrolling grid (the roster month) opens with today's column in view, clear of the sticky name column.
function scrollToToday() {
  document.querySelectorAll("[data-scroll-today]").forEach((box) => {
    const today = box.querySelector("thead th.today");
    if (!today || box.scrollWidth <= box.clientWidth) return;
    const names = box.querySelector("thead th").offsetWidth;
    const at = today.getBoundingClientRect().left - box.getBoundingClientRect().left + box.scrollLeft;
    box.scrollLeft = Math.max(0, at + today.offsetWidth / 2 - (names + box.clientWidth) / 2);
  });
}
document.addEventListener("DOMContentLoaded", scrollToToday);

// After an htmx swap, a fragment may ask to be read out (data-announce, into the page's #flash live region) and
// say where focus goes next (data-focus): the sign panel's heading after a signature, the password after an error.
document.addEventListener("htmx:afterSettle", () => {
  document.querySelectorAll("[data-announce], [data-focus]").forEach((el) => {
    const text = el.getAttribute("data-announce");
    const target = el.getAttribute("data-focus") && document.querySelector(el.getAttribute("data-focus"));
    el.removeAttribute("data-announce");
    el.removeAttribute("data-focus");
    const flash = document.getElementById("flash");
    if (text && flash) {
      const p = document.createElement("p");
      p.className = "flash flash-success";
      p.textContent = text;
      flash.replaceChildren(p);
    }
    if (target) target.focus();
  });
});

// A swap that replaces the element holding focus (a checklist item re-drawn after its SOP is signed) would drop
// focus to <body>; put it back on the new element with the same id.
let focusedSwap = null;
document.addEventListener("htmx:beforeSwap", (e) => {
  const t = e.detail.target;
  if (t && t.id && document.activeElement !== document.body && t.contains(document.activeElement)) focusedSwap = t.id;
});
document.addEventListener("htmx:afterSettle", (e) => {
  if (!focusedSwap || !e.detail.target || e.detail.target.id !== focusedSwap) return;
  const el = document.getElementById(focusedSwap);
  focusedSwap = null;
  if (!el || (document.activeElement && document.activeElement !== document.body)) return;
  if (!el.matches("a, button, input, select, textarea, [tabindex]")) el.tabIndex = -1;
  el.focus();
});
