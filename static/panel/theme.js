// The theme, before the page is drawn: the one the user chose (localStorage "panel-theme"), else the system's.
// Loaded without defer in <head> so that a dark page never flashes light; workspace.js has the toggle.
"use strict";
(function () {
  let chosen = null;
  try { chosen = localStorage.getItem("panel-theme"); } catch (error) { /* storage refused: follow the system */ }
  const system = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  document.documentElement.dataset.theme = chosen === "dark" || chosen === "light" ? chosen : system;
})();
