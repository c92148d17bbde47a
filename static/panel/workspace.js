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

  // -- the header's search: guests (name, VMID, tag, pool), nodes and pools of what the user may see -----------
  // Drawn from the resources the page's socket holds (resources.js); Enter without a pick opens the datacenter's
  // Search tab, the server's filterable grid of the same resources.
  const results = document.getElementById("search-results");
  const MAX_RESULTS = 12;
  function matches(query) {
    if (typeof PanelResources === "undefined") return [];
    const q = query.trim().toLowerCase();
    if (!q) return [];
    const found = [];
    const pools = new Set();
    for (const r of PanelResources.store.values()) {
      if (r.pool) pools.add(r.pool);
      const tags = (r.tags || "").split(/[;,\s]+/).filter(Boolean);
      let why = null;
      if (r.vmid !== undefined && String(r.vmid).startsWith(q)) why = `VMID ${r.vmid}`;
      else if ((r.name || "").toLowerCase().includes(q) && r.type !== "storage") why = r.type === "node" ? "node" : "name";
      else if (tags.some((tag) => tag.toLowerCase().includes(q))) why = `tag ${tags.find((tag) => tag.toLowerCase().includes(q))}`;
      if (!why) continue;
      if (r.vmid !== undefined) {
        found.push({href: `/guests/${r.vmid}/`, label: `${r.vmid} (${r.name})`, type: r.type, status: r.status, why,
                    rank: String(r.vmid) === q ? 0 : 1});
      } else if (r.type === "node") {
        found.push({href: `/nodes/${encodeURIComponent(r.node)}/`, label: r.node, type: "node", status: r.status,
                    why, rank: r.node.toLowerCase() === q ? 0 : 2});
      }
    }
    for (const pool of pools) {
      if (pool.toLowerCase().includes(q)) {
        found.push({href: `/datacenter/tab/search/?q=${encodeURIComponent(pool)}`, label: pool, type: "pool",
                    why: "pool", rank: 3});
      }
    }
    return found.sort((a, b) => a.rank - b.rank || a.label.localeCompare(b.label, undefined, {numeric: true}));
  }
  function drawResults() {
    const found = matches(search.value);
    results.replaceChildren();
    if (!search.value.trim()) { closeResults(); return; }
    found.slice(0, MAX_RESULTS).forEach((item, index) => {
      const li = document.createElement("li");
      li.id = `search-result-${index}`;
      li.setAttribute("role", "option");
      const link = document.createElement("a");
      link.href = item.href;
      link.tabIndex = -1;
      const icon = document.createElement("i");
      icon.className = `type-icon ${{qemu: "vm", lxc: "ct"}[item.type] || item.type}`;
      const label = document.createElement("span");
      label.textContent = item.label;
      const why = document.createElement("small");
      why.textContent = item.status ? `${item.why} · ${item.status}` : item.why;
      link.append(icon, label, why);
      li.append(link);
      results.append(li);
    });
    if (!found.length) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = `Nothing matches "${search.value.trim()}".`;
      results.append(li);
    } else if (found.length > MAX_RESULTS) {
      const li = document.createElement("li");
      li.className = "empty";
      li.textContent = `${found.length - MAX_RESULTS} more: press Enter for all`;
      results.append(li);
    }
    results.hidden = false;
    search.setAttribute("aria-expanded", "true");
    select(found.length ? 0 : -1);
  }
  let selected = -1;
  function select(index) {
    const options = [...results.querySelectorAll("li[role=option]")];
    selected = options.length ? (index + options.length) % options.length : -1;
    options.forEach((li, i) => li.setAttribute("aria-selected", String(i === selected)));
    if (selected >= 0) {
      search.setAttribute("aria-activedescendant", options[selected].id);
      options[selected].scrollIntoView({block: "nearest"});
    } else {
      search.removeAttribute("aria-activedescendant");
    }
  }
  function closeResults() {
    results.hidden = true;
    search.setAttribute("aria-expanded", "false");
    search.removeAttribute("aria-activedescendant");
    selected = -1;
  }
  if (search && results) {
    search.addEventListener("input", drawResults);
    search.addEventListener("focus", () => { if (search.value.trim()) drawResults(); });
    search.addEventListener("keydown", (event) => {
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        if (results.hidden) drawResults();
        select(selected + (event.key === "ArrowDown" ? 1 : -1));
        event.preventDefault();
      } else if (event.key === "Enter" && !results.hidden && selected >= 0) {
        event.preventDefault();
        location.href = results.querySelectorAll("li[role=option] a")[selected].href;
      } else if (event.key === "Escape") {
        closeResults();
      }
    });
    document.addEventListener("click", (event) => { if (!event.target.closest("[data-search]")) closeResults(); });
    // Typed before the resources came (or while they change): drawn again from what the socket holds now.
    document.addEventListener("panel:resources", () => {
      if (document.activeElement === search && search.value.trim()) drawResults();
    });
  }

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

  // -- grids with a check box per guest: the actions act on those chosen ---------------------------------------
  document.querySelectorAll("form[data-selection]").forEach((form) => {
    const boxes = () => [...form.querySelectorAll('input[name="vms"]')].filter((box) => !box.closest("tr")?.hidden);
    const all = form.querySelector("[data-select-all]");
    const count = form.querySelector("[data-selection-count]");
    const update = () => {
      const chosen = boxes().filter((box) => box.checked).length;
      count.textContent = chosen ? `${chosen} guest${chosen === 1 ? "" : "s"} chosen` : "No guest chosen";
      form.querySelectorAll(".selection-bar button").forEach((button) => { button.disabled = !chosen; });
      if (all) {
        all.checked = chosen > 0 && chosen === boxes().length;
        all.indeterminate = chosen > 0 && chosen < boxes().length;
      }
    };
    all?.addEventListener("change", () => { boxes().forEach((box) => { box.checked = all.checked; }); update(); });
    form.addEventListener("change", update);
    update();
  });

  return {setTheme, focusTree, openTree, store};
})();
