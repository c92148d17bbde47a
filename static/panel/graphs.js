// History graphs of a node or guest summary, drawn with uPlot from the rrddata JSON.
// Markup: <div class="rrd" data-rrd-url="/api2/json/.../rrddata"></div>
(function () {
  "use strict";
  const TIMEFRAMES = ["hour", "day", "week", "month", "year"];
  const SPANS = {hour: 3600, day: 86400, week: 7 * 86400, month: 30 * 86400, year: 365 * 86400};
  const KEY = "panel.rrd.timeframe";
  const GRAPHS = [
    {title: "CPU usage", series: [["cpu", "CPU", "#2a7ab0"]], unit: "percent"},
    {title: "Memory usage", series: [["mem", "used", "#2f9e44"], ["maxmem", "total", "#999"]], unit: "bytes"},
    {title: "Network traffic", series: [["netin", "in", "#2a7ab0"], ["netout", "out", "#e8590c"]], unit: "rate"},
    {title: "Disk I/O", series: [["diskread", "read", "#2a7ab0"], ["diskwrite", "write", "#e8590c"]], unit: "rate"},
  ];

  function size(value) {
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    while (Math.abs(value) >= 1024 && i < units.length - 1) { value /= 1024; i++; }
    return value.toFixed(i ? 1 : 0) + " " + units[i];
  }

  function format(unit, value) {
    if (value == null) return "";
    if (unit === "percent") return (value * 100).toFixed(1) + " %";
    return size(value) + (unit === "rate" ? "/s" : "");
  }

  function draw(root, points, timeframe) {
    root.querySelectorAll(".rrd-graph").forEach((el) => el.remove());
    const times = points.map((p) => p.time);
    const now = Date.now() / 1000;
    const width = Math.max(root.clientWidth / 2 - 24, 280);
    for (const graph of GRAPHS) {
      const box = document.createElement("div");
      box.className = "rrd-graph";
      root.appendChild(box);
      const data = [times, ...graph.series.map(([field]) => points.map((p) => p[field] ?? null))];
      new uPlot({
        title: graph.title, width: width, height: 180,
        series: [{}, ...graph.series.map(([, label, colour]) => ({
          label: label, stroke: colour, width: 1.5, value: (u, v) => format(graph.unit, v),
        }))],
        axes: [{}, {size: 70, values: (u, ticks) => ticks.map((v) => format(graph.unit, v))}],
        // The whole timeframe, however few points it has so far.
        scales: {x: {time: true, range: () => [now - SPANS[timeframe], now]},
                 ...(graph.unit === "percent" ? {y: {range: [0, 1]}} : {})},
      }, data, box);
    }
  }

  function load(root, timeframe) {
    localStorage.setItem(KEY, timeframe);
    root.querySelectorAll("button[data-timeframe]").forEach((b) => {
      b.classList.toggle("active", b.dataset.timeframe === timeframe);
    });
    fetch(root.dataset.rrdUrl + "?timeframe=" + timeframe, {credentials: "same-origin"})
      .then((r) => r.json())
      .then((answer) => draw(root, answer.data || [], timeframe));
  }

  document.querySelectorAll("[data-rrd-url]").forEach((root) => {
    const bar = document.createElement("div");
    bar.className = "actions rrd-timeframes";
    for (const timeframe of TIMEFRAMES) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.timeframe = timeframe;
      button.textContent = timeframe;
      button.addEventListener("click", () => load(root, timeframe));
      bar.appendChild(button);
    }
    root.appendChild(bar);
    const saved = localStorage.getItem(KEY);
    const timeframe = TIMEFRAMES.includes(saved) ? saved : "hour";
    load(root, timeframe);
    // Live: the newest points as soon as the node's poll is pushed (static/panel/resources.js).
    document.addEventListener("panel:resources", (event) => {
      if (event.detail.node === root.dataset.rrdNode) load(root, localStorage.getItem(KEY) || timeframe);
    });
  });
})();
