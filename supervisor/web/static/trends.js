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
    /* two quantities, two axes: heat power on the left, flow on the right */
    { id: "heat", unit: "kW", unit2: "m³/h", fields: [["heat_power_kw", "#dc2626"], ["primary_flow_m3h", "#0284c7", null, 2]] }
  ];
  /* Time-axis steps, all at round local times: minutes, hours, days. */
  const MIN = 60, HOUR = 3600, DAY = 86400;
  const TIME_STEPS = [MIN, 2 * MIN, 5 * MIN, 10 * MIN, 15 * MIN, 30 * MIN, HOUR, 2 * HOUR, 3 * HOUR, 6 * HOUR, 12 * HOUR,
    DAY, 2 * DAY, 7 * DAY, 14 * DAY];
  const ROOM_COLOURS = ["#dc2626", "#ea580c", "#ca8a04", "#16a34a", "#0891b2", "#2563eb", "#7c3aed", "#db2777"];
  let t1 = Date.now() / 1000, t0 = t1 - 86400, follow = true;
  /* An accelerated station (demo, --time-scale K) sends wall-clock times while its plant runs K
     times faster: its charts are drawn on simulated time (t0, t1 and every x are simulated; the
     API is asked in wall time). null: real time. */
  let clock = null;
  function disp(ts) { return clock && ts > clock.wall_ts ? clock.wall_ts + (ts - clock.wall_ts) * clock.scale : ts; }
  function wall(d) { return clock && d > clock.wall_ts ? clock.wall_ts + (d - clock.wall_ts) / clock.scale : d; }
  function nowD() { return disp(Date.now() / 1000); }
  function onClock(series) { return clock ? series.map(function (p) { return [disp(p[0]), p[1]]; }) : series; }
  let fitted = false;    /* the first view is narrowed to the data that exists ... */
  let anchored = false;  /* ... and then grows with it (up to a day) instead of sliding */

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
  /* Seconds east of UTC at `ts` in the browser's zone (ticks fall on local round times). */
  function zoneS(ts) { return -new Date(ts * 1000).getTimezoneOffset() * 60; }
  /* Ticks at round local times (whole minutes, hours, midnights) between a and b, at most `count`. */
  function timeTicks(a, b, count) {
    const span = b - a;
    const step = TIME_STEPS.find(function (s) { return span / s <= count; }) || Math.ceil(span / count / DAY) * DAY;
    const out = [];
    for (let v = Math.ceil((a + zoneS(a)) / step) * step - zoneS(a); v <= b + 1e-6 && out.length < 200; v += step) out.push(v);
    return { ticks: out, step: step };
  }
  function timeLabel(ts, step, span) {
    const d = new Date(ts * 1000);
    const hm = HK.pad(d.getHours()) + ":" + HK.pad(d.getMinutes());
    const md = HK.pad(d.getMonth() + 1) + "-" + HK.pad(d.getDate());
    const midnight = d.getHours() === 0 && d.getMinutes() === 0;
    return step >= DAY || (midnight && span > 6 * HOUR) ? md : hm;
  }
  /* The median time between a series' samples (0 with fewer than two). */
  function spacing(data) {
    const steps = [];
    for (let i = 1; i < data.length; i++) steps.push(data[i][0] - data[i - 1][0]);
    steps.sort(function (a, b) { return a - b; });
    return steps.length ? steps[Math.floor(steps.length / 2)] : 0;
  }
  function range(series, axis, floor) {
    let lo = Infinity, hi = -Infinity, points = 0;
    for (const s of series) {
      if ((s.axis || 1) !== axis) continue;
      for (const p of s.data) { if (p[0] < t0 || p[0] > t1 || p[1] === null) continue; lo = Math.min(lo, p[1]); hi = Math.max(hi, p[1]); points++; }
    }
    if (floor !== undefined && points) { lo = Math.min(lo, floor - 1); hi = Math.max(hi, floor + 1); }
    const pad = (hi - lo) * 0.08 || 1;
    return { lo: lo - pad, hi: hi + pad, points: points };
  }

  function draw(panel, series) {
    const wrap = HK.clear(document.getElementById("chart-" + panel.id));
    const legend = HK.clear(document.getElementById("legend-" + panel.id));
    const narrow = window.matchMedia("(max-width: 760px)").matches;  /* app.css: the chart is 240 px high there */
    const W = Math.max(300, wrap.clientWidth || 900), H = narrow ? 240 : 300, L = narrow ? 40 : 54, R = panel.unit2 ? 54 : 16, T = 24, B = 28;
    const box = svg("svg", { class: "chart", viewBox: "0 0 " + W + " " + H, width: W, height: H, "data-panel": panel.id });
    wrap.append(box);
    const left = range(series, 1, panel.floor), right = range(series, 2);
    const points = left.points + right.points;
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
    const x = function (ts) { return L + (ts - t0) / (t1 - t0) * (W - L - R); };
    const yOf = function (r) { return function (v) { return T + (r.hi - v) / (r.hi - r.lo) * (H - T - B); }; };
    const y = yOf(left), y2 = yOf(right);
    if (left.points) {
      for (const v of niceTicks(left.lo, left.hi, 6)) {
        box.append(svg("line", { class: "gridline", x1: L, x2: W - R, y1: y(v), y2: y(v) }));
        const tx = svg("text", { class: "tick", x: L - 6, y: y(v) + 4, "text-anchor": "end" }); tx.textContent = String(v); box.append(tx);
      }
    }
    if (panel.unit2 && right.points) {
      for (const v of niceTicks(right.lo, right.hi, 6)) {
        const tx = svg("text", { class: "tick tick-right", x: W - R + 6, y: y2(v) + 4, "text-anchor": "start" }); tx.textContent = String(v); box.append(tx);
      }
      box.append(svg("line", { class: "axis", x1: W - R, x2: W - R, y1: T, y2: H - B }));
      const unit2 = svg("text", { class: "tick unit-right", x: W - 4, y: 12, "text-anchor": "end" }); unit2.textContent = panel.unit2; box.append(unit2);
    }
    const tt = timeTicks(t0, t1, Math.max(2, Math.floor((W - L - R) / 90)));
    for (const ts of tt.ticks) {
      box.append(svg("line", { class: "gridline", x1: x(ts), x2: x(ts), y1: T, y2: H - B }));
      const tx = svg("text", { class: "tick tick-time", x: x(ts), y: H - 8, "text-anchor": "middle", "data-ts": String(ts) });
      tx.textContent = timeLabel(ts, tt.step, t1 - t0); box.append(tx);
    }
    const unit = svg("text", { class: "tick", x: 4, y: 12 }); unit.textContent = panel.unit; box.append(unit);
    box.append(svg("line", { class: "axis", x1: L, x2: L, y1: T, y2: H - B }));
    box.append(svg("line", { class: "axis", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    if (panel.floor !== undefined) box.append(svg("line", { class: "floor", x1: L, x2: W - R, y1: y(panel.floor), y2: y(panel.floor) }));
    for (const s of series) {
      /* a line breaks where data are missing: a gap well beyond the series' own spacing (room
         collectors report every 20-30 min, stations every few seconds) */
      const gapS = Math.max(900, (t1 - t0) / 100, 2.5 * spacing(s.data));
      let d = "", prev = null, run = 0;
      const ys = s.axis === 2 ? y2 : y;
      for (const p of s.data) {
        if (p[0] < t0 || p[0] > t1) continue;
        if (p[1] === null) { if (run === 1) d += "h0.01"; prev = null; run = 0; continue; }  /* a break */
        const move = prev === null || p[0] - prev > gapS;
        if (move && run === 1) d += "h0.01";  /* a lone sample: a dot (round caps) */
        run = move ? 1 : run + 1;
        d += (move ? "M" : "L") + x(p[0]).toFixed(1) + "," + ys(p[1]).toFixed(1);
        prev = p[0];
      }
      if (run === 1) d += "h0.01";
      const attrs = { class: "line", d: d || "M0,0", stroke: s.colour, "data-axis": String(s.axis || 1) };
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
        if (best && Math.abs(best[0] - ts) < (t1 - t0) / 50) lines.push(s.label + ": " + (best[1] === null ? HK.t("common.heating_off") : HK.fmt(best[1], 1)));
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
    const now = nowD();
    b = Math.min(b, now + 60);
    if (b - a < 120) a = b - 120;
    if (b - a > 400 * 86400) a = b - 400 * 86400;
    t0 = a; t1 = b; follow = followNow; anchored = false;
    load();
  }
  /* The range fields are ISO text, "YYYY-MM-DD HH:MM" in local time, like every time on the page
     (the browser's own date-time input shows the US format in an English browser). */
  function localInput(ts) {
    const d = new Date(ts * 1000);
    return d.getFullYear() + "-" + HK.pad(d.getMonth() + 1) + "-" + HK.pad(d.getDate()) + " " + HK.pad(d.getHours()) + ":" + HK.pad(d.getMinutes());
  }
  function parseInput(text) {
    const m = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T](\d{1,2}):(\d{2}))?\s*$/.exec(text || "");
    if (!m) return NaN;
    const d = new Date(Number(m[1]), Number(m[2]) - 1, Number(m[3]), Number(m[4] || 0), Number(m[5] || 0));
    if (d.getMonth() !== Number(m[2]) - 1 || d.getDate() !== Number(m[3]) || Number(m[4] || 0) > 23) return NaN;
    return d.getTime() / 1000;
  }
  /* The earliest sample of a trends answer and the rooms' answer (null when there is none). */
  function firstTs(data, groups) {
    let first = null;
    const look = function (series) { if (series && series.length && (first === null || series[0][0] < first)) first = series[0][0]; };
    for (const f in data || {}) look(data[f]);
    for (const g in groups || {}) look(groups[g]);
    return first;
  }

  async function load() {
    if (follow) {
      const span = t1 - t0;
      t1 = nowD();
      if (!anchored || t1 - t0 > DAY) { anchored = false; t0 = t1 - span; }
    }
    document.getElementById("t0").value = localInput(t0);
    document.getElementById("t1").value = localInput(t1);
    document.getElementById("range-text").textContent = HK.t("trends.range", { from: HK.time(t0, true), to: HK.time(t1, true), span: HK.dur(t1 - t0) });
    const fields = [];
    for (const p of PANELS) for (const f of p.fields) fields.push(f[0]);
    const q = "t0=" + wall(t0).toFixed(0) + "&t1=" + Math.max(wall(t1), wall(t0) + 60).toFixed(0);
    const base = "/api/stations/" + encodeURIComponent(sid);
    document.getElementById("csv-link").href = "/export/trends.csv?station=" + encodeURIComponent(sid) + "&" + q + "&fields=" + fields.join(",");
    const width = Math.max(400, document.getElementById("chart-temps").clientWidth || 900);
    const [r, rooms] = await Promise.all([
      HK.api("GET", base + "/trends?" + q + "&max_points=" + Math.min(2000, Math.round(width)) + "&fields=" + fields.join(",")),
      HK.api("GET", base + "/rooms?" + q + "&max_points=" + Math.min(2000, Math.round(width)))]);
    if (!r.ok) { HK.toast(r.data.reason || HK.t("common.failed"), "bad"); return; }
    if (r.data.clock && (!clock || clock.wall_ts !== r.data.clock.wall_ts || clock.scale !== r.data.clock.scale)) {
      /* the station runs accelerated: the same span, now on its simulated clock */
      const span = t1 - t0;
      clock = r.data.clock;
      if (follow) { t1 = nowD(); t0 = t1 - span; }
      return load();
    }
    for (const f in r.data.data || {}) r.data.data[f] = onClock(r.data.data[f]);
    /* a final supply setpoint of 0 is the station's "heating off", not a target of 0 degC: a break in its line */
    if (r.data.data && r.data.data.supply_setpoint_c) {
      r.data.data.supply_setpoint_c = r.data.data.supply_setpoint_c.map(function (p) { return [p[0], p[1] === 0 ? null : p[1]]; });
    }
    if (rooms.ok) for (const g in rooms.data.groups || {}) rooms.data.groups[g] = onClock(rooms.data.groups[g]);
    document.getElementById("sim-clock").hidden = !clock;
    if (clock) document.getElementById("sim-clock").textContent = HK.t("trends.sim_clock", { k: clock.scale, start: HK.time(clock.wall_ts, true) });
    if (!fitted) {
      /* Open on the data that exists: a station heard from for 14 minutes opens on those
         minutes (from a round time), not on an empty day. */
      fitted = true;
      const first = firstTs(r.data.data, rooms.ok ? rooms.data.groups : null);
      if (first !== null && first > t0 + 0.05 * (t1 - t0)) {
        const span = Math.max(10 * MIN, t1 - first);
        const step = TIME_STEPS.find(function (s) { return span / s <= 8; }) || DAY;
        let start = Math.floor((t1 - span + zoneS(t1)) / step) * step - zoneS(t1);
        if (t1 - start < 10 * MIN) start = t1 - 10 * MIN;
        t0 = start;
        anchored = true;
        return load();
      }
    }
    for (const p of PANELS) {
      let series;
      if (p.rooms) {
        const groups = rooms.ok ? rooms.data.groups || {} : {};
        series = Object.keys(groups).sort().map(function (g, i) {
          return { label: HK.t("trends.room_group", { group: g }), colour: ROOM_COLOURS[i % ROOM_COLOURS.length], data: groups[g] };
        });
      } else {
        series = p.fields.map(function (f) {
          return { label: HK.t("field." + f[0]), colour: f[1], dash: f[2] || null, axis: f[3] || 1, data: r.data.data[f[0]] || [] }; });
      }
      draw(p, series);
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    for (const b of document.querySelectorAll("#presets .btn")) {
      b.addEventListener("click", function () { const now = nowD(); setRange(now - Number(b.dataset.span), now, true); });
    }
    document.getElementById("zoom-in").addEventListener("click", function () { const m = (t0 + t1) / 2, h = (t1 - t0) / 4; setRange(m - h, m + h, false); });
    document.getElementById("zoom-out").addEventListener("click", function () { const m = (t0 + t1) / 2, h = (t1 - t0); setRange(m - h, m + h, follow); });
    document.getElementById("pan-left").addEventListener("click", function () { const s = (t1 - t0) / 2; setRange(t0 - s, t1 - s, false); });
    document.getElementById("pan-right").addEventListener("click", function () { const s = (t1 - t0) / 2; setRange(t0 + s, t1 + s, false); });
    document.getElementById("now").addEventListener("click", function () { const s = t1 - t0; setRange(nowD() - s, nowD(), true); });
    document.getElementById("apply").addEventListener("click", function () {
      const a = parseInput(document.getElementById("t0").value), b = parseInput(document.getElementById("t1").value);
      if (!isFinite(a) || !isFinite(b)) { HK.toast(HK.t("trends.bad_time"), "bad"); return; }
      if (b <= a) { HK.toast(HK.t("trends.bad_range"), "bad"); return; }
      setRange(a, b, false);
    });
    load();
    setInterval(function () { if (follow && !document.hidden) load(); }, Math.max(15, HK.boot.refresh_s * 3) * 1000);
    let resize = null;
    window.addEventListener("resize", function () { clearTimeout(resize); resize = setTimeout(load, 300); });
  });
})();
