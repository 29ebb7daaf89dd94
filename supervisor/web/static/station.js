/* Station detail: live process diagram, setpoints and leases, rooms, alarms with
   acknowledgement, remote commands with confirmation and their fate. */
"use strict";
(function () {
  const HK = window.HK;
  const el = HK.el;
  const sid = HK.boot.station_id;
  const watching = {};      // command_id -> true while its fate is unknown
  let station = null;

  function setText(id, text, bad) {
    const node = document.getElementById(id);
    if (!node) return;
    node.textContent = text;
    if (node.classList) node.classList.toggle("bad", !!bad);
  }
  function v(name) { return station && station.values ? HK.num(station.values[name]) : null; }
  function on(name) { return v(name) !== null && v(name) >= 0.5; }

  function pump(id, runName, faultName, speedName, labelId, name) {
    const g = document.getElementById(id);
    const fault = on(faultName), run = on(runName);
    g.setAttribute("class", "pump " + (fault ? "pump-fault" : run ? "pump-run" : "pump-stop"));
    let state = fault ? HK.t("dia.fault") : run ? HK.t("dia.running") : HK.t("dia.stopped");
    // What the pump's drive reports (firmware/modbus/drives.py telemetry), when it has one.
    const drive = runName.replace(/running$/, "");
    if (on(drive + "local")) state = HK.t("dia.drive_local");
    else if (on(drive + "drive_reset_latched")) state = HK.t("dia.drive_needs_visit");
    if (on(drive + "drive_warning") || on(drive + "drive_error")) state += " · " + HK.t("dia.drive_warning");
    const speed = speedName && v(speedName) !== null ? " · " + HK.fmt(v(speedName), 0, "%") : "";
    setText(labelId, (name ? name + " · " : "") + state + (run ? speed : ""), fault);
  }

  function drawDiagram() {
    const sup2 = v("secondary_supply_temp_c");
    setText("d-p-sup-t", HK.fmt(v("primary_supply_temp_c"), 1, "°C"));
    setText("d-p-sup-p", HK.fmt(v("primary_supply_pressure_kpa"), 0, "kPa"));
    setText("d-p-ret-t", HK.fmt(v("primary_return_temp_c"), 1, "°C"));
    setText("d-p-ret-p", HK.fmt(v("primary_return_pressure_kpa"), 0, "kPa"));
    setText("d-s-sup-t", HK.fmt(sup2, 1, "°C"));
    setText("d-s-sup-p", HK.fmt(v("secondary_supply_pressure_kpa"), 0, "kPa"));
    const sp = v("supply_setpoint_c");
    setText("d-s-sup-sp", sp === null ? "" : HK.t("dia.setpoint", { v: HK.fmt(sp, 1, "°C") }));
    setText("d-s-ret-t", HK.fmt(v("secondary_return_temp_c"), 1, "°C"));
    setText("d-s-ret-p", HK.fmt(v("secondary_return_pressure_kpa"), 0, "kPa"));
    setText("d-valve", HK.fmt(v("valve_position_pct"), 0, "%"));
    const cmd = v("valve_cmd_pct");
    setText("d-valve-cmd", cmd === null ? "" : HK.t("dia.valve_cmd", { v: HK.fmt(cmd, 0, "%") }));
    setText("d-heat", HK.fmt(v("heat_power_kw"), 0, "kW"));
    setText("d-flow", HK.fmt(v("primary_flow_m3h"), 1, "m³/h"));
    setText("d-outdoor", HK.fmt(v("outdoor_temp_c"), 1, "°C"));
    pump("pump1", "pump1_running", "pump1_fault", "pump1_speed_pct", "d-p1", "P1");
    pump("pump2", "pump2_running", "pump2_fault", "pump2_speed_pct", "d-p2", "P2");
    pump("pumpm", "makeup_pump_running", "makeup_pump_fault", null, "d-pm", "");
    const level = v("tank_level_pct");
    setText("d-tank", HK.fmt(level, 0, "%"), level !== null && level < 20);
    const fill = document.getElementById("d-tank-fill");
    const h = level === null ? 0 : Math.max(0, Math.min(100, level)) * 0.66;
    fill.setAttribute("y", String(68 - h));
    fill.setAttribute("height", String(h));
    fill.setAttribute("class", level !== null && level < 20 ? "tank-low" : "tank-water");
    const room = coldestRoom();
    setText("d-room", room === null ? "–" : HK.fmt(room, 1, "°C"), room !== null && room < HK.COMFORT_MIN_C);
  }

  function coldestRoom() {
    const rooms = (station && station.rooms) || [];
    let min = null;
    for (const r of rooms) { const t = HK.num(r.temp_c); if (t !== null && (min === null || t < min)) min = t; }
    return min;
  }

  function drawHeader() {
    document.getElementById("st-name").textContent = station.name || sid;
    document.title = (station.name || sid) + " · heatkeeper";
    const online = document.getElementById("st-online");
    online.className = "pill " + (station.online ? "pill-ok" : "pill-off");
    HK.clear(online).append(el("span", { class: "dot" }), HK.t(station.online ? "station.online" : "station.offline"));
    let mode = station.mode || (station.values && station.values.mode_name);
    const modeNo = v("mode");
    if (!mode && modeNo !== null) mode = HK.boot.mode_names[modeNo] || null;
    document.getElementById("st-mode").textContent = HK.t("station.mode", { mode: HK.modeName(typeof mode === "string" ? mode : null) });
    const seen = station.values_ts || station.last_seen_ts;
    setText("st-seen", HK.t("station.last_data", { ago: HK.ago(seen) }));
    document.getElementById("st-stale").hidden = !!station.online;
  }

  function fact(label, value, id) {
    if (value === "–" || value === "– / –") return null;  /* not reported by this station */
    return el("div", { class: "fact", id: id }, [el("div", { class: "k" }, [label]), el("div", { class: "v" }, [value])]);
  }

  function drawFacts() {
    const box = HK.clear(document.getElementById("facts"));
    const add = function (node) { if (node) box.append(node); };
    add(fact(HK.t("fact.supply_setpoint"), HK.fmt(v("supply_setpoint_c"), 1, "°C"), "fact-supply-sp"));
    add(fact(HK.t("fact.curve_setpoint"), HK.fmt(v("chain_setpoint_c"), 1, "°C")));
    const trim = v("room_trim_k"), low = v("room_low_c");
    if (trim !== null) {
      add(fact(HK.t("fact.room_trim"), (trim > 0 ? "+" : "") + HK.fmt(trim, 1, "K")
        + (low !== null ? " · " + HK.t("fact.room_low", { v: HK.fmt(low, 1, "°C") }) : ""), "fact-room-trim"));
    }
    const boost = v("dp_shortage_boost_kpa"), margin = v("room_shortage_margin_k");
    if ((boost !== null && boost > 0) || (margin !== null && margin > 0)) {
      add(fact(HK.t("fact.shortage"), HK.t("fact.shortage_v", { dp: HK.fmt(boost || 0, 0, "kPa"), k: HK.fmt(margin || 0, 1, "K") }),
        "fact-shortage"));
    }
    add(fact(HK.t("fact.dp"), v("dp_kpa") === null ? "–" : HK.fmt(v("dp_kpa"), 0, "kPa") + " / " + HK.fmt(v("dp_target_kpa"), 0, "kPa")));
    add(fact(HK.t("fact.makeup_sp"), HK.fmt(v("makeup_setpoint_kpa"), 0, "kPa")));
    add(fact(HK.t("fact.makeup_rate"), HK.fmt(v("makeup_rate_l_per_h"), 0, "l/h")));
    const leases = station.leases || {};
    const names = Object.keys(leases);
    for (const name of names) {
      const lease = leases[name];
      const isArr = Array.isArray(lease), isObj = lease && typeof lease === "object" && !isArr;
      const value = isArr ? lease[0] : isObj ? HK.pick(lease, ["value", "setpoint"]) : lease;
      const until = isObj ? HK.pick(lease, ["expires_ts", "until_ts"]) : null;
      const left = isArr ? HK.num(lease[1]) : isObj ? HK.pick(lease, ["remaining_s", "left_s"]) : null;
      const rest = left !== null ? HK.dur(left) : until !== null ? HK.time(until) : "";
      add(fact(HK.t("fact.lease", { name: HK.t("lease." + name) }), (HK.num(value) !== null ? HK.fmt(value, 1) : String(value)) + (rest ? " · " + rest : ""), "lease-" + name));
    }
    for (const key of ["room_setpoint_lease_s", "supply_setpoint_lease_s", "dp_setpoint_lease_s", "makeup_pressure_lease_s", "boost_lease_s"]) {
      const left = v(key);
      if (left !== null && left > 0 && !names.length) add(fact(HK.t("fact.lease_left", { name: HK.t("lease." + key.replace("_lease_s", "")) }), HK.dur(left)));
    }
  }

  function drawRooms() {
    /* One row per building group: its coldest flat (what the 18 degC floor is about). */
    const body = HK.clear(document.querySelector("#rooms tbody"));
    const groups = {};
    for (const r of station.rooms || []) {
      const t = HK.num(r.temp_c);
      if (t === null) continue;
      const g = groups[r.group] || (groups[r.group] = { group: r.group, min: t, at: r.collector, n: 0, ts: r.ts });
      g.n += 1;
      if (t < g.min) { g.min = t; g.at = r.collector; }
      if (HK.num(r.ts) !== null && (g.ts === null || r.ts < g.ts)) g.ts = r.ts;
    }
    const rows = Object.keys(groups).map(function (k) { return groups[k]; }).sort(function (a, b) { return a.min - b.min; });
    for (const g of rows) {
      body.append(el("tr", { class: "room-row" }, [el("td", {}, [el("strong", {}, [g.group || "–"]), el("div", { class: "sub" }, [g.at || ""])]),
        el("td", { class: "num" }, [String(g.n)]),
        el("td", { class: "num comfort comfort-" + HK.comfortClass(g.min) }, [HK.fmt(g.min, 1, "°C")]), el("td", {}, [HK.ago(g.ts)])]));
    }
    if (!rows.length) body.append(el("tr", {}, [el("td", { colspan: "4", class: "muted" }, [HK.t("station.no_rooms")])]));
  }

  function drawAlarms() {
    const body = HK.clear(document.querySelector("#st-alarms tbody"));
    const alarms = station.alarms || [];
    for (const a of alarms) {
      let action;
      if (a.acked_by) action = el("span", { class: "muted" }, [HK.t("alarms.acked_by", { user: a.acked_by })]);
      else if (HK.can("operator")) action = el("button", { class: "btn btn-small ack-btn", type: "button", "data-code": a.code, onclick: function () { ack(a); } }, [HK.t("alarms.ack")]);
      else action = el("span", { class: "muted" }, [HK.t("alarms.unacked")]);
      body.append(el("tr", { class: "alarm-row", "data-code": a.code }, [
        el("td", {}, [el("span", { class: "pill " + HK.sevClass(a.severity) }, [HK.t("sev." + (a.severity || "alarm"))]), " ",
          el("strong", {}, [HK.alarmName(a.code)]),
          a.text ? el("div", { class: "sub" }, [a.text]) : null]),
        el("td", {}, [HK.time(a.since_ts, true)]), el("td", {}, [action])]));
    }
    if (!alarms.length) body.append(el("tr", {}, [el("td", { colspan: "3", class: "muted" }, [HK.t("alarms.none_station")])]));
  }

  async function ack(a) {
    const ok = await HK.confirm(HK.t("alarms.ack_title"), [HK.t("alarms.ack_text", { code: a.code, station: station.name || sid })], HK.t("alarms.ack"));
    if (!ok) return;
    const r = await HK.api("POST", "/api/alarms/ack", { station_id: sid, code: a.code });
    if (!r.ok) { HK.toast(HK.t("alarms.ack_failed", { reason: r.data.reason || r.status }), "bad"); return; }
    HK.toast(HK.t("alarms.ack_done", { code: a.code }), "ok");
    if (r.data.result && r.data.result.command_id) watch(r.data.result.command_id);
    refresh();
  }

  /* --- commands --- */
  const FIELD_UI = {
    room_setpoint_c: { step: 0.5, value: 20 }, supply_setpoint_c: { step: 0.5, value: 55 },
    dp_setpoint_kpa: { step: 5, value: 60 }, pressure_setpoint_kpa: { step: 5, value: 250 },
    boost_k: { step: 0.5, value: 3 }, duration_s: { step: 60, value: 3600 }, valve_pct: { step: 1, value: 50 }
  };
  function drawCommandFields() {
    const kind = document.getElementById("cmd-kind").value;
    const box = HK.clear(document.getElementById("cmd-fields"));
    const spec = HK.boot.command_args[kind] || {};
    for (const name in spec) {
      const unit = spec[name][0], lo = spec[name][1], hi = spec[name][2];
      const ui = FIELD_UI[name] || { step: "any", value: lo };
      box.append(el("label", {}, [HK.t("arg." + name) + " (" + unit.replace("degC", "°C") + ", " + lo + "–" + hi + ")",
        el("input", { type: "number", id: "arg-" + name, name: name, min: lo, max: hi, step: ui.step, value: ui.value, required: true })]));
    }
    if (kind === "set_mode") {
      box.append(el("label", {}, [HK.t("arg.mode"), el("select", { id: "arg-mode" }, HK.boot.modes.map(function (m) {
        return el("option", { value: m, selected: m === "auto" }, [HK.modeName(m)]); }))]));
    }
    if (kind === "clear_lease") {
      box.append(el("label", {}, [HK.t("arg.what"), el("select", { id: "arg-what" }, HK.boot.clearable.map(function (m) {
        return el("option", { value: m }, [HK.t("lease." + m)]); }))]));
    }
    document.getElementById("cmd-lease-box").hidden = HK.boot.leased.indexOf(kind) < 0;
  }

  function describe(kind, args, lease_s) {
    const parts = [];
    const spec = HK.boot.command_args[kind] || {};
    for (const k in args) {
      const val = args[k];
      if (k === "lease_s") continue;  /* shown as "for ..." */
      if (k === "mode") parts.push(HK.modeName(val));
      else if (k === "what") parts.push(HK.t("lease." + val));
      else if (k === "code") parts.push(HK.alarmName(val));
      else if (k === "duration_s") parts.push(HK.t("arg." + k) + " " + HK.dur(val));
      else parts.push(HK.t("arg." + k) + " " + val + (spec[k] ? " " + spec[k][0].replace("degC", "°C") : ""));
    }
    let text = HK.t("cmd.kind." + kind) + (parts.length ? ": " + parts.join(", ") : "");
    if (lease_s) text += " · " + HK.t("cmd.for", { dur: HK.dur(lease_s) });
    return text;
  }

  async function submitCommand(ev) {
    ev.preventDefault();
    const kind = document.getElementById("cmd-kind").value;
    const args = {};
    const spec = HK.boot.command_args[kind] || {};
    for (const name in spec) {
      const input = document.getElementById("arg-" + name);
      if (!input.reportValidity()) return;
      args[name] = Number(input.value);
    }
    if (kind === "set_mode") args.mode = document.getElementById("arg-mode").value;
    if (kind === "clear_lease") args.what = document.getElementById("arg-what").value;
    const body = { kind: kind, args: args };
    const leased = HK.boot.leased.indexOf(kind) >= 0;
    if (leased) body.lease_s = Number(document.getElementById("cmd-lease").value);
    const lines = [HK.t("cmd.confirm_station", { station: (station && station.name) || sid, id: sid }), describe(kind, args, body.lease_s)];
    if (leased) lines.push(HK.t("cmd.confirm_lease"));
    if (kind === "set_mode" || kind === "set_valve_manual") lines.push(HK.t("cmd.confirm_careful"));
    const ok = await HK.confirm(HK.t("cmd.confirm_title"), lines, HK.t("cmd.send"));
    if (!ok) return;
    const r = await HK.api("POST", "/api/stations/" + encodeURIComponent(sid) + "/commands", body);
    if (!r.ok) { HK.toast(HK.t("cmd.refused", { reason: r.data.reason || r.status }), "bad"); return; }
    HK.toast(HK.t("cmd.sent_toast"), "info");
    watch(r.data.command_id);
    refreshCommands();
  }

  function watch(id) {
    if (!id || watching[id]) return;
    watching[id] = true;
    let tries = 0;
    async function step() {
      tries += 1;
      const r = await HK.api("GET", "/api/commands/" + encodeURIComponent(id));
      if (r.ok && r.data.state && r.data.state !== "sent") {
        delete watching[id];
        const kind = r.data.state === "applied" ? "ok" : "bad";
        HK.toast(HK.t("cmd.state." + r.data.state) + (r.data.reason && r.data.state !== "applied" ? ": " + HK.reasonText(r.data.reason, "") : ""), kind);
        refreshCommands();
        refresh();
        return;
      }
      if (tries < 600) setTimeout(step, tries < 20 ? 1000 : 3000);
    }
    setTimeout(step, 500);
  }

  function statePill(c) {
    const cls = { sent: "pill-info", applied: "pill-ok", rejected: "pill-bad", timed_out: "pill-warn", expired: "pill-warn" }[c.state] || "pill-off";
    return el("span", { class: "pill cmd-state " + cls, "data-state": c.state }, [HK.t("cmd.state." + c.state)]);
  }

  async function refreshCommands() {
    const r = await HK.api("GET", "/api/commands?station=" + encodeURIComponent(sid));
    if (!r.ok) return;
    const list = HK.clear(document.getElementById("cmd-list"));
    const cmds = (r.data.commands || []).slice(0, 12);
    for (const c of cmds) {
      if (c.state === "sent") watch(c.command_id);
      list.append(el("li", { class: "cmd-item", "data-command": c.command_id }, [statePill(c),
        el("span", { class: "what" }, [describe(c.kind, c.args || {}, (c.args || {}).lease_s)]),
        el("span", { class: "muted" }, [c.user + " · " + HK.time(c.issued_ts, true)]),
        c.state !== "applied" && c.state !== "sent" && (c.reason || c.detail)
          ? el("span", { class: "why" }, [HK.reasonText(c.reason, c.detail)]) : null]));
    }
    if (!cmds.length) list.append(el("li", { class: "muted" }, [HK.t("cmd.none")]));
  }

  async function refresh() {
    const r = await HK.api("GET", "/api/stations/" + encodeURIComponent(sid));
    if (!r.ok) { HK.toast(r.data.reason || HK.t("common.failed"), "bad"); return; }
    station = r.data.station;
    drawHeader(); drawDiagram(); drawFacts(); drawRooms(); drawAlarms();
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("cmd-form");
    if (form) {
      document.getElementById("cmd-kind").addEventListener("change", drawCommandFields);
      drawCommandFields();
      form.addEventListener("submit", submitCommand);
    }
    HK.poll(refresh);
    HK.poll(refreshCommands, Math.max(5, HK.boot.refresh_s * 2));
  });
})();
