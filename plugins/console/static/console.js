// Draws the bar charts of elements carrying data-chart ([[label, done, left], ...]) with
// ECharts, and draws them again when htmx swaps a fragment in. No chart code of our own.
(function () {
  function draw(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var rows = JSON.parse(el.getAttribute("data-chart") || "[]");
      var chart = echarts.getInstanceByDom(el) || echarts.init(el, null, { renderer: "svg" });
      chart.setOption({
        animation: false,
        grid: { left: 8, right: 16, top: 24, bottom: 8, containLabel: true },
        legend: { top: 0, data: ["已覆盖", "未覆盖"] },
        xAxis: { type: "value", minInterval: 1 },
        yAxis: { type: "category", inverse: true, data: rows.map(function (r) { return r[0]; }) },
        series: [
          { name: "已覆盖", type: "bar", stack: "h", color: "#1a7f37", data: rows.map(function (r) { return r[1]; }) },
          { name: "未覆盖", type: "bar", stack: "h", color: "#d0d7de", data: rows.map(function (r) { return r[2]; }) }
        ]
      });
    });
  }
  document.addEventListener("DOMContentLoaded", function () { draw(document); });
  document.addEventListener("htmx:afterSwap", function (e) { draw(e.target.parentNode || document); });
  window.addEventListener("resize", function () {
    document.querySelectorAll("[data-chart]").forEach(function (el) {
      var c = window.echarts && echarts.getInstanceByDom(el); if (c) c.resize();
    });
  });
})();
