// Draws the charts of elements carrying data-chart with ECharts, and draws them again when
// htmx swaps a fragment in. No chart code of our own.
//   bar (the default): data-chart = [[label, done, left], ...]
//   data-chart-kind="line": data-chart = {"x": [label, ...], "series": [[name, [value|null, ...]], ...]}
//     (percentages; a null is a gap: nothing was due then)
(function () {
  function bars(rows) {
    return {
      animation: false,
      grid: { left: 8, right: 16, top: 24, bottom: 8, containLabel: true },
      legend: { top: 0, data: ["已覆盖", "未覆盖"] },
      xAxis: { type: "value", minInterval: 1 },
      yAxis: { type: "category", inverse: true, data: rows.map(function (r) { return r[0]; }) },
      series: [
        { name: "已覆盖", type: "bar", stack: "h", color: "#1a7f37", data: rows.map(function (r) { return r[1]; }) },
        { name: "未覆盖", type: "bar", stack: "h", color: "#d0d7de", data: rows.map(function (r) { return r[2]; }) }
      ]
    };
  }
  function lines(data) {
    var series = data.series || [];
    return {
      animation: false,
      grid: { left: 8, right: 16, top: 32, bottom: 8, containLabel: true },
      legend: { top: 0, type: "scroll", data: series.map(function (s) { return s[0]; }) },
      tooltip: { trigger: "axis", valueFormatter: function (v) { return v == null ? "—" : v + "%"; } },
      xAxis: { type: "category", data: data.x || [] },
      yAxis: { type: "value", min: 0, max: 100, axisLabel: { formatter: "{value}%" } },
      series: series.map(function (s) {
        return { name: s[0], type: "line", connectNulls: false, showSymbol: true, data: s[1] };
      })
    };
  }
  function draw(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-chart]").forEach(function (el) {
      var kind = el.getAttribute("data-chart-kind") || "bar";
      var data = JSON.parse(el.getAttribute("data-chart") || (kind === "line" ? "{}" : "[]"));
      var chart = echarts.getInstanceByDom(el) || echarts.init(el, null, { renderer: "svg" });
      chart.setOption(kind === "line" ? lines(data) : bars(data), kind === "line");
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
