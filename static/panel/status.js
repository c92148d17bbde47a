// /status: poll /status.json every 10 s and refresh the figures in place (textContent only).
"use strict";

(function () {
  const card = document.getElementById("cluster-status");
  if (!card) return;
  const bytes = PanelFormat.size;
  const counts = (states) => Object.entries(states).map(([k, v]) => `${k}: ${v}`).join(", ");
  const set = (field, text) => {
    const cell = card.querySelector(`[data-field="${field}"]`);
    if (cell) cell.textContent = text;
  };
  const refresh = async () => {
    try {
      const response = await fetch(card.dataset.url, { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      const s = (await response.json()).data;
      set("health", s.health);
      set("nodes", `${s.nodes.online} of ${s.nodes.total}`);
      set("cpu", `${Math.round(s.cpu.usage * 100)} % of ${s.cpu.cores} cores`);
      set("memory", `${bytes(s.memory.used)} of ${bytes(s.memory.total)}`);
      set("storage", `${bytes(s.storage.used)} of ${bytes(s.storage.total)}`);
      set("vm", counts(s.guests.vm || {}));
      set("ct", counts(s.guests.ct || {}));
      set("time", PanelFormat.date(s.time));
    } catch (error) { /* keep the last figures until the next poll */ }
  };
  setInterval(refresh, 10000);
})();
