// Live resources: one ws/cluster/resources/ socket per page. The server sends every resource the user may
// see, then the resources of each node as it polls (or goes silent), and of each guest a task changed ("guests":
// their resources in data, the VMIDs of deleted ones in gone). This file keeps them in a store and
// paints what the page marks:
//   [data-resource-tree]               the resource tree (Datacenter > nodes > guests)
//   [data-resource="node/pve1"]        a row or card; inside, [data-field=status|cpu|mem|disk|uptime]
//   [data-live-summary]                the datacenter summary; inside, [data-summary=...]
// and tells other scripts with a "panel:resources" event ({node}: the node just pushed, or null for all).
"use strict";

const PanelResources = (function () {
  const store = new Map(); // id -> resource, as /api2/json/cluster/resources has it
  const GUEST_TYPES = {qemu: "vm", lxc: "ct"};
  const {size, percent, duration} = PanelFormat;
  const ratio = (used, total) => (total ? used / total : 0);
  // The badge table of a resource's status word: a guest's state, or a node's (or storage's) status.
  const kindOf = (resource) => (GUEST_TYPES[resource.type] ? "guest" : "node");
  function setBar(bar, fraction, label) {
    bar.querySelector("span").style.width = `${Math.min(100 * fraction, 100).toFixed(1)}%`;
    bar.querySelector("em").textContent = label;
    bar.title = label;
  }

  // What each field shows: a badge, a bar (fraction and its label) and/or a text.
  const FIELDS = {
    status: (r) => ({badge: r.status, kind: kindOf(r)}),
    cpu: (r) => (r.cpu === undefined ? null : {fraction: r.cpu, label: percent(r.cpu), text: percent(r.cpu)}),
    mem: (r) => (r.maxmem === undefined ? null : {fraction: ratio(r.mem, r.maxmem), label: percent(ratio(r.mem, r.maxmem)),
                                                 text: `${size(r.mem)} of ${size(r.maxmem)}`}),
    disk: (r) => ({fraction: ratio(r.disk, r.maxdisk), label: percent(ratio(r.disk, r.maxdisk)),
                   text: r.maxdisk ? `${size(r.disk)} of ${size(r.maxdisk)}` : "—"}),
    uptime: (r) => (r.uptime === undefined ? null : {text: duration(r.uptime)}),
    actions: (r) => ({allowed: r.status}),  // children with data-states: shown in those states only
  };

  function paintResource(element, resource) {
    element.querySelectorAll("[data-field]").forEach((cell) => {
      const shown = FIELDS[cell.dataset.field] && FIELDS[cell.dataset.field](resource);
      if (!shown) return;
      const badge = cell.querySelector(".badge");
      if (badge && shown.badge) PanelFormat.setBadge(badge, shown.kind, shown.badge);
      const bar = cell.querySelector(".bar");
      if (bar && shown.fraction !== undefined) setBar(bar, shown.fraction, shown.label);
      const text = cell.querySelector("[data-text]");
      if (text && shown.text !== undefined) text.textContent = shown.text;
      if (shown.allowed !== undefined) {
        cell.querySelectorAll("[data-states]").forEach((action) => {
          action.hidden = !action.dataset.states.split(" ").includes(shown.allowed);
        });
      }
    });
  }

  // A guest deleted under the eyes of its page: said so, and nothing left to act on.
  function markGone(vmids) {
    for (const vmid of vmids) {
      for (const type of Object.keys(GUEST_TYPES)) {
        document.querySelectorAll(`[data-resource="${type}/${vmid}"]`).forEach((element) => {
          element.querySelectorAll('[data-field="status"] .badge').forEach((badge) => {
            badge.textContent = "deleted";
            badge.className = "badge muted";
          });
          element.querySelectorAll('[data-field="actions"] [data-states]').forEach((action) => { action.hidden = true; });
          element.classList.add("gone");
        });
      }
    }
  }

  function paintMarked() {
    document.querySelectorAll("[data-resource]").forEach((element) => {
      const resource = store.get(element.dataset.resource);
      if (resource) paintResource(element, resource);
    });
  }

  // The datacenter summary, from the store: what cluster/summary.py's datacenter_summary computes.
  function paintSummary(card) {
    const all = [...store.values()];
    const nodes = all.filter((r) => r.type === "node");
    const online = nodes.filter((r) => r.status === "online");
    const guests = {vm: {running: 0, stopped: 0, other: 0, total: 0}, ct: {running: 0, stopped: 0, other: 0, total: 0}};
    for (const r of all) {
      const counts = guests[GUEST_TYPES[r.type]];
      if (!counts) continue;
      counts[r.status === "running" || r.status === "stopped" ? r.status : "other"] += 1;
      counts.total += 1;
    }
    const sum = (field) => online.reduce((total, r) => total + (r[field] || 0), 0);
    const cores = sum("maxcpu");
    const cpu = cores ? online.reduce((total, r) => total + r.cpu * r.maxcpu, 0) / cores : 0;
    const health = nodes.length && online.length === nodes.length ? "ok" : (online.length ? "degraded" : "down");
    const set = (name, text) => {
      const element = card.querySelector(`[data-summary="${name}"]`);
      if (element) element.textContent = text;
    };
    // Nodes the user may not see are not "down": the health and the resources are shown only over some node.
    card.querySelectorAll("[data-summary-nodes]").forEach((box) => { box.hidden = !nodes.length; });
    const healthBadge = card.querySelector('[data-summary="health"]');
    if (healthBadge) { healthBadge.textContent = health; healthBadge.className = `badge ${health === "ok" ? "ok" : "error"}`; }
    set("online", online.length);
    set("total", nodes.length);
    for (const kind of ["vm", "ct"]) {
      const c = guests[kind];
      set(kind, `${c.running} running, ${c.stopped} stopped${c.other ? `, ${c.other} other or unknown` : ""} (${c.total} in all)`);
    }
    const bars = {cpu: [cpu, 1, `of ${cores} CPUs`], memory: [sum("mem"), sum("maxmem")], storage: [sum("disk"), sum("maxdisk")]};
    for (const [name, [used, total, caption]] of Object.entries(bars)) {
      const bar = card.querySelector(`[data-summary-bar="${name}"] .bar`);
      if (bar) setBar(bar, ratio(used, total), percent(ratio(used, total)));
      set(`${name}-text`, caption || `${size(used)} of ${size(total)}`);
    }
  }

  // -- the resource tree: Server View (nodes > guests, storage), Folder View (by type), Pool View -----------

  const EXPAND_UP_TO = 50; // a group with more members starts folded; its list is drawn when opened
  const TYPE_ICON = {node: "node", qemu: "vm", lxc: "ct", storage: "storage", pool: "pool"};
  const byGuest = (a, b) => a.vmid - b.vmid;
  const byName = (a, b) => (a.name || "").localeCompare(b.name || "");

  // One line of the tree: a type icon with a state dot, and a label cut with an ellipsis, whole in its tooltip.
  function treeLink(href, text, type, status, current, kind) {
    const link = document.createElement(href ? "a" : "span");
    if (href) link.href = href;
    link.className = `tree-item${current ? " current" : ""}`;
    if (current) link.setAttribute("aria-current", "page");
    const icon = document.createElement("span");
    icon.className = "state-icon";
    const shape = document.createElement("i");
    shape.className = `type-icon ${TYPE_ICON[type] || type}`;
    icon.append(shape);
    if (status !== undefined) {
      const dot = document.createElement("i");
      dot.className = `dot ${PanelFormat.tone(kind || kindOf({type}), status)}`;
      icon.append(dot);
    }
    const label = document.createElement("span");
    label.className = "label";
    label.textContent = text;
    link.append(icon, label);
    link.title = status ? `${text} (${status})` : text;
    return link;
  }

  function resourceLink(r, current) {
    if (GUEST_TYPES[r.type]) {
      return treeLink(`/guests/${r.vmid}/`, `${r.vmid} (${r.name})`, r.type, r.status, r.id === current, "guest");
    }
    if (r.type === "node") {
      return treeLink(`/nodes/${encodeURIComponent(r.node)}/`, r.node, "node", r.status, r.id === current, "node");
    }
    if (r.type === "storage") {
      return treeLink(`/nodes/${encodeURIComponent(r.node)}/tab/storage/`, `${r.storage} (${r.node})`, "storage",
                      r.status, false, "node");
    }
    return treeLink(null, r.name, r.type, undefined, false);
  }

  // The groups of a view: [{key, head: () => element, members: () => [resource]}], in their order.
  function groupsOf(view, current) {
    const all = [...store.values()];
    const guests = all.filter((r) => GUEST_TYPES[r.type]);
    if (view === "type") {
      const folder = (key, label, type, members) => ({
        key, members: () => members,
        head: () => { const item = treeLink(null, `${label} (${members.length})`, type); item.classList.add("tree-folder"); return item; },
      });
      const pools = [...new Set(guests.map((r) => r.pool).filter(Boolean))].sort()
        .map((name) => ({type: "pool", name, id: `pool/${name}`}));
      return [
        folder("nodes", "Nodes", "node", all.filter((r) => r.type === "node").sort(byName)),
        folder("qemu", "Virtual Machines", "qemu", guests.filter((r) => r.type === "qemu").sort(byGuest)),
        folder("lxc", "Containers", "lxc", guests.filter((r) => r.type === "lxc").sort(byGuest)),
        folder("storage", "Storage", "storage", all.filter((r) => r.type === "storage").sort(byName)),
        folder("pools", "Pools", "pool", pools),
      ].filter((group) => group.members().length);
    }
    if (view === "pool") {
      const names = [...new Set(guests.map((r) => r.pool).filter(Boolean))].sort();
      return names.map((name) => {
        const members = guests.filter((r) => r.pool === name).sort(byGuest);
        return {key: `pool/${name}`, members: () => members,
                head: () => treeLink(null, `${name} (${members.length})`, "pool")};
      });
    }
    const nodes = [...new Set(all.map((r) => r.node).filter(Boolean))].sort();
    return nodes.map((name) => {
      const node = store.get(`node/${name}`);
      const members = () => [
        ...guests.filter((r) => r.node === name).sort(byGuest),
        ...all.filter((r) => r.type === "storage" && r.node === name),
      ];
      return {key: `node/${name}`, members, mine: current === `node/${name}` || store.get(current)?.node === name,
              head: () => (node ? resourceLink(node, current)
                                 : treeLink(null, name, "node", "unknown", false, "node"))};
    });
  }

  function drawMembers(details, group, current) {
    const list = document.createElement("ul");
    for (const r of group.members()) {
      const item = document.createElement("li");
      item.dataset.id = r.id;
      item.append(resourceLink(r, current));
      list.append(item);
    }
    details.querySelector("ul")?.remove();
    details.append(list);
  }

  function drawTree(tree) {
    const current = tree.dataset.current || "";
    const view = tree.dataset.view || "server";
    let root = tree.querySelector("ul.tree-groups");
    if (!root || root.dataset.view !== view) {
      root = document.createElement("ul");
      root.className = "tree-groups";
      root.dataset.view = view;
      const top = document.createElement("ul");
      top.className = "tree-root";
      const item = document.createElement("li");
      item.append(treeLink("/", "Datacenter", "datacenter", undefined, current === ""), root);
      top.append(item);
      tree.replaceChildren(top);
    }
    const groups = groupsOf(view, current);
    const keep = new Set(groups.map((g) => g.key));
    root.querySelectorAll(":scope > li").forEach((li) => { if (!keep.has(li.dataset.group)) li.remove(); });
    let previous = null;
    for (const group of groups) {
      let item = [...root.children].find((li) => li.dataset.group === group.key);
      let details = item?.querySelector("details");
      if (!item) {
        item = document.createElement("li");
        item.dataset.group = group.key;
        details = document.createElement("details");
        details.open = group.mine || group.members().length <= EXPAND_UP_TO;
        details.addEventListener("toggle", () => {
          if (details.open && details.group) drawMembers(details, details.group, tree.dataset.current || "");
        });
        item.append(details);
      }
      details.group = group;
      const summary = document.createElement("summary");
      summary.append(group.head());
      details.querySelector("summary")?.remove();
      details.prepend(summary);
      if (details.open) drawMembers(details, group, current);
      if (previous ? previous.nextSibling !== item : root.firstChild !== item) {
        root.insertBefore(item, previous ? previous.nextSibling : root.firstChild);
      }
      previous = item;
    }
    if (!groups.length && !root.querySelector(".empty")) {
      const empty = document.createElement("li");
      empty.className = "empty";
      empty.textContent = view === "pool" ? "No pools with guests you may see." : "Nothing you may see yet.";
      root.append(empty);
    } else if (groups.length) {
      root.querySelector(":scope > .empty")?.remove();
    }
  }

  // The view chosen in the tree's head is remembered.
  document.querySelectorAll("[data-tree-view]").forEach((select) => {
    const tree = select.closest(".tree")?.querySelector("[data-resource-tree]");
    if (!tree) return;
    select.value = PanelWorkspace.store("panel-tree-view") || "server";
    if (!select.value) select.value = "server";
    tree.dataset.view = select.value;
    select.addEventListener("change", () => {
      tree.dataset.view = select.value;
      PanelWorkspace.store("panel-tree-view", select.value);
      if (store.size) drawTree(tree);
    });
  });

  // Arrow keys move through the tree's lines, Left and Right fold and unfold a group.
  document.querySelectorAll("[data-resource-tree]").forEach((tree) => tree.addEventListener("keydown", (event) => {
    const item = event.target.closest(".tree-item");
    if (!item) return;
    const items = [...tree.querySelectorAll(".tree-item")].filter((el) => el.offsetParent !== null);
    const at = items.indexOf(item);
    const details = item.closest("summary") ? item.closest("details") : null;
    if (event.key === "ArrowDown" && at < items.length - 1) items[at + 1].focus();
    else if (event.key === "ArrowUp" && at > 0) items[at - 1].focus();
    else if (event.key === "ArrowRight" && details && !details.open) details.open = true;
    else if (event.key === "ArrowLeft" && details && details.open) details.open = false;
    else return;
    event.preventDefault();
  }));

  // -- a node's own figures (/nodes/{node}/status), fetched when its poll is pushed ------------------------

  function engineBadge(engine) {
    const badge = document.createElement("span");
    badge.className = `badge ${engine.ok ? "ok" : "error"}`;
    badge.textContent = engine.ok ? engine.version : engine.error;
    return badge;
  }

  async function paintNodeStatus(facts) {
    const response = await fetch(facts.dataset.nodeStatus, {credentials: "same-origin"});
    if (!response.ok) return;
    const s = (await response.json()).data;
    const set = (name, value) => {
      const element = facts.querySelector(`[data-status="${name}"]`);
      if (element && value !== undefined) element.replaceChildren(value);
    };
    set("loadavg", s.loadavg.join(", "));
    set("swap", s.swap.total ? `${size(s.swap.used)} of ${size(s.swap.total)}` : "none");
    set("rootfs", `${size(s.rootfs.used)} of ${size(s.rootfs.total)}`);
    set("kversion", s.kversion || "—");
    set("last_seen", s.last_seen ? PanelFormat.date(s.last_seen) : "never");
    for (const [name, engine] of Object.entries(s.engines || {})) set(`engine-${name}`, engineBadge(engine));
  }

  document.addEventListener("panel:resources", (event) => {
    document.querySelectorAll("[data-node-status]").forEach((facts) => {
      if (event.detail.node === facts.dataset.node) paintNodeStatus(facts).catch(() => {});
    });
  });

  // -- the socket -----------------------------------------------------------------------------------------

  function apply(message) {
    if (message.type === "guests") {
      markGone(message.gone);
      const changed = new Set([...message.gone, ...message.data.map((r) => r.vmid)]);
      for (const [id, r] of store) if (GUEST_TYPES[r.type] && changed.has(r.vmid)) store.delete(id);
      message = {...message, node: null};  // a guest may have changed node: draw every node again
    } else if (message.type !== "resources") {
      return;
    } else if (message.node === null) {
      store.clear();
    } else {
      for (const [id, r] of store) if (r.node === message.node) store.delete(id);
    }
    for (const r of message.data || []) store.set(r.id, r);
    paintMarked();
    document.querySelectorAll("[data-live-summary]").forEach(paintSummary);
    document.querySelectorAll("[data-resource-tree]").forEach(drawTree);
    document.dispatchEvent(new CustomEvent("panel:resources", {detail: {node: message.node}}));
  }

  // A lost connection says so in the header (the figures on screen are then the last ones known).
  const liveStatus = document.querySelector("[data-live-status]");
  function connect() {
    const ws = new WebSocket(socketUrl("/ws/cluster/resources/"));  // live.js
    ws.onmessage = (event) => { if (liveStatus) liveStatus.hidden = true; apply(JSON.parse(event.data)); };
    ws.onclose = () => {
      if (liveStatus && !liveStatus.dataset.leaving) liveStatus.hidden = false;
      setTimeout(connect, 5000);
    };
  }
  window.addEventListener("beforeunload", () => { if (liveStatus) liveStatus.dataset.leaving = "1"; });

  if (document.querySelector("[data-resource-tree], [data-resource], [data-live-summary]")) connect();
  return {store};
})();
