// History graphs of a node or guest summary, drawn with uPlot from the rrddata JSON.
// Markup: templates/includes/rrd_graphs.html. Formats come from format.js (PanelFormat).
(function () {
  "use strict";
  const KEY = "panel.rrd.timeframe";
  const GRAPHS = [
    {title: "CPU usage", series: [["cpu", "CPU", "#2a7ab0"]], unit: "percent"},
    {title: "Memory usage", series: [["mem", "used", "#2f9e44"], ["maxmem", "total", "#999"]], unit: "bytes"},
    {title: "Network traffic", series: [["netin", "in", "#2a7ab0"], ["netout", "out", "#e8590c"]], unit: "rate"},
    {title: "Disk I/O", series: [["diskread", "read", "#2a7ab0"], ["diskwrite", "write", "#e8590c"]], unit: "rate"},
  ];

  function format(unit, value) {
    if (value == null) return "";
    if (unit === "percent") return PanelFormat.percent(value);
    return PanelFormat.size(value) + (unit === "rate" ? "/s" : "");
  }

  // One set of charts per root: redrawn when the timeframe changes, given new data when the node polls
  // (uPlot keeps every chart it made until destroy(): replacing them without it leaks).
  function chartsFor(root) {
    const spans = JSON.parse(root.dataset.rrdTimeframes);
    let charts = [], shown = null;

    function make(points, timeframe) {
      charts.forEach((chart) => chart.destroy());
      root.querySelectorAll(".rrd-graph").forEach((el) => el.remove());
      const width = Math.max(root.clientWidth / 2 - 24, 280);
      charts = GRAPHS.map((graph) => {
        const box = document.createElement("div");
        box.className = "rrd-graph";
        root.appendChild(box);
        return new uPlot({
          title: graph.title, width: width, height: 180,
          series: [{}, ...graph.series.map(([, label, colour]) => ({
            label: label, stroke: colour, width: 1.5, value: (u, v) => format(graph.unit, v),
          }))],
          axes: [{}, {size: 70, values: (u, ticks) => ticks.map((v) => format(graph.unit, v))}],
          // The whole timeframe up to now, however few points it has so far.
          scales: {x: {time: true, range: () => [Date.now() / 1000 - spans[timeframe], Date.now() / 1000]},
                   ...(graph.unit === "percent" ? {y: {range: [0, 1]}} : {})},
        }, columns(graph, points), box);
      });
      shown = timeframe;
    }

    // Loading, empty or failed: one line above the charts.
    function status(text, kind) {
      let line = root.querySelector(".rrd-status");
      if (!line) {
        line = document.createElement("p");
        root.prepend(line);
      }
      line.className = `rrd-status ${kind}`;
      line.textContent = text;
      line.hidden = !text;
    }
    status("Loading…", "loading");

    function columns(graph, points) {
      return [points.map((p) => p.time), ...graph.series.map(([field]) => points.map((p) => p[field] ?? null))];
    }

    function load(timeframe) {
      localStorage.setItem(KEY, timeframe);
      root.querySelectorAll("button[data-timeframe]").forEach((b) => {
        b.classList.toggle("active", b.dataset.timeframe === timeframe);
      });
      fetch(`${root.dataset.rrdUrl}?timeframe=${timeframe}`, {credentials: "same-origin"})
        .then((r) => { if (!r.ok) throw new Error(`the history answered ${r.status}`); return r.json(); })
        .then((answer) => {
          const points = answer.data || [];
          status(points.length ? "" : "No history yet: it comes with the node's polls.", "empty");
          if (shown === timeframe) charts.forEach((chart, i) => chart.setData(columns(GRAPHS[i], points)));
          else make(points, timeframe);
        })
        .catch((error) => status(`The history could not be read (${error.message}).`, "msg error"));
    }

    return {spans, load, current: () => shown};
  }

  document.querySelectorAll("[data-rrd-url]").forEach((root) => {
    const charts = chartsFor(root);
    const timeframes = Object.keys(charts.spans);
    const bar = document.createElement("div");
    bar.className = "actions rrd-timeframes";
    for (const timeframe of timeframes) {
      const button = document.createElement("button");
      button.type = "button";
      button.dataset.timeframe = timeframe;
      button.textContent = timeframe;
      button.addEventListener("click", () => charts.load(timeframe));
      bar.appendChild(button);
    }
    root.appendChild(bar);
    const saved = localStorage.getItem(KEY);
    charts.load(timeframes.includes(saved) ? saved : "hour");
    // Live: the newest points of the timeframe shown, as soon as the node's poll is pushed (resources.js).
    document.addEventListener("panel:resources", (event) => {
      if (event.detail.node === root.dataset.rrdNode && charts.current()) charts.load(charts.current());
    });
  });
})();
