// Live figures of the node table: ws/cluster/resources/ pushes the resources of each node as it polls.
(function () {
  "use strict";
  const table = document.querySelector("[data-live-resources]");
  if (!table) return;
  const percent = (used, total) => (total ? (100 * used / total) : 0);

  function setBar(cell, used, total) {
    if (!cell) return;
    const bar = cell.querySelector(".bar");
    const value = percent(used, total);
    bar.querySelector("span").style.width = Math.min(value, 100).toFixed(1) + "%";
    bar.querySelector("em").textContent = value.toFixed(1) + "%";
  }

  function apply(resources) {
    for (const r of resources) {
      if (r.type !== "node") continue;
      const row = table.querySelector(`tr[data-resource="${CSS.escape(r.id)}"]`);
      if (!row) continue;
      const badge = row.querySelector("[data-field=status] .badge");
      badge.textContent = r.status;
      badge.className = "badge " + (r.status === "online" ? "ok" : "error");
      setBar(row.querySelector("[data-field=cpu]"), r.cpu, 1);
      setBar(row.querySelector("[data-field=mem]"), r.mem, r.maxmem);
    }
  }

  function connect() {
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/ws/cluster/resources/`);
    ws.onmessage = (event) => apply(JSON.parse(event.data).data || []);
    ws.onclose = () => setTimeout(connect, 5000);
  }
  connect();
})();
