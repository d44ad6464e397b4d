// The funding dashboard's only script: draws the funding-history chart from the JSON the page embeds
// (#chart-data) with uPlot (vendor/uPlot.iife.min.js). The page is complete without it: the table, the filters and
// the chart's data (as a table) are server-rendered HTML.
(function () {
  "use strict";
  var node = document.getElementById("chart-data");
  var target = document.getElementById("chart-canvas");
  if (!node || !target || typeof uPlot === "undefined") {
    return;
  }
  var data = JSON.parse(node.textContent);
  var seconds = function (iso) { return Date.parse(iso) / 1000; };
  var seen = {};
  data.series.forEach(function (s) { s.time.forEach(function (t) { seen[seconds(t)] = true; }); });
  var xs = Object.keys(seen).map(Number).sort(function (a, b) { return a - b; });
  var position = new Map(xs.map(function (x, i) { return [x, i]; }));
  var columns = [xs];
  data.series.forEach(function (s) {
    var ys = new Array(xs.length).fill(null);
    s.time.forEach(function (t, i) { ys[position.get(seconds(t))] = Number(s.apr[i]) * 100; });
    columns.push(ys);
  });
  // Okabe-Ito: distinguishable with the common colour-vision deficiencies
  var palette = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#F0E442"];
  var percent = function (v) { return v == null ? "–" : v.toFixed(2) + " %"; };
  var stepped = uPlot.paths.stepped({ align: -1 });
  var width = function () { return Math.max(target.clientWidth, 320); };
  var plot = new uPlot({
    width: width(),
    height: 320,
    tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"); },
    scales: { x: { time: true } },
    series: [{ label: "Hour (UTC)" }].concat(data.series.map(function (s, i) {
      // a rate is keyed by the end of its funding period and applies to the whole period: a step back to the
      // previous point (an 8 h venue's rate holds for 8 hourly buckets)
      return {
        label: s.dex, stroke: palette[i % palette.length], width: 2, spanGaps: true, paths: stepped,
        value: function (u, v) { return percent(v); },
      };
    })),
    axes: [{}, { label: "APR", size: 70, values: function (u, vals) { return vals.map(function (v) { return v + " %"; }); } }],
  }, columns, target);
  window.perpdexChart = { symbol: data.symbol, venues: data.series.map(function (s) { return s.dex; }), plot: plot };
  window.addEventListener("resize", function () { plot.setSize({ width: width(), height: 320 }); });
})();
