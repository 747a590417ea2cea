// The SOP editor: toolbar, autosave, jump-to-line, local times. No build step, no inline script (CSP).
// Without JavaScript the editor is a plain form with a Save button; everything here only adds to it.
/* global htmx */
(function () {
  "use strict";

  // Times are sent as UTC in <time datetime>; show them as the reader's local HH:MM.
  function localTimes(root) {
    root.querySelectorAll("time[data-local]").forEach((t) => {
      const d = new Date(t.getAttribute("datetime"));
      if (!isNaN(d)) t.textContent = d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", hour12: false });
    });
  }

  // Select one line of the textarea (1-based) and scroll it into view.
  function goToLine(area, line) {
    const lines = area.value.split("\n");
    const n = Math.max(1, Math.min(line, lines.length));
    let start = 0;
    for (let i = 0; i < n - 1; i++) start += lines[i].length + 1;
    area.focus();
    area.setSelectionRange(start, start + lines[n - 1].length);
    const height = area.scrollHeight / Math.max(lines.length, 1);
    area.scrollTop = Math.max(0, (n - 3) * height);
  }

  // Insert a snippet described by a toolbar button's data attributes.
  function insert(area, btn) {
    const start = area.selectionStart, end = area.selectionEnd;
    const chosen = area.value.slice(start, end);
    const mode = btn.dataset.mode;
    let text, selFrom, selTo;
    if (mode === "wrap") {
      const inner = chosen || btn.dataset.placeholder || "";
      text = (btn.dataset.before || "") + inner + (btn.dataset.after || "");
      selFrom = start + (btn.dataset.before || "").length;
      selTo = selFrom + inner.length;
    } else if (mode === "lines") {
      // Prefix every chosen line (or the current one).
      const lineStart = area.value.lastIndexOf("\n", start - 1) + 1;
      const block = area.value.slice(lineStart, end) || btn.dataset.placeholder || "";
      text = block.split("\n").map((l) => btn.dataset.prefix + l.replace(/^(#+\s|[-*]\s)/, "")).join("\n");
      area.setRangeText(text, lineStart, end, "end");
      area.dispatchEvent(new Event("input", { bubbles: true }));
      area.focus();
      return;
    } else {
      // A block: on lines of its own.
      const before = start > 0 && area.value[start - 1] !== "\n" ? "\n\n" : (start > 0 ? "\n" : "");
      text = before + btn.dataset.block.replace(/\\n/g, "\n") + "\n";
      selFrom = selTo = start + text.length;
    }
    area.setRangeText(text, start, end, "end");
    area.setSelectionRange(selFrom, selTo);
    area.focus();
    area.dispatchEvent(new Event("input", { bubbles: true }));
  }

  // mermaid is big: load diagrams.js (which imports mermaid and draws) only once the preview shows a diagram.
  let mermaidLoading = false;
  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const s = document.createElement("script");
      s.src = src;
      s.onload = resolve;
      s.onerror = reject;
      document.head.appendChild(s);
    });
  }
  function diagrams() {
    const pane = document.getElementById("preview-pane");
    if (!pane || !pane.querySelector(".mermaid")) return;
    if (window.drawDiagrams) return; // diagrams.js draws after every swap by itself
    if (mermaidLoading) return;
    mermaidLoading = true;
    loadScript(pane.dataset.diagramsSrc)
      .catch((err) => console.error(err));
  }

  function setUp() {
    localTimes(document);
    diagrams();
    const form = document.getElementById("draft-form");
    if (!form) return;
    const area = form.querySelector("textarea[name=body]");
    const toolbar = document.getElementById("editor-toolbar");
    if (toolbar) {
      toolbar.hidden = false;
      toolbar.addEventListener("click", (e) => {
        const btn = e.target.closest("button[data-mode]");
        if (btn) { e.preventDefault(); insert(area, btn); }
      });
    }

    // Autosave: every few seconds when something changed, never while a save is on its way, and not
    // after a conflict (the person decides what to do; their text stays in the textarea).
    let dirty = false, saving = false;
    const every = Number(form.dataset.autosaveMs || 3000);
    const conflict = () => !!document.querySelector("#save-status[data-conflict]");
    const status = () => document.getElementById("save-status");
    form.addEventListener("input", () => {
      dirty = true;
      const s = status();
      if (s && !conflict()) s.classList.add("unsaved");
    });
    form.addEventListener("change", () => { dirty = true; });
    setInterval(() => {
      if (!dirty || saving || conflict()) return;
      dirty = false;
      saving = true;
      htmx.trigger(form, "autosave");
    }, every);
    form.addEventListener("htmx:afterRequest", (e) => {
      if (e.detail.elt !== form) return; // the preview's requests bubble here too
      saving = false;
      if (!e.detail.successful && !conflict()) dirty = true; // a network error: try again later
    });
    let leaving = false; // Save, Submit and Upload post the whole form: nothing typed is left behind
    form.addEventListener("submit", () => { leaving = true; });
    window.addEventListener("beforeunload", (e) => {
      if (!leaving && (dirty || saving || conflict())) { e.preventDefault(); e.returnValue = ""; }
    });
  }

  // A problem in the list jumps to its line in the textarea.
  document.addEventListener("click", (e) => {
    const link = e.target.closest("[data-goto-line]");
    const area = document.querySelector("#draft-form textarea[name=body]");
    if (!link || !area) return;
    e.preventDefault();
    goToLine(area, Number(link.dataset.gotoLine));
  });

  // Buttons that need a second thought (retire, overwrite after a conflict).
  document.addEventListener("submit", (e) => {
    const btn = e.submitter;
    const text = (btn && btn.dataset.confirm) || e.target.dataset.confirm;
    if (text && !window.confirm(text)) e.preventDefault();
  }, true);

  document.addEventListener("htmx:afterSettle", (e) => { localTimes(e.target); diagrams(); });
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", setUp);
  else setUp();
})();
