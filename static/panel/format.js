// Formats and state badges shared by every script of the panel: the same as the server's panel_format
// filters, with the labels and colours of the server's choices (the page's #panel-badges JSON).
"use strict";

const PanelFormat = (function () {
  const badges = JSON.parse(document.getElementById("panel-badges")?.textContent || "{}");

  // Binary units, as panel_format.binary_size.
  function size(value) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    while (Math.abs(value) >= 1024 && i < units.length - 1) { value /= 1024; i++; }
    return i ? `${value.toFixed(2)} ${units[i]}` : `${Math.round(value)} B`;
  }
  const percent = (value) => `${(100 * value).toFixed(1)} %`;
  function duration(seconds) {
    if (!seconds) return "—";
    const pad = (n) => String(n).padStart(2, "0");
    const days = Math.floor(seconds / 86400);
    const clock = `${pad(Math.floor(seconds % 86400 / 3600))}:${pad(Math.floor(seconds % 3600 / 60))}:${pad(seconds % 60)}`;
    return days ? `${days}d ${clock}` : clock;
  }

  // The one date format of every page (panel_format.DATE_FORMAT), in the browser's time zone.
  function date(value) {
    const moment = value instanceof Date ? value : new Date(typeof value === "number" ? value * 1000 : value);
    if (Number.isNaN(moment.getTime())) return "—";
    const pad = (n) => String(n).padStart(2, "0");
    return `${moment.getFullYear()}-${pad(moment.getMonth() + 1)}-${pad(moment.getDate())} `
      + `${pad(moment.getHours())}:${pad(moment.getMinutes())}:${pad(moment.getSeconds())}`;
  }
  // Dates the server drew (<time datetime>, in its own time zone) are drawn again in the browser's.
  function localDates(root) {
    root.querySelectorAll("time[datetime]").forEach((element) => { element.textContent = date(element.dateTime); });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => localDates(document));
  else localDates(document);

  // kind: "guest", "node" or "task"; an unknown status shows as itself, muted.
  const badge = (kind, status) => (badges[kind] || {})[status] || [status, "muted"];
  function setBadge(element, kind, status) {
    const [label, tone] = badge(kind, status);
    element.textContent = label;
    element.className = `badge ${tone}`;
  }
  const tone = (kind, status) => badge(kind, status)[1];

  return {size, percent, duration, date, localDates, setBadge, tone};
})();
