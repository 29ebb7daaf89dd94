/* Trends: SVG line charts of one station's history with zoom (drag a range, buttons, presets)
   and pan; data from /api/stations/{id}/trends (raw samples for short spans, 5-minute means
   beyond) and /api/stations/{id}/rooms (room-temperature collectors by building group). */
"use strict";
(function () {
  const HK = window.HK;
  const el = HK.el;
  const sid = HK.boot.station_id;
  const NS = "http://www.w3.org/2000/svg";
  const PANELS = [
    { id: "temps", unit: "°C", fields: [
      ["secondary_supply_temp_c", "#ea580c"], ["secondary_return_temp_c", "#2563eb"], ["supply_setpoint_c", "#a16207", "6 4"],
      ["outdoor_temp_c", "#0f766e"], ["primary_supply_temp_c", "#9f1239"], ["primary_return_temp_c", "#4338ca"]] },
    { id: "rooms", unit: "°C", floor: 18, rooms: true, fields: [] },
    { id: "act", unit: "%", fields: [["valve_position_pct", "#7c3aed"], ["pump1_speed_pct", "#16a34a"], ["pump2_speed_pct", "#65a30d", "4 3"], ["tank_level_pct", "#0891b2"]] },
    { id: "heat", unit: "kW · m³/h", fields: [["heat_power_kw", "#dc2626"], ["primary_flow_m3h", "#0284c7"]] }
  ];
  const ROOM_COLOURS = ["#dc2626", "#ea580c", "#ca8a04", "#16a34a", "#0891b2", "#2563eb", "#7c3aed", "#db2777"];
  let t1 = Date.now() / 1000, t0 = t1 - 86400, follow = true;

  function svg(tag, attrs) {
    const n = document.createElementNS(NS, tag);
    for (const k in attrs) n.setAttribute(k, attrs[k]);
    return n;
  }
  function niceTicks(lo, hi, count) {
    const span = hi - lo || 1, raw = span / count, mag = Math.pow(10, Math.floor(Math.log10(raw)));
    const step = [1, 2, 2.5, 5, 10].map(function (m) { return m * mag; }).find(function (s) { return span / s <= count; }) || raw;
    const out = [];
    for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toFixed(6)));
    return out;
  }
  function timeLabel(ts, span) {
    const d = new Date(ts * 1000);
    const hm = HK.pad(d.getHours()) + ":" + HK.pad(d.getMinutes());
    return span > 2 * 86400 ? (d.getMonth() + 1) + "-" + d.getDate() + (span < 10 * 86400 ? " " + hm : "") : hm;
  }

  function draw(panel, series) {
    const wrap = HK.clear(document.getElementById("chart-" + panel.id));
    const legend = HK.clear(document.getElementById("legend-" + panel.id));
    const W = Math.max(400, wrap.clientWidth || 900), H = 300, L = 54, R = 16, T = 24, B = 28;
    const box = svg("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, width: W, height: H, "data-panel": panel.id });
    wrap.append(box);
    let lo = Infinity, hi = -Infinity, points = 0;
    for (const s of series) for (const p of s.data) { lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); points++; }
    if (panel.floor !== undefined && points) { lo = Math.min(lo, panel.floor - 1); hi = Math.max(hi, panel.floor + 1); }
    for (const s of series) {
      legend.append(el("span", { class: "legend-item" }, [el("span", { class: "sw", style: "background:" + s.colour }), s.label,
        s.data.length ? "" : " (" + HK.t("trends.no_data") + ")"]));
    }
    if (!points) {
      const tx = svg("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "tick" });
      tx.textContent = HK.t("trends.no_data_range");
      box.append(tx);
      return;
    }
    const pad = (hi - lo) * 0.08 || 1; lo -= pad; hi += pad;
    const x = function (ts) { return L + (ts - t0) / (t1 - t0) * (W - L - R); };
    const y = function (v) { return T + (hi - v) / (hi - lo) * (H - T - B); };
    for (const v of niceTicks(lo, hi, 6)) {
      box.append(svg("line", { class: "gridline", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
      const tx = svg("text", { class: "tick", x: L - 6, y: y(v) + 4, "text-anchor": "end" }); tx.textContent = String(v); box.append(tx);
    }
    for (const ts of niceTicks(t0, t1, Math.floor((W - L) / 110))) {
      const tx = svg("text", { class: "tick", x: x(ts), y: H - 8, "text-anchor": "middle" }); tx.textContent = timeLabel(ts, t1 - t0); box.append(tx);
    }
    const unit = svg("text", { class: "tick", x: 4, y: 12 }); unit.textContent = panel.unit; box.append(unit);
    box.append(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
    box.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    if (panel.floor !== undefined) box.append(svg("line", { class: "floor", x1: L, x2: W - R, y1: y(panel.floor), y2: y(panel.floor) }));
    const gapS = Math.max(900, (t1 - t0) / 100);
    for (const s of series) {
      let d = "", prev = null;
      for (const p of s.data) {
        if (p[0] < t0 || p[0] > t1) continue;
        d += (prev === null || p[0] - prev > gapS ? "M" : "L") + x(p[0]).toFixed(1) + "," + y(p[1]).toFixed(1);
        prev = p[0];
      }
      const attrs = { class: "line", d: d || "M0,0", stroke: s.colour };
      if (s.dash) attrs["stroke-dasharray"] = s.dash;
      box.append(svg("path", attrs));
    }
    interact(box, wrap, series, x, W, L, R, H, T, B);
  }

  function interact(box, wrap, series, x, W, L, R, H, T, B) {
    const sel = svg("rect", { class: "sel", x: 0, y: T, width: 0, height: H - T - B, visibility: "hidden" });
    const hover = svg("line", { class: "hover", x1: 0, x2: 0, y1: T, y2: H - B, visibility: "hidden" });
    box.append(sel, hover);
    const tip = el("div", { class: "tip", hidden: true });
    wrap.append(tip);
    const toTs = function (clientX) {
      const r = box.getBoundingClientRect();
      const px = (clientX - r.left) / r.width * W;
      return t0 + (Math.max(L, Math.min(W - R, px)) - L) / (W - L - R) * (t1 - t0);
    };
    let start = null;
    box.addEventListener("mousedown", function (e) { start = toTs(e.clientX); e.preventDefault(); });
    box.addEventListener("mousemove", function (e) {
      const ts = toTs(e.clientX);
      hover.setAttribute("x1", x(ts)); hover.setAttribute("x2", x(ts)); hover.setAttribute("visibility", "visible");
      const lines = [HK.time(ts, true)];
      for (const s of series) {
        let best = null;
        for (const p of s.data) if (best === null || Math.abs(p[0] - ts) < Math.abs(best[0] - ts)) best = p;
        if (best && Math.abs(best[0] - ts) < (t1 - t0) / 50) lines.push(s.label + ": " + HK.fmt(best[1], 1));
      }
      tip.textContent = lines.join("  ·  ");
      tip.hidden = false;
      const r = box.getBoundingClientRect();
      tip.style.left = Math.min(r.width - 320, Math.max(0, e.clientX - r.left + 12)) + "px";
      tip.style.top = "4px";
      if (start !== null) {
        const a = Math.min(start, ts), b = Math.max(start, ts);
        sel.setAttribute("x", x(a)); sel.setAttribute("width", Math.max(0, x(b) - x(a))); sel.setAttribute("visibility", "visible");
      }
    });
    box.addEventListener("mouseleave", function () { hover.setAttribute("visibility", "hidden"); tip.hidden = true; });
    window.addEventListener("mouseup", function (e) {
      if (start === null) return;
      const end = toTs(e.clientX), a = Math.min(start, end), b = Math.max(start, end);
      start = null;
      sel.setAttribute("visibility", "hidden");
      if (b - a >= 60) setRange(a, b, false);
    });
  }

  function setRange(a, b, followNow) {
    const now = Date.now() / 1000;
    b = Math.min(b, now + 60);
    if (b - a < 120) a = b - 120;
    if (b - a > 400 * 86400) a = b - 400 * 86400;
    t0 = a; t1 = b; follow = followNow;
    load();
  }
  function localInput(ts) {
    const d = new Date(ts * 1000);
    return d.getFullYear() + "-" + HK.pad(d.getMonth() + 1) + "-" + HK.pad(d.getDate()) + "T" + HK.pad(d.getHours()) + ":" + HK.pad(d.getMinutes());
  }

  async function load() {
    if (follow) { const span = t1 - t0; t1 = Date.now() / 1000; t0 = t1 - span; }
    document.getElementById("t0").value = localInput(t0);
    document.getElementById("t1").value = localInput(t1);
    document.getElementById("range-text").textContent = HK.t("trends.range", { from: HK.time(t0, true), to: HK.time(t1, true), span: HK.dur(t1 - t0) });
    const fields = [];
    for (const p of PANELS) for (const f of p.fields) fields.push(f[0]);
    const q = "t0=" + t0.toFixed(0) + "&t1=" + t1.toFixed(0);
    const base = "/api/stations/" + encodeURIComponent(sid);
    document.getElementById("csv-link").href = "/export/trends.csv?station=" + encodeURIComponent(sid) + "&" + q + "&fields=" + fields.join(",");
    const width = Math.max(400, document.getElementById("chart-temps").clientWidth || 900);
    const [r, rooms] = await Promise.all([
      HK.api("GET", base + "/trends?" + q + "&max_points=" + Math.min(2000, Math.round(width)) + "&fields=" + fields.join(",")),
      HK.api("GET", base + "/rooms?" + q + "&max_points=" + Math.min(2000, Math.round(width)))]);
    if (!r.ok) { HK.toast(r.data.reason || HK.t("common.failed"), "bad"); return; }
    for (const p of PANELS) {
      let series;
      if (p.rooms) {
        const groups = rooms.ok ? rooms.data.groups || {} : {};
        series = Object.keys(groups).sort().map(function (g, i) {
          return { label: HK.t("trends.room_group", { group: g }), colour: ROOM_COLOURS[i % ROOM_COLOURS.length], data: groups[g] };
        });
      } else {
        series = p.fields.map(function (f) { return { label: HK.t("field." + f[0]), colour: f[1], dash: f[2], data: r.data.data[f[0]] || [] }; });
      }
      draw(p, series);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    for (const b of document.querySelectorAll("#presets .btn")) {
      b.addEventListener("click", function () { const now = Date.now() / 1000; setRange(now - Number(b.dataset.span), now, true); });
    }
    document.getElementById("zoom-in").addEventListener("click", function () { const m = (t0 + t1) / 2, h = (t1 - t0) / 4; setRange(m - h, m + h, false); });
    document.getElementById("zoom-out").addEventListener("click", function () { const m = (t0 + t1) / 2, h = (t1 - t0); setRange(m - h, m + h, follow); });
    document.getElementById("pan-left").addEventListener("click", function () { const s = (t1 - t0) / 2; setRange(t0 - s, t1 - s, false); });
    document.getElementById("pan-right").addEventListener("click", function () { const s = (t1 - t0) / 2; setRange(t0 + s, t1 + s, false); });
    document.getElementById("now").addEventListener("click", function () { const s = t1 - t0; setRange(Date.now() / 1000 - s, Date.now() / 1000, true); });
    document.getElementById("apply").addEventListener("click", function () {
      const a = Date.parse(document.getElementById("t0").value) / 1000, b = Date.parse(document.getElementById("t1").value) / 1000;
      if (!isFinite(a) || !isFinite(b) || b <= a) { HK.toast(HK.t("trends.bad_range"), "bad"); return; }
      setRange(a, b, false);
    });
    load();
    setInterval(function () { if (follow && !document.hidden) load(); }, Math.max(15, HK.boot.refresh_s * 3) * 1000);
    let resize = null;
    window.addEventListener("resize", function () { clearTimeout(resize); resize = setTimeout(load, 300); });
  });
})();
