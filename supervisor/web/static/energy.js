/* Energy: every station's daily heat (W/m2) and the degree days, drawn by uPlot (vendored,
   /static/vendor). The figures come in the boot data; the tables are server-rendered. */
"use strict";
(function () {
  const HK = window.HK;
  const data = HK.boot.energy_chart;
  const host = document.getElementById("en-chart");
  if (!host || !data || !data.dates.length || typeof uPlot === "undefined") return;
  const COLOURS = ["#c0392b", "#2471a3", "#1e8449", "#b9770e", "#7d3c98", "#117a65", "#a04000", "#5d6d7e"];
  /* Each day at its site midnight, so the axis shows the site's dates (uPlot draws in UTC here). */
  const xs = data.dates.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
  function isoDay(ts) { return new Date(ts * 1000).toISOString().slice(0, 10); }
  const series = [{ label: HK.t("energy.col_date"), value: function (u, ts) { return ts == null ? "–" : isoDay(ts); } }].concat(data.stations.map(function (s, i) {
    return { label: s.id + " W/m²", stroke: COLOURS[i % COLOURS.length], width: 2, scale: "w", spanGaps: false,
             points: { show: xs.length <= 62 } };
  }));
  series.push({ label: HK.t("energy.col_hdd"), stroke: "#888", width: 1, dash: [4, 4], scale: "hdd" });
  const columns = [xs].concat(data.stations.map(function (s) { return s.w_per_m2; }), [data.hdd]);
  function size() { return { width: Math.max(280, host.clientWidth), height: 300 }; }
  const opts = Object.assign(size(), {
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
    scales: { x: { time: true }, w: { auto: true, range: function (u, lo, hi) { return [0, Math.max(1, hi * 1.1)]; } },
              hdd: { auto: true, range: function (u, lo, hi) { return [0, Math.max(1, hi * 1.1)]; } } },
    axes: [{ values: function (u, splits) { return splits.map(isoDay); }, space: 90 }, { scale: "w", label: "W/m²" }, { scale: "hdd", side: 1, label: "HDD18", grid: { show: false } }],
    series: series,
  });
  const plot = new uPlot(opts, columns, host);
  host.dataset.ready = "1";
  window.addEventListener("resize", function () { plot.setSize(size()); });
})();
