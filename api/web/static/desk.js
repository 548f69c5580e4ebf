// Keys on the review page: c / w / i press that verdict's button of the focused cell, j / k
// move to the next / previous cell. The buttons work without this script.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  const cells = Array.from(document.querySelectorAll("[data-cell]"));
  if (!cells.length) return;
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target && target.hasAttribute("data-cell")) target.focus();  // where the last review left off
  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.closest("input, textarea, select")) return;  // typing a note
    const cell = event.target.closest("[data-cell]");
    if (!cell) return;
    const key = event.key.toLowerCase();
    const button = cell.querySelector(`button[data-key="${key}"]`);
    if (button) { event.preventDefault(); button.click(); return; }
    const step = { j: 1, k: -1 }[key];
    if (step) {
      const next = cells[cells.indexOf(cell) + step];
      if (next) { event.preventDefault(); next.focus(); }
    }
  });
});
