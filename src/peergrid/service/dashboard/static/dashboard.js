// peergrid dashboard: live figures over Server-Sent Events and small SVG charts (no external libraries).
"use strict";
(function () {
  var SVG = "http://www.w3.org/2000/svg";
  function el(name, attrs, parent) {
    var e = document.createElementNS(SVG, name);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmtNum(x, d) {
    if (x === null || x === undefined) return "–";
    return Number(x).toLocaleString("en-US", { minimumFractionDigits: d, maximumFractionDigits: d }).replace("-", "−");
  }
  // live times in the page's community zone (the charts' data-tz), like the server-rendered ones
  function fmtTime(s) {
    if (!s) return "–";
    var box = document.querySelector("[data-tz]"), tz = (box && box.dataset.tz) || "UTC";
    var p = parts(s, tz, { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
                           hourCycle: "h23", timeZoneName: "shortOffset" });
    return p.year + "-" + p.month + "-" + p.day + " " + p.hour + ":" + p.minute + " " + (tz === "UTC" ? "UTC" : p.timeZoneName);
  }
  // ---- time on the charts' axes, in the community's time zone (data-tz, an IANA name; UTC if absent or unknown)
  function parts(s, tz, opts) {
    var o = Object.assign({ timeZone: tz }, opts), p = {}, f;
    try { f = new Intl.DateTimeFormat("en-US", o); } catch (e) { o.timeZone = "UTC"; f = new Intl.DateTimeFormat("en-US", o); }
    f.formatToParts(new Date(s)).forEach(function (x) { p[x.type] = x.value; });
    return p;
  }
  function hour(s, tz) {
    var p = parts(s, tz, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    return p.hour + ":" + p.minute;
  }
  function dayKey(s, tz) { var p = parts(s, tz, { year: "numeric", month: "2-digit", day: "2-digit" }); return p.year + p.month + p.day; }
  function dayLabel(s, tz) {  // "Mon 3 Dec"
    var p = parts(s, tz, { weekday: "short", day: "numeric", month: "short" });
    return p.weekday + " " + p.day + " " + p.month;
  }

  // ---- charts: data-chart="line|bars|stack", data-source=<id of a JSON script>, data-y=<field>
  function draw(box) {
    var src = document.getElementById(box.dataset.source);
    var data = src ? JSON.parse(src.textContent) : [];
    box.textContent = "";
    var W = Math.max(box.clientWidth, 280), H = box.clientHeight || 220, L = 48, R = 8, T = 8, B = 24;
    var svg = el("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", "aria-hidden": "true" }, box);
    if (!data.length) { var t = el("text", { x: W / 2, y: H / 2, "text-anchor": "middle" }, svg); t.textContent = "no data yet"; return; }
    var kind = box.dataset.chart, key = box.dataset.y, ys;
    if (kind === "stack") ys = data.map(function (d) { return [d.import_kwh, -d.export_kwh]; });
    else ys = data.map(function (d) { return [d[key]]; });
    var flat = [].concat.apply([0], ys), lo = Math.min.apply(null, flat), hi = Math.max.apply(null, flat);
    if (hi === lo) { hi += 1; }
    var pad = (hi - lo) * 0.05; lo -= lo < 0 ? pad : 0; hi += pad;
    var x = function (i) { return L + (W - L - R) * (data.length === 1 ? 0.5 : i / (data.length - 1)); };
    var bw = Math.max(1, (W - L - R) / data.length - 1);
    var xb = function (i) { return L + (W - L - R) * i / data.length; };
    var y = function (v) { return T + (H - T - B) * (hi - v) / (hi - lo); };
    el("line", { x1: L, x2: W - R, y1: y(0), y2: y(0), class: "axis" }, svg);
    el("line", { x1: L, x2: L, y1: T, y2: H - B, class: "axis" }, svg);
    [hi, 0, lo].forEach(function (v) {
      var t = el("text", { x: L - 4, y: y(v) + 4, "text-anchor": "end" }, svg);
      t.textContent = fmtNum(Math.abs(v) < 1e-9 ? 0 : v, Math.abs(hi - lo) < 10 ? 2 : 0);
    });
    var u = el("text", { x: 2, y: T + 10 }, svg); u.textContent = box.dataset.unit || "";
    var tz = box.dataset.tz || "UTC";
    if (box.dataset.axis === "days") {
      // a tick where each local day starts, labelled "Mon 3 Dec"; the partial first day is labelled if there is room
      var pos = function (i) { return kind === "line" ? x(i) : xb(i); }, LABEL_W = 64, last = -Infinity, ticks = [];
      data.forEach(function (d, i) {
        if (i === 0 ? hour(d.t, tz) === "00:00" : dayKey(d.t, tz) !== dayKey(data[i - 1].t, tz)) ticks.push(i);
      });
      ticks.forEach(function (i) { el("line", { x1: pos(i), x2: pos(i), y1: H - B, y2: H - B + 5, class: "axis" }, svg); });
      var labelled = ticks[0] === 0 ? ticks : [0].concat(ticks);
      labelled.forEach(function (i, k) {
        var px = pos(i), partial = k === 0 && ticks[0] !== 0;
        if (partial && ticks.length && pos(ticks[0]) - px < LABEL_W) return;  // no room before the first full day
        if (px - last < LABEL_W || px + LABEL_W > W) return;
        var t = el("text", { x: px + 2, y: H - 6, "text-anchor": "start", class: "day" }, svg);
        t.textContent = dayLabel(data[i].t, tz);
        last = px;
      });
    } else {
      [0, Math.floor((data.length - 1) / 2), data.length - 1].forEach(function (i) {
        var anchor = i === 0 ? "start" : (i === data.length - 1 ? "end" : "middle");
        var t = el("text", { x: kind === "line" ? x(i) : xb(i) + bw / 2, y: H - 6, "text-anchor": anchor }, svg);
        t.textContent = hour(data[i].t, tz);
      });
    }
    if (kind === "line") {
      el("path", { class: "line", d: data.map(function (d, i) { return (i ? "L" : "M") + x(i).toFixed(1) + " " + y(d[key]).toFixed(1); }).join(" ") }, svg);
    } else {
      ys.forEach(function (vals, i) {
        vals.forEach(function (v) {
          if (!v) return;
          el("rect", { x: xb(i).toFixed(1), width: bw.toFixed(1), y: y(Math.max(v, 0)).toFixed(1),
                       height: Math.abs(y(v) - y(0)).toFixed(1), class: v >= 0 ? "pos" : "neg" }, svg);
        });
      });
    }
  }
  function drawAll() { document.querySelectorAll("[data-chart]").forEach(draw); }

  // ---- live figures: elements with data-live=<field> inside [data-events]
  function live(root) {
    var url = root.dataset.events, dot = document.getElementById("live-status");
    if (!window.EventSource) return;
    var es = new EventSource(url);
    es.onopen = function () { if (dot) dot.classList.add("on"); };
    es.onerror = function () { if (dot) dot.classList.remove("on"); };
    es.addEventListener("bye", function () { es.close(); });
    es.addEventListener("live", function (ev) {
      var d = JSON.parse(ev.data);
      if (dot) dot.classList.add("on");
      document.querySelectorAll("[data-live]").forEach(function (n) {
        var k = n.dataset.live; if (!(k in d)) return;
        var v = d[k], txt;
        if (n.dataset.fmt === "time") txt = fmtTime(v);
        else if (typeof v === "number") txt = fmtNum(v, k === "readings" ? 0 : 3);
        else txt = v === null ? "–" : String(v);
        if (n.textContent !== txt) { n.textContent = txt; n.classList.remove("flash"); void n.offsetWidth; n.classList.add("flash"); }
      });
      document.body.dataset.liveUpdates = String(Number(document.body.dataset.liveUpdates || 0) + 1);
    });
  }
  // ---- the community switcher: go to the same view of the chosen community (no inline handlers: the CSP forbids them)
  function switcher(sel) {
    sel.addEventListener("change", function () {
      var view = sel.dataset.view === "community" ? "community" : "me";
      location.href = "/dashboard/c/" + encodeURIComponent(sel.value) + "/" + view;
    });
  }
  document.addEventListener("DOMContentLoaded", function () {
    drawAll();
    var root = document.querySelector("[data-events]");
    if (root) live(root);
    var sel = document.getElementById("community-switch");
    if (sel) switcher(sel);
    var t; window.addEventListener("resize", function () { clearTimeout(t); t = setTimeout(drawAll, 150); });
  });
})();
