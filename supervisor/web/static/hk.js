/* heatkeeper dashboard: shared helpers (i18n, API calls with CSRF, polling, formatting, dialogs).
   Plain browser JavaScript, no build step, no third-party code; served by the supervisor. */
"use strict";
(function () {
  const boot = JSON.parse(document.getElementById("hk-boot").textContent);
  const HK = window.HK = { boot: boot, lang: boot.lang, role: boot.role, user: boot.user };
  const ROLE_RANK = { viewer: 0, operator: 1, admin: 2 };
  HK.COMFORT_MIN_C = 18.0;

  HK.t = function (key, params) {
    let text = Object.prototype.hasOwnProperty.call(boot.msgs, key) ? boot.msgs[key] : key;
    if (params) for (const k in params) text = text.split("{" + k + "}").join(String(params[k]));
    return text;
  };
  HK.can = function (needed) { return HK.role in ROLE_RANK && ROLE_RANK[HK.role] >= ROLE_RANK[needed]; };

  /* DOM builder: never innerHTML with data. el("td", {class: "num"}, ["text", child]) */
  HK.el = function (tag, attrs, children) {
    const node = document.createElement(tag);
    for (const k in (attrs || {})) {
      const v = attrs[k];
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") node.textContent = v;
      else if (k === "style") node.style.cssText = v;  /* CSSOM: allowed by the CSP, unlike style attributes */
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : v);
    }
    for (const c of [].concat(children || [])) {
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return node;
  };
  HK.clear = function (node) { while (node.firstChild) node.removeChild(node.firstChild); return node; };

  /* --- formatting --- */
  HK.num = function (v) { return typeof v === "number" && isFinite(v) ? v : null; };
  HK.fmt = function (v, digits, unit) {
    const n = HK.num(v);
    if (n === null) return "–";
    const text = n.toFixed(digits === undefined ? 1 : digits);
    return (/^-0(\.0*)?$/.test(text) ? text.slice(1) : text) + (unit ? " " + unit : "");  /* never "-0.0" */
  };
  /* The station's final supply setpoint: 0 is the station's "heating off" (valve driven shut:
     not heating, tripped or no flow), never a target of 0 degC. */
  HK.setpoint = function (v) {
    return HK.num(v) === 0 ? HK.t("common.heating_off") : HK.fmt(v, 1, "°C");
  };
  /* Hours as a report states them: under an hour in minutes (a quarter hour below the floor is
     "15 min", not "0.0" h), from an hour on in hours. */
  HK.hours = function (h) {
    const n = HK.num(h);
    if (n === null || n <= 0 || n >= 1) return HK.fmt(n === null ? n : Math.max(0, n), 1);
    return HK.t("common.dur_min", { n: Math.max(1, Math.round(n * 60)) });
  };
  /* The site's clock ([supervisor] utc_offset_h): the reports' days and hours are the site's,
     whatever zone the browser is in. siteDate(ts) is a Date whose getUTC* read the site's time. */
  HK.siteOffsetS = (HK.num(boot.utc_offset_h) || 0) * 3600;
  HK.siteDate = function (ts) { return new Date((ts + HK.siteOffsetS) * 1000); };
  HK.siteTime = function (ts, withDate) {
    if (!HK.num(ts)) return "–";
    const d = HK.siteDate(ts);
    const hm = HK.pad(d.getUTCHours()) + ":" + HK.pad(d.getUTCMinutes());
    return withDate ? d.getUTCFullYear() + "-" + HK.pad(d.getUTCMonth() + 1) + "-" + HK.pad(d.getUTCDate()) + " " + hm : hm;
  };
  /* The supervisor's own alarms (pseudo station boot.site_id) have no station page. */
  HK.isSite = function (sid) { return sid === boot.site_id; };
  HK.pad = function (n) { return (n < 10 ? "0" : "") + n; };
  HK.time = function (ts, withDate) {
    if (!HK.num(ts)) return "–";
    const d = new Date(ts * 1000);
    const hm = HK.pad(d.getHours()) + ":" + HK.pad(d.getMinutes()) + ":" + HK.pad(d.getSeconds());
    if (!withDate) return hm;
    return d.getFullYear() + "-" + HK.pad(d.getMonth() + 1) + "-" + HK.pad(d.getDate()) + " " + hm;
  };
  HK.ago = function (ts) {
    if (!HK.num(ts)) return HK.t("common.never");
    const s = Math.max(0, Date.now() / 1000 - ts);
    if (s < 90) return HK.t("common.ago_s", { n: Math.round(s) });
    if (s < 5400) return HK.t("common.ago_min", { n: Math.round(s / 60) });
    if (s < 172800) return HK.t("common.ago_h", { n: Math.round(s / 3600) });
    return HK.t("common.ago_d", { n: Math.round(s / 86400) });
  };
  HK.dur = function (s) {
    if (!HK.num(s)) return "–";
    if (s < 3600) return HK.t("common.dur_min", { n: Math.round(s / 60) });
    if (s < 172800) return HK.t("common.dur_h", { n: (s / 3600).toFixed(1) });
    return HK.t("common.dur_d", { n: (s / 86400).toFixed(1) });
  };
  HK.sevClass = function (s) {
    if (s === "critical" || s === "major" || s === "alarm") return "pill-bad";
    if (s === "minor" || s === "warning") return "pill-warn";
    return "pill-info";
  };
  HK.alarmName = function (code) {
    code = String(code || "");
    if (code.indexOf("sensor_") === 0) return HK.t("alarm.sensor", { name: HK.t("field." + code.slice(7)) });
    const text = HK.t("alarm." + code);
    return text === "alarm." + code ? code : text;
  };
  /* The alarm's sentence (what it means, what the station did): the station's own English text
     in English, the catalogue's sentence in another language (none when it has no sentence: the
     translated name and the evidence stand alone then). */
  HK.alarmText = function (a) {
    if (HK.lang === "en") return a.text || "";
    const key = "alarmtext." + String(a.code || "");
    const text = HK.t(key);
    return text === key ? "" : text;
  };
  /* A reason code from the station or the supervisor, in words (in English with its code kept
     for support), and its detail in words when it has one of the shapes below. */
  HK.reasonText = function (code, detail) {
    detail = HK.detailText(detail);
    if (!code) return detail || "";
    const text = HK.t("reason." + code);
    const words = text === "reason." + code ? (HK.lang === "en" ? code : HK.t("reason.other")) : text + (HK.lang === "en" ? " (" + code + ")" : "");
    return detail ? words + " — " + detail : words;
  };
  /* The details the station (core/command_handler.py, core/commands.py) and the supervisor's
     command tracker write, as [pattern, catalogue key or "" (the reason says it all), params]. */
  const UNIT = function (u) { return u === "degC" ? "°C" : u; };
  const ARG = function (k) { const t = HK.t("arg." + k); return t === "arg." + k ? k : t; };
  const DUR = function (s) { return HK.dur(Number(s)); };
  const DETAILS = [
    [/^(\w+)=(-?[\d.]+) (\S+) for (\d+) s$/, "detail.set_for", function (m) { return { name: ARG(m[1]), value: m[2], unit: UNIT(m[3]), dur: DUR(m[4]) }; }],
    [/^boost \+?(-?[\d.]+) K for (\d+) s$/, "detail.boost", function (m) { return { k: m[1], dur: DUR(m[2]) }; }],
    [/^manual valve position (-?[\d.]+) %$/, "detail.valve", function (m) { return { v: m[1] }; }],
    [/^alarm (\w+) acknowledged$/, "detail.alarm_acked", function (m) { return { name: HK.alarmName(m[1]) }; }],
    [/^all leases cleared$/, "detail.all_cleared", null],
    [/^(\w+) lease cleared$/, "detail.lease_cleared", function (m) { return { name: HK.t("lease." + m[1]) }; }],
    [/^no (\w+) lease was active$/, "detail.no_lease", function (m) { return { name: HK.t("lease." + m[1]) }; }],
    [/^mode (\w+) lease renewed for (\d+) s$/, "detail.mode_renewed", function (m) { return { mode: HK.modeName(m[1]), dur: DUR(m[2]) }; }],
    [/^already in mode (\w+)$/, "detail.already_mode", function (m) { return { mode: HK.modeName(m[1]) }; }],
    [/^mode (\w+) -> (\w+) for (\d+) s, then back to (\w+)$/, "detail.mode_lease", function (m) {
      return { from: HK.modeName(m[1]), to: HK.modeName(m[2]), dur: DUR(m[3]), back: HK.modeName(m[4]) }; }],
    [/^mode (\w+) -> (\w+)$/, "detail.mode_change", function (m) { return { from: HK.modeName(m[1]), to: HK.modeName(m[2]) }; }],
    [/^(\w+)=(\S+) (\S+): must be in \[([^,]+), ([^\]]+)\]$/, "detail.out_of_range", function (m) {
      return { name: ARG(m[1]), value: m[2], unit: UNIT(m[3]), lo: m[4], hi: m[5] }; }],
    [/^(\w+)=(\S+): must be a number in (\S+)$/, "detail.not_a_number", function (m) { return { name: ARG(m[1]), value: m[2], unit: UNIT(m[3]) }; }],
    [/^(\w+) is not permitted in mode (\w+)$/, "detail.not_in_mode", function (m) { return { kind: HK.t("cmd.kind." + m[1]), mode: HK.modeName(m[2]) }; }],
    [/^mode (\w+) cannot be entered from (\w+)$/, "detail.mode_from", function (m) { return { mode: HK.modeName(m[1]), from: HK.modeName(m[2]) }; }],
    [/^remote summer refused: outdoor (-?[\d.]+) degC is below \S+=(-?[\d.]+) degC$/, "detail.too_cold", function (m) { return { t: m[1], limit: m[2] }; }],
    [/^alarm (\w+): (\w+)$/, "detail.alarm_why", function (m) { return { name: HK.alarmName(m[1]), why: HK.reasonText(m[2], "") }; }],
    [/^no ack from the station within (\d+) s$/, "detail.no_ack", function (m) { return { dur: DUR(m[1]) }; }],
    [/is allowed from the local panel only$|^remote summer refused: outdoor temperature unknown$|^broker did not take the command|^arrived after its expiry$|^manual mode refused while|^over-temperature trip latched/, "", null]
  ];
  HK.detailText = function (detail) {
    detail = String(detail || "").trim();
    if (!detail) return "";
    for (const row of DETAILS) {
      const m = row[0].exec(detail);
      if (m) return row[1] ? HK.t(row[1], row[2] ? row[2](m) : undefined) : "";
    }
    return HK.lang === "en" ? detail : "";  /* another language: the reason code's words stand alone */
  };
  HK.modeName = function (mode) { return mode ? HK.t("mode." + mode) : "–"; };

  /* --- the API --- */
  HK.api = async function (method, path, body) {
    const opts = { method: method, credentials: "same-origin", headers: { "Accept": "application/json" } };
    if (method !== "GET") opts.headers["X-CSRF-Token"] = boot.csrf;
    if (body !== undefined) { opts.headers["Content-Type"] = "application/json"; opts.body = JSON.stringify(body); }
    let resp;
    try { resp = await fetch(path, opts); } catch (e) {
      HK.setConn(false);
      return { ok: false, status: 0, data: { reason: HK.t("conn.lost") } };
    }
    HK.setConn(true);
    if (resp.status === 401) { window.location.href = "/login?next=" + encodeURIComponent(location.pathname + location.search); }
    let data = null;
    try { data = await resp.json(); } catch (e) { data = { reason: resp.statusText }; }
    return { ok: resp.ok, status: resp.status, data: data };
  };

  /* --- connection indicator and polling --- */
  HK.setConn = function (ok) {
    const box = document.getElementById("conn-state");
    if (!box) return;
    box.classList.toggle("conn-ok", ok);
    box.classList.toggle("conn-bad", !ok);
    document.getElementById("conn-text").textContent = ok ? HK.t("conn.live") + " " + HK.time(Date.now() / 1000) : HK.t("conn.lost");
  };
  HK.poll = function (fn, seconds) {
    let timer = null;
    const period = 1000 * (seconds || boot.refresh_s || 5);
    async function tick() {
      clearTimeout(timer);
      try { await fn(); } catch (e) { console.error(e); }
      timer = setTimeout(tick, document.hidden ? period * 4 : period);
    }
    document.addEventListener("visibilitychange", function () { if (!document.hidden) tick(); });
    tick();
    return { now: tick };
  };

  /* --- feedback --- */
  HK.toast = function (msg, kind) {
    const box = document.getElementById("toast");
    box.textContent = msg;
    box.className = "toast toast-" + (kind || "info");
    box.hidden = false;
    clearTimeout(HK._toastTimer);
    HK._toastTimer = setTimeout(function () { box.hidden = true; }, 6000);
  };
  /* A modal confirmation; resolves true only on the confirm button. */
  HK.confirm = function (title, lines, confirmLabel) {
    return new Promise(function (resolve) {
      const dlg = HK.el("dialog", { class: "confirm", id: "confirm-dialog" });
      const ok = HK.el("button", { class: "btn btn-primary", id: "confirm-ok", type: "button", text: confirmLabel || HK.t("common.confirm") });
      const no = HK.el("button", { class: "btn", id: "confirm-cancel", type: "button", text: HK.t("common.cancel") });
      dlg.appendChild(HK.el("h2", { text: title }));
      for (const line of lines) dlg.appendChild(HK.el("p", {}, [line]));
      dlg.appendChild(HK.el("div", { class: "dialog-buttons" }, [no, ok]));
      document.body.appendChild(dlg);
      function done(v) { dlg.close(); dlg.remove(); resolve(v); }
      ok.addEventListener("click", function () { done(true); });
      no.addEventListener("click", function () { done(false); });
      dlg.addEventListener("cancel", function (e) { e.preventDefault(); done(false); });
      dlg.showModal();
      no.focus();
    });
  };

  /* --- station view model: one shape for the fleet and detail pages --- */
  HK.pick = function (obj, keys) {
    for (const k of keys) if (obj && obj[k] !== undefined && obj[k] !== null) return obj[k];
    return null;
  };
  HK.stationView = function (s) {
    const state = s.state || {};
    const values = s.values || state.values || {
      secondary_supply_temp_c: s.supply_temp_c, supply_setpoint_c: s.supply_setpoint_c, outdoor_temp_c: s.outdoor_temp_c };
    const alarms = s.alarms || state.alarms || [];
    const active = Array.isArray(alarms) ? alarms.filter(function (a) { return a.active !== false; }) : [];
    let roomMin = HK.pick(s, ["coldest_room_c", "room_min_temp_c"]);
    if (roomMin === null) roomMin = HK.pick(state, ["coldest_room_c", "room_min_temp_c"]);
    if (roomMin === null) roomMin = HK.pick(values, ["room_min_temp_c", "coldest_room_c"]);
    if (roomMin === null && s.comfort) roomMin = HK.pick(s.comfort, ["min_room_c", "coldest_room_c", "min_temp_c"]);
    if (roomMin === null && Array.isArray(s.rooms)) {
      for (const r of s.rooms) if (HK.num(r.temp_c) !== null && (roomMin === null || r.temp_c < roomMin)) roomMin = r.temp_c;
    }
    let online = HK.pick(s, ["online"]);
    if (online === null) online = HK.pick(state, ["online"]);
    if (online === null && s.status) online = s.status === "online";
    return {
      id: s.station_id || s.id,
      name: s.name || state.name || s.station_id || s.id,
      city: s.city || state.city || "",
      online: !!online,
      last_seen_ts: HK.pick(s, ["last_seen_ts"]) || HK.pick(state, ["last_seen_ts"]),
      mode: HK.pick(s, ["mode_name", "mode"]) || HK.pick(state, ["mode_name", "mode"]) || HK.pick(values, ["mode_name"]),
      values: values,
      alarms: active,
      alarm_count: HK.num(HK.pick(s, ["active_alarms", "alarm_count"])) !== null ? HK.pick(s, ["active_alarms", "alarm_count"]) : active.length,
      unacked: HK.num(HK.pick(s, ["unacked_alarms"])) !== null ? s.unacked_alarms : active.filter(function (a) { return !a.acked_by; }).length,
      worst: s.worst_severity || null,
      groups_below: s.comfort ? HK.num(s.comfort.groups_below_18) : null,
      room_min_c: HK.num(roomMin),
      leases: s.leases || state.leases || {},
      raw: s
    };
  };
  HK.comfortClass = function (c) {
    if (c === null) return "unknown";
    if (c < HK.COMFORT_MIN_C) return "bad";
    if (c < HK.COMFORT_MIN_C + 0.5) return "warn";
    return "ok";
  };

  /* --- every page: the active-alarm count in the navigation --- */
  async function navAlarms() {
    const badge = document.getElementById("nav-alarm-count");
    if (!badge) return;
    const r = await HK.api("GET", "/api/alarms?active=1");
    if (!r.ok) return;
    const n = (r.data.alarms || []).length;
    badge.textContent = String(n);
    badge.hidden = n === 0;
  }
  /* The supervisor's own link to the broker: without it nothing new arrives and no command leaves. */
  async function brokerHealth() {
    const banner = document.getElementById("broker-banner");
    if (!banner) return;
    const r = await HK.api("GET", "/api/health");
    if (r.ok) banner.hidden = r.data.broker_connected !== false;
  }
  document.addEventListener("DOMContentLoaded", function () {
    if (new URLSearchParams(location.search).get("password") === "changed") HK.toast(HK.t("password.changed"), "ok");
    if (HK.user) {
      HK.poll(navAlarms, Math.max(10, boot.refresh_s * 2));
      HK.poll(brokerHealth, Math.max(10, boot.refresh_s * 2));
    }
  });
})();

/* Alarm evidence, one wording for the station, alarms and fleet pages: the value against its
   limit where the alarm row carries them, and how long it has been active. */
(function () {
  const HK = window.HK;
  /* What an alarm's recorded value is: its unit, or null where the value is no reading (a pump's
     number, a flag): core/station.py and supervisor/fleet_alarms.py say what each one records. */
  const UNITS = {
    secondary_overtemp: "°C", supply_deviation_high: "°C", supply_deviation_low: "°C", valve_open_no_rise: "°C",
    valve_shut_rising: "°C", pump_dry_run: "kPa", pressure_high: "kPa", pressure_low: "kPa", startup_fill_timeout: "kPa",
    tank_level_low: "%", tank_level_low_low: "%", valve_position_mismatch: "%", makeup_leak_rate: "l/h",
    makeup_long_run: "m³", pumps_all_failed: null, pump1_fault: null, pump2_fault: null, makeup_pump_fault: null,
    safe_mode: null, station_offline: "s", station_clock_off: "s", collector_stale: "s", collector_dead: "s",
    collector_coverage_low: "%", comfort_below_floor: "°C", comfort_overheating: "°C", heating_outage: "kW",
    group_without_collector: "", notify_channel_failed: null
  };
  const SENSOR_UNITS = [["_c", "°C"], ["_kpa", "kPa"], ["_pct", "%"], ["_kw", "kW"], ["_m3h", "m³/h"]];
  function alarmUnit(a) {
    if (a.unit) return String(a.unit).replace("degC", "°C");
    const code = String(a.code || "");
    if (Object.prototype.hasOwnProperty.call(UNITS, code)) return UNITS[code];
    if (code.indexOf("sensor_") === 0) {
      for (const su of SENSOR_UNITS) if (code.slice(-su[0].length) === su[0]) return su[1];
    }
    return "";
  }
  HK.alarmEvidence = function (a) {
    const u = alarmUnit(a);
    if (u === null) return "";
    const value = HK.num(a.value), limit = HK.num(a.limit);
    const unit = u ? " " + u : "";
    if (value !== null && limit !== null) return HK.t("alarms.evidence", { value: HK.fmt(value, 1) + unit, limit: HK.fmt(limit, 1) + unit });
    if (value !== null) return HK.t("alarms.evidence_value", { value: HK.fmt(value, 1) + unit });
    return "";
  };
  /* The menu groups (<details> in the top bar): one open at a time, closed by a click elsewhere
     or Escape. */
  document.addEventListener("DOMContentLoaded", function () {
    const groups = Array.prototype.slice.call(document.querySelectorAll(".navgroup"));
    groups.forEach(function (g) {
      g.addEventListener("toggle", function () {
        if (g.open) groups.forEach(function (o) { if (o !== g) o.open = false; });
      });
    });
    document.addEventListener("click", function (e) {
      groups.forEach(function (g) { if (g.open && !g.contains(e.target)) g.open = false; });
    });
    document.addEventListener("keydown", function (e) {
      if (e.key === "Escape") groups.forEach(function (g) { g.open = false; });
    });
  });
  HK.alarmFor = function (a) {
    if (!HK.num(a.since_ts)) return "";
    const end = a.active === false && HK.num(a.cleared_ts) ? a.cleared_ts : Date.now() / 1000;
    const s = Math.max(0, end - a.since_ts);
    return HK.t("alarms.for", { dur: s < 60 ? Math.round(s) + " s" : HK.dur(s) });
  };
})();
