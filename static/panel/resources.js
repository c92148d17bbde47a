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
    cpu: (r) => ({fraction: r.cpu, label: percent(r.cpu), text: percent(r.cpu)}),
    mem: (r) => ({fraction: ratio(r.mem, r.maxmem), label: percent(ratio(r.mem, r.maxmem)),
                  text: `${size(r.mem)} of ${size(r.maxmem)}`}),
    disk: (r) => ({fraction: ratio(r.disk, r.maxdisk), label: percent(ratio(r.disk, r.maxdisk)),
                   text: r.maxdisk ? `${size(r.disk)} of ${size(r.maxdisk)}` : "—"}),
    uptime: (r) => ({text: duration(r.uptime)}),
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

  // -- the resource tree --------------------------------------------------------------------------------

  const EXPAND_UP_TO = 50; // a node with more guests starts folded; its list is drawn when opened

  function treeLink(href, text, kind, status, current) {
    const link = document.createElement(href ? "a" : "span");
    if (href) link.href = href;
    link.className = `tree-item${current ? " current" : ""}`;
    const dot = document.createElement("i");
    dot.className = `dot ${PanelFormat.tone(kind, status)}`;
    dot.title = status || "";
    link.append(dot, text);
    return link;
  }

  function guestsOf(node) {
    return [...store.values()].filter((r) => GUEST_TYPES[r.type] && r.node === node).sort((a, b) => a.vmid - b.vmid);
  }

  function drawGuests(details, node, current) {
    const list = document.createElement("ul");
    for (const guest of guestsOf(node)) {
      const item = document.createElement("li");
      item.dataset.id = guest.id;
      item.append(treeLink(`/guests/${guest.vmid}/`, `${guest.vmid} (${guest.name})`, "guest", guest.status,
                           guest.id === current));
      list.append(item);
    }
    details.querySelector("ul")?.remove();
    details.append(list);
  }

  function drawNode(tree, name) {
    const current = tree.dataset.current || "";
    const resource = store.get(`node/${name}`);
    const count = guestsOf(name).length;
    let details = tree.querySelector(`details[data-node="${CSS.escape(name)}"]`);
    if (!resource && !count) { details?.parentElement.remove(); return; }
    if (!details) {
      details = document.createElement("details");
      details.dataset.node = name;
      const mine = current === `node/${name}` || store.get(current)?.node === name;
      details.open = mine || count <= EXPAND_UP_TO;
      details.addEventListener("toggle", () => { if (details.open) drawGuests(details, name, tree.dataset.current); });
      const after = [...tree.querySelectorAll("details[data-node]")].find((d) => d.dataset.node > name);
      tree.querySelector("ul.tree-nodes").insertBefore(wrap(details), after ? after.parentElement : null);
    }
    const summary = document.createElement("summary");
    summary.append(treeLink(resource ? `/nodes/${encodeURIComponent(name)}/` : null,
                            `${name}${details.open ? "" : ` (${count})`}`, "node", resource ? resource.status : "",
                            current === `node/${name}`));
    details.querySelector("summary")?.remove();
    details.prepend(summary);
    if (details.open) drawGuests(details, name, current);
  }

  function wrap(details) {
    const item = document.createElement("li");
    item.append(details);
    return item;
  }

  function drawTree(tree, node) {
    if (!tree.querySelector("ul.tree-nodes")) {
      const root = document.createElement("ul");
      root.className = "tree-nodes";
      tree.replaceChildren(treeLink("/", "Datacenter", "node", "online", tree.dataset.current === ""), root);
    }
    const names = new Set(node === null ? [...tree.querySelectorAll("details[data-node]")].map((d) => d.dataset.node) : [node]);
    if (node === null) for (const r of store.values()) if (r.node) names.add(r.node);
    for (const name of names) drawNode(tree, name);
  }

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
    set("last_seen", s.last_seen ? new Date(s.last_seen * 1000).toLocaleString() : "never");
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
    document.querySelectorAll("[data-resource-tree]").forEach((tree) => drawTree(tree, message.node));
    document.dispatchEvent(new CustomEvent("panel:resources", {detail: {node: message.node}}));
  }

  function connect() {
    const ws = new WebSocket(socketUrl("/ws/cluster/resources/"));  // live.js
    ws.onmessage = (event) => apply(JSON.parse(event.data));
    ws.onclose = () => setTimeout(connect, 5000);
  }

  if (document.querySelector("[data-resource-tree], [data-resource], [data-live-summary]")) connect();
  return {store};
})();
