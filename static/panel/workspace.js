// The workspace around every page: theme toggle, the tree as a menu on a phone, the resizable task dock,
// keyboard shortcuts, the header's search, and filters of grids as typed.
"use strict";

const PanelWorkspace = (function () {
  const root = document.documentElement;
  const store = (key, value) => {
    try {
      if (value === undefined) return localStorage.getItem(key);
      if (value === null) localStorage.removeItem(key); else localStorage.setItem(key, value);
    } catch (error) { /* storage refused: nothing is remembered */ }
    return null;
  };

  // -- theme: the system's unless chosen; the choice is remembered (theme.js applies it before drawing) ------
  const themeButtons = () => document.querySelectorAll("[data-theme-toggle]");
  function labelThemeButtons() {
    const dark = root.dataset.theme === "dark";
    themeButtons().forEach((button) => {
      button.textContent = dark ? "Light theme" : "Dark theme";
      button.setAttribute("aria-pressed", String(dark));
    });
  }
  function setTheme(theme) {
    root.dataset.theme = theme;
    store("panel-theme", theme);
    labelThemeButtons();
    document.dispatchEvent(new CustomEvent("panel:theme", {detail: {theme}}));
  }
  themeButtons().forEach((button) => button.addEventListener("click", () => {
    setTheme(root.dataset.theme === "dark" ? "light" : "dark");
  }));
  window.matchMedia?.("(prefers-color-scheme: dark)").addEventListener?.("change", (event) => {
    if (!store("panel-theme")) { root.dataset.theme = event.matches ? "dark" : "light"; labelThemeButtons(); }
  });
  labelThemeButtons();

  // -- the tree: beside the panel, or a menu on a phone ------------------------------------------------------
  const tree = document.getElementById("resource-tree");
  const treeToggle = document.querySelector(".tree-toggle");
  const phone = window.matchMedia("(max-width: 760px)");
  function openTree(open) {
    document.body.classList.toggle("tree-open", open);
    treeToggle?.setAttribute("aria-expanded", String(open));
  }
  treeToggle?.addEventListener("click", () => openTree(!document.body.classList.contains("tree-open")));
  document.addEventListener("click", (event) => {
    if (!document.body.classList.contains("tree-open")) return;
    if (event.target.closest(".tree-item[href]") || (!event.target.closest("#resource-tree, .tree-toggle"))) openTree(false);
  });
  function focusTree() {
    if (!tree) return;
    if (phone.matches) openTree(true);
    const target = tree.querySelector(".tree-item.current") || tree.querySelector(".tree-item");
    target?.focus();
  }

  // -- the task dock: drag its top edge (or arrow keys on it) to resize; its height is remembered ------------
  const dock = document.querySelector("[data-task-dock]");
  if (dock) {
    const handle = dock.querySelector(".dock-handle");
    const fold = dock.querySelector("[data-dock-fold]");
    const setHeight = (px) => {
      const height = Math.max(60, Math.min(Math.round(px), Math.round(window.innerHeight * 0.7)));
      dock.style.setProperty("--dock-height", `${height}px`);
      return height;
    };
    const saved = Number(store("panel-dock-height"));
    if (saved) setHeight(saved);
    const setFolded = (folded) => {
      dock.classList.toggle("folded", folded);
      fold.textContent = folded ? "Show" : "Hide";
      fold.setAttribute("aria-expanded", String(!folded));
      store("panel-dock-folded", folded ? "1" : null);
    };
    if (store("panel-dock-folded")) setFolded(true);
    fold.addEventListener("click", () => setFolded(!dock.classList.contains("folded")));
    handle.addEventListener("pointerdown", (event) => {
      event.preventDefault();
      handle.setPointerCapture(event.pointerId);
      const startY = event.clientY;
      const startHeight = dock.getBoundingClientRect().height;
      if (dock.classList.contains("folded")) setFolded(false);
      const move = (e) => setHeight(startHeight + startY - e.clientY);
      const up = () => {
        handle.removeEventListener("pointermove", move);
        store("panel-dock-height", String(Math.round(dock.getBoundingClientRect().height)));
      };
      handle.addEventListener("pointermove", move);
      handle.addEventListener("pointerup", up, {once: true});
    });
    handle.addEventListener("keydown", (event) => {
      const step = {ArrowUp: 20, ArrowDown: -20}[event.key];
      if (!step) return;
      event.preventDefault();
      store("panel-dock-height", String(setHeight(dock.getBoundingClientRect().height + step)));
    });
  }

  // -- menus close on Escape or a click elsewhere ------------------------------------------------------------
  document.addEventListener("click", (event) => {
    document.querySelectorAll("details.user-menu[open]").forEach((menu) => {
      if (!menu.contains(event.target)) menu.open = false;
    });
  });

  // -- keyboard: "/" or Ctrl+K searches, Alt+T goes to the tree, Escape closes what is open ---------------------
  const search = document.getElementById("global-search");
  const typing = (target) => target.closest("input, textarea, select, [contenteditable=true]");
  document.addEventListener("keydown", (event) => {
    if ((event.key === "/" && !typing(event.target) && !event.ctrlKey && !event.metaKey && !event.altKey)
        || ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k")) {
      if (!search) return;
      event.preventDefault();
      search.focus();
      search.select();
    } else if (event.altKey && event.key.toLowerCase() === "t") {
      event.preventDefault();
      focusTree();
    } else if (event.key === "Escape") {
      document.querySelectorAll("details.user-menu[open]").forEach((menu) => { menu.open = false; });
      if (document.body.classList.contains("tree-open")) { openTree(false); treeToggle?.focus(); }
    }
  });

  // -- grids filtered as typed: <input data-grid-filter="#grid"> hides the rows that do not match ---------------
  document.querySelectorAll("input[data-grid-filter]").forEach((input) => {
    const grid = document.querySelector(input.dataset.gridFilter);
    if (!grid) return;
    const apply = () => {
      const words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
      grid.querySelectorAll("tbody tr[data-resource]").forEach((row) => {
        const text = row.textContent.toLowerCase();
        row.hidden = !words.every((word) => text.includes(word));
      });
    };
    input.addEventListener("input", apply);
    apply();
  });

  return {setTheme, focusTree, openTree, store};
})();
