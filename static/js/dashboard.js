/* Dashboard charts, drawn from the table each chart sits on (so chart, table and CSV agree).
   Readable without colour: every series has its own dash, point shape or fill pattern, and the
   series name or value is written beside it. */
(function () {
  "use strict";
  if (typeof Chart === "undefined") { return; }  // the tables stay; nothing else depends on this

  var COLOURS = ["#1b5e20", "#0d47a1", "#bf360c", "#4a148c", "#263238", "#880e4f", "#006064"];
  var DASHES = [[], [8, 4], [2, 3], [12, 3, 2, 3], [4, 4], [1, 4], [16, 6]];
  var POINTS = ["circle", "rect", "triangle", "rectRot", "crossRot", "star", "cross"];
  var reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;

  // A fill pattern per series: solid, diagonal, dots, cross-hatch, horizontal, vertical, checks.
  function pattern(i, colour) {
    var size = 10, c = document.createElement("canvas");
    c.width = c.height = size;
    var g = c.getContext("2d");
    g.fillStyle = "#ffffff"; g.fillRect(0, 0, size, size);
    g.fillStyle = colour; g.strokeStyle = colour; g.lineWidth = 2;
    switch (i % 7) {
      case 0: g.fillRect(0, 0, size, size); break;
      case 1: g.beginPath(); g.moveTo(0, size); g.lineTo(size, 0); g.moveTo(-2, 2); g.lineTo(2, -2);
        g.moveTo(size - 2, size + 2); g.lineTo(size + 2, size - 2); g.stroke(); break;
      case 2: g.beginPath(); g.arc(5, 5, 2.2, 0, 2 * Math.PI); g.fill(); break;
      case 3: g.beginPath(); g.moveTo(0, 0); g.lineTo(size, size); g.moveTo(size, 0); g.lineTo(0, size); g.stroke(); break;
      case 4: g.fillRect(0, 3, size, 3); break;
      case 5: g.fillRect(3, 0, 3, size); break;
      default: g.fillRect(0, 0, 5, 5); g.fillRect(5, 5, 5, 5);
    }
    return g.createPattern(c, "repeat");
  }

  function readTable(figure) {
    var table = figure.querySelector("table");
    var headers = Array.prototype.map.call(table.querySelectorAll("thead th"), function (th) { return th.textContent.trim(); });
    var rows = Array.prototype.map.call(table.querySelectorAll("tbody tr"), function (tr) {
      return {
        label: tr.querySelector("th").textContent.trim(),
        values: Array.prototype.map.call(tr.querySelectorAll("td"), function (td) {
          var v = td.getAttribute("data-value");
          return v === "" || v === null || isNaN(Number(v)) ? null : Number(v);
        })
      };
    });
    return { headers: headers, rows: rows };
  }

  // Names at the end of each line; values at the end of each bar.
  var directLabels = {
    id: "directLabels",
    afterDatasetsDraw: function (chart) {
      var kind = chart.config.options.plugins.directLabels.kind, ctx = chart.ctx;
      ctx.save();
      ctx.font = "12px system-ui, sans-serif";
      ctx.fillStyle = "#1d1d1d";
      ctx.textBaseline = "middle";
      if (kind === "line") {
        var ends = [];
        chart.data.datasets.forEach(function (ds, i) {
          var meta = chart.getDatasetMeta(i), last = meta.data[meta.data.length - 1];
          if (!meta.hidden && last) { ends.push({ text: ds.label, x: last.x + 6, y: last.y }); }
        });
        ends.sort(function (a, b) { return b.y - a.y; });  // bottom first, then push each one up
        for (var k = 1; k < ends.length; k++) {
          if (ends[k - 1].y - ends[k].y < 14) { ends[k].y = ends[k - 1].y - 14; }
        }
        ends.forEach(function (e) { ctx.fillText(e.text, e.x, e.y); });
      }
      chart.data.datasets.forEach(function (ds, i) {
        var meta = chart.getDatasetMeta(i);
        if (meta.hidden) { return; }
        if (kind === "hbar") {
          var suffix = chart.config.options.plugins.directLabels.suffix || "";
          meta.data.forEach(function (bar, j) {
            var v = ds.data[j];
            if (v !== null) { ctx.fillText(v.toLocaleString("en-GB") + suffix, bar.x + 4, bar.y); }
          });
        }
      });
      ctx.restore();
    }
  };

  function draw(figure) {
    var kind = figure.getAttribute("data-chart");
    var canvas = figure.querySelector("canvas");
    if (!canvas || !figure.querySelector("table")) { return; }  // nothing recorded: the card says so
    var data = readTable(figure);
    if (!data.rows.length) { return; }
    var labels = data.rows.map(function (r) { return r.label; });
    var datasets, options = {
      responsive: true, maintainAspectRatio: false, animation: reduceMotion ? false : { duration: 300 },
      plugins: { legend: { labels: { usePointStyle: true } }, directLabels: { kind: kind, suffix: figure.getAttribute("data-suffix") } },
      scales: {}
    };
    if (kind === "hbar") {
      var col = Number(figure.getAttribute("data-value-col") || 1) - 1;
      datasets = [{ label: data.headers[col + 1], data: data.rows.map(function (r) { return r.values[col]; }),
        backgroundColor: pattern(1, COLOURS[1]), borderColor: COLOURS[1], borderWidth: 1 }];
      options.indexAxis = "y";
      options.plugins.legend.display = false;
      options.layout = { padding: { right: 64 } };
      // Long names are shortened on the axis of a narrow chart; the table below has them whole.
      var room = canvas.parentNode.clientWidth < 500 ? 16 : 32;
      options.scales = { x: { beginAtZero: true, grace: "10%" }, y: { ticks: { callback: function (value) {
        var text = this.getLabelForValue(value);
        return text.length > room ? text.slice(0, room - 1) + "…" : text;
      } } } };
      canvas.parentNode.style.height = Math.max(140, 34 * labels.length + 40) + "px";
    } else {
      datasets = data.headers.slice(1).map(function (name, i) {
        var colour = COLOURS[i % COLOURS.length];
        var ds = { label: name, data: data.rows.map(function (r) { return r.values[i]; }), borderColor: colour };
        if (kind === "line") {
          ds.borderDash = DASHES[i % DASHES.length]; ds.pointStyle = POINTS[i % POINTS.length];
          ds.pointRadius = 3; ds.borderWidth = 2; ds.backgroundColor = colour; ds.tension = 0.1;
        } else {
          ds.backgroundColor = pattern(i, colour); ds.borderWidth = 1;
        }
        return ds;
      });
      if (kind === "stacked") {
        options.scales = { x: { stacked: true }, y: { stacked: true, beginAtZero: true } };
      } else {
        options.layout = { padding: { right: 96 } };
        options.scales = { y: { beginAtZero: true } };
      }
    }
    new Chart(canvas, { type: kind === "line" ? "line" : "bar", data: { labels: labels, datasets: datasets },
      options: options, plugins: [directLabels] });
  }

  function init() {
    // One chart's trouble must not leave the others blank.
    Array.prototype.forEach.call(document.querySelectorAll("figure[data-chart]"), function (figure) {
      try { draw(figure); } catch (error) { if (window.console) { console.error(error); } }
    });
  }
  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", init); } else { init(); }
}());
