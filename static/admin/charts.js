// Herald's admin UI: charts drawn by uPlot (static/vendor/uPlot-1.6.32.iife.min.js, loaded before
// this file) from a page's JSON data block. No inline script (the CSP): an element
// `<div data-chart="ID">` is drawn from `<script type="application/json" id="ID">`, which holds
// {"days": ["YYYY-MM-DD", ...], "prices": [...], "currency": "RUB" or null}. The page shows the same
// numbers as a table, so it says everything without this script too.
(function () {
  "use strict";
  const HEIGHT = 260;

  function seconds(day) {
    return Date.parse(day + "T00:00:00Z") / 1000; // UTC days, as Herald stores them
  }

  function price(value, currency) {
    if (value == null) {
      return "–";
    }
    const number = value.toLocaleString("ru-RU", {maximumFractionDigits: 2});
    return currency ? number + " " + currency : number;
  }

  function draw(element) {
    const source = document.getElementById(element.dataset.chart);
    if (!source || typeof uPlot === "undefined") {
      return;
    }
    const data = JSON.parse(source.textContent);
    const width = () => Math.max(element.clientWidth, 320);
    const options = {
      width: width(),
      height: HEIGHT,
      tzDate: (ts) => uPlot.tzDate(new Date(ts * 1000), "Etc/UTC"),
      scales: {x: {time: true}},
      series: [
        {label: "Day (UTC)", value: "{YYYY}-{MM}-{DD}"},
        {label: element.dataset.label || "Min price", stroke: "#2f6fde", width: 2,
         points: {show: true, size: 6, fill: "#2f6fde"}, value: (chart, value) => price(value, data.currency)},
      ],
      axes: [{}, {size: 80, values: (chart, ticks) => ticks.map((tick) => price(tick, null))}],
    };
    const chart = new uPlot(options, [data.days.map(seconds), data.prices], element);
    element.dataset.drawn = "true";
    window.addEventListener("resize", () => chart.setSize({width: width(), height: HEIGHT}));
  }

  document.querySelectorAll("[data-chart]").forEach(draw);
})();
