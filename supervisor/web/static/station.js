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
    setText("d-s-sup-sp", sp === null ? "" : HK.t("dia.setpoint", { v: HK.setpoint(sp) }));
    drawDiagramLease();
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

  /* The supply lease on the diagram: its target and time left, and whether it can get there. */
  function drawDiagramLease() {
    const lease = ((station && station.leases) || {}).supply_setpoint;
    if (!lease || HK.num(lease.value) === null) { setText("d-s-lease", ""); setText("d-s-lease2", ""); return; }
    setText("d-s-lease", HK.t("dia.lease", { v: HK.fmt(lease.value, 1, "°C"), left: HK.dur(lease.remaining_s) }));
    let second = "", bad = false;
    if (lease.in_effect === false) { second = HK.t("lease.not_in_effect", { mode: HK.modeName(station.mode) }); bad = true; }
    else if (lease.arrives === false) { second = HK.t("dia.lease_short", { v: HK.fmt(lease.at_end_c, 1, "°C") }); bad = true; }
    else if (HK.num(lease.arrival_s) !== null && lease.arrival_s > 0) second = HK.t("dia.lease_arrives", { dur: HK.dur(lease.arrival_s) });
    setText("d-s-lease2", second, bad);
  }

  /* One active lease in words: target, time left, and for the supply setpoint its climb. */
  function leaseText(name, lease) {
    const unit = (lease.unit || "").replace("degC", "°C");
    const left = HK.dur(lease.remaining_s);
    if (name === "mode") {
      const back = HK.num(lease.back_to) !== null ? HK.boot.mode_names[lease.back_to] : null;
      return HK.t("lease.words_mode", { mode: HK.modeName(station.mode), left: left, back: back ? HK.modeName(back) : "–" });
    }
    const target = HK.num(lease.value) !== null ? HK.fmt(lease.value, 1, unit) : "–";
    const parts = [HK.t("lease.words", { name: HK.t("lease." + name), v: target, left: left })];
    if (name === "supply_setpoint") {
      const ramping = HK.t("lease.ramping", { from: HK.fmt(lease.from_c, 1, "°C"), rate: HK.fmt(lease.rate_k_per_h, 0, "K/h") });
      if (lease.in_effect === false) parts.push(HK.t("lease.not_in_effect", { mode: HK.modeName(station.mode) }));
      else if (lease.arrives === false) {
        parts.push(ramping);
        parts.push(HK.t("lease.cannot_arrive", { dur: HK.dur(lease.arrival_s), v: HK.fmt(lease.at_end_c, 1, "°C") }));
      } else if (HK.num(lease.arrival_s) !== null && lease.arrival_s > 0) {
        parts.push(ramping);
        parts.push(HK.t("lease.arrives", { dur: HK.dur(lease.arrival_s) }));
      } else if (lease.arrives === true) parts.push(HK.t("lease.arrived"));
    }
    return parts.join(" · ");
  }

  function drawLeases() {
    const list = HK.clear(document.getElementById("leases"));
    const leases = station.leases || {};
    for (const name of Object.keys(leases)) {
      const lease = leases[name];
      if (!lease || typeof lease !== "object" || Array.isArray(lease)) continue;
      const bad = name === "supply_setpoint" && (lease.arrives === false || lease.in_effect === false);
      list.append(el("li", { class: "lease-item" + (bad ? " bad" : ""), id: "lease-" + name }, [leaseText(name, lease)]));
    }
    if (!list.firstChild) list.append(el("li", { class: "muted" }, [HK.t("lease.none")]));
    /* Remote mode outlives a supply lease: say so; the station stays there until someone sets Auto. */
    const remote = station.mode === "remote" || (station.mode === null && v("mode") === 5);
    document.getElementById("st-remote-reminder").hidden = !(remote && !leases.supply_setpoint);
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
    add(fact(HK.t("fact.supply_setpoint"), HK.setpoint(v("supply_setpoint_c")), "fact-supply-sp"));
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
    /* While the core's window is still filling, the rate is not known yet: not a false zero. */
    add(fact(HK.t("fact.makeup_rate"), on("makeup_rate_measuring") ? HK.t("fact.measuring") : HK.fmt(v("makeup_rate_l_per_h"), 0, "l/h"), "fact-makeup-rate"));
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
          HK.alarmEvidence(a) ? el("div", { class: "evidence" }, [HK.alarmEvidence(a)]) : null,
          HK.alarmText(a) ? el("div", { class: "sub" }, [HK.alarmText(a)]) : null]),
        el("td", {}, [HK.time(a.since_ts, true), el("div", { class: "sub" }, [HK.alarmFor(a)])]), el("td", {}, [action])]));
    }
    if (!alarms.length) body.append(el("tr", {}, [el("td", { colspan: "3", class: "muted" }, [HK.t("alarms.none_station")])]));
  }

  async function ack(a) {
    const ok = await HK.confirm(HK.t("alarms.ack_title"), [HK.t("alarms.ack_text", { code: HK.alarmName(a.code), station: station.name || sid })], HK.t("alarms.ack"));
    if (!ok) return;
    const r = await HK.api("POST", "/api/alarms/ack", { station_id: sid, code: a.code });
    if (!r.ok) { HK.toast(HK.t("alarms.ack_failed", { reason: r.data.reason || r.status }), "bad"); return; }
    HK.toast(HK.t("alarms.ack_done", { code: HK.alarmName(a.code) }), "ok");
    if (r.data.result && r.data.result.command_id) watch(r.data.result.command_id);
    refresh();
  }

  /* --- commands --- */
  const FIELD_UI = {
    room_setpoint_c: { step: 0.5, value: 20 }, supply_setpoint_c: { step: 0.5, value: 55 },
    dp_setpoint_kpa: { step: 5, value: 60 }, pressure_setpoint_kpa: { step: 5, value: 250 },
    boost_k: { step: 0.5, value: 3 }, duration_s: { step: 60, value: 3600 }, valve_pct: { step: 1, value: 50 }
  };
  /* What the station accepts now (its mode and limits, as it reports them; the supervisor's own
     bounds until it has): the form offers only that. */
  function offer() {
    if (station && station.offer) return station.offer;
    return { reported: false, permitted: Object.keys(HK.boot.command_args), args: HK.boot.command_args,
      lease_s: [60, 604800, 3600], modes: HK.boot.modes.filter(function (m) { return m !== "manual"; }), clearable: HK.boot.clearable };
  }
  let offered = "";
  function drawOffer() {
    const o = offer();
    const key = JSON.stringify(o);
    if (key === offered) return;  /* unchanged: leave what the operator is typing alone */
    offered = key;
    const select = document.getElementById("cmd-kind");
    const was = select.value;
    HK.clear(select);
    const refused = [];
    for (const kind of HK.boot.form_kinds) {
      if (o.permitted.indexOf(kind) >= 0) select.append(el("option", { value: kind, selected: kind === was }, [HK.t("cmd.kind." + kind)]));
      else refused.push(HK.t("cmd.kind." + kind));
    }
    const note = document.getElementById("cmd-offer-note");
    note.textContent = refused.length ? HK.t("cmd.not_now", { mode: HK.modeName(o.mode), kinds: refused.join(", ") }) : "";
    note.hidden = !refused.length;
    const lease = document.getElementById("cmd-lease");
    for (const opt of lease.options) opt.hidden = opt.disabled = Number(opt.value) < o.lease_s[0] || Number(opt.value) > o.lease_s[1];
    if (lease.selectedOptions.length && lease.selectedOptions[0].disabled) {
      const first = Array.prototype.find.call(lease.options, function (opt) { return !opt.disabled; });
      if (first) lease.value = first.value;
    }
    drawCommandFields();
  }

  /* What each kind changes, as the station reports it now (for "current -> new"). */
  const CURRENT = { room_setpoint_c: "room_setpoint_c", supply_setpoint_c: "supply_setpoint_c",
    dp_setpoint_kpa: "dp_target_kpa", pressure_setpoint_kpa: "makeup_setpoint_kpa", boost_k: "boost_lease_k" };
  function drawCommandFields() {
    const kind = document.getElementById("cmd-kind").value;
    const box = HK.clear(document.getElementById("cmd-fields"));
    const o = offer();
    const spec = o.args[kind] || {};
    for (const name in spec) {
      const unit = spec[name][0], lo = spec[name][1], hi = spec[name][2];
      const ui = FIELD_UI[name] || { step: "any", value: lo };
      const now = CURRENT[name] ? v(CURRENT[name]) : null;
      let start = Math.min(hi, Math.max(lo, now !== null ? now : ui.value));
      if (typeof ui.step === "number") start = Math.min(hi, Math.max(lo, Math.round(start / ui.step) * ui.step));
      box.append(el("label", {}, [HK.t("arg." + name) + " (" + unit.replace("degC", "°C") + ", " + lo + "–" + hi + ")",
        el("input", { type: "number", id: "arg-" + name, name: name, min: lo, max: hi, step: ui.step, value: start, required: true })]));
    }
    if (kind === "set_mode") {
      box.append(el("label", {}, [HK.t("arg.mode"), el("select", { id: "arg-mode" }, o.modes.map(function (m) {
        return el("option", { value: m, selected: m === "auto" }, [HK.modeName(m)]); }))]));
    }
    if (kind === "clear_lease") {
      box.append(el("label", {}, [HK.t("arg.what"), el("select", { id: "arg-what" }, o.clearable.map(function (m) {
        return el("option", { value: m }, [HK.t("lease." + m)]); }))]));
    }
    document.getElementById("cmd-lease-box").hidden = HK.boot.leased.indexOf(kind) < 0;
  }

  /* How a setpoint rising at rate_k_per_h gets from from_c to to_c within left_s (as
     supervisor/leases.py approach(): falls at once, rate 0 means no ramp). */
  function approach(from_c, to_c, rate, left_s) {
    if (to_c - from_c <= 0.05 || rate === 0) return { arrival_s: 0, arrives: true, at_end_c: to_c };
    if (rate === null || rate < 0) return null;
    const arrival = (to_c - from_c) / rate * 3600;
    return { arrival_s: arrival, arrives: arrival <= left_s, at_end_c: arrival <= left_s ? to_c : from_c + rate * left_s / 3600 };
  }

  /* The confirmation's lines: current -> new, what the climb does, what happens at the end. */
  function consequences(kind, args, lease_s) {
    const lines = [];
    for (const name in args) {
      if (!CURRENT[name]) continue;
      const unit = ((offer().args[kind] || {})[name] || ["", 0, 0])[0].replace("degC", "°C");
      const now = v(CURRENT[name]);
      lines.push(HK.t("cmd.confirm_change", { name: HK.t("arg." + name), from: now === null ? "–" : HK.fmt(now, 1, unit), to: HK.fmt(args[name], 1, unit) }));
    }
    if (kind === "set_mode") lines.push(HK.t("cmd.confirm_change", { name: HK.t("arg.mode"), from: HK.modeName(station && station.mode), to: HK.modeName(args.mode) }));
    if (kind === "set_supply_setpoint") {
      const a = approach(v("supply_setpoint_c"), args.supply_setpoint_c, v("ramp_up_k_per_h"), lease_s);
      if (a && a.arrives === false) lines.push(HK.t("cmd.confirm_short", { v: HK.fmt(args.supply_setpoint_c, 1, "°C"), rate: HK.fmt(v("ramp_up_k_per_h"), 0, "K/h"), dur: HK.dur(a.arrival_s), lease: HK.dur(lease_s), end: HK.fmt(a.at_end_c, 1, "°C") }));
      else if (a && a.arrival_s > 0) lines.push(HK.t("cmd.confirm_ramp", { rate: HK.fmt(v("ramp_up_k_per_h"), 0, "K/h"), dur: HK.dur(a.arrival_s) }));
      lines.push(HK.t("cmd.end_supply", { dur: HK.dur(lease_s), curve: HK.fmt(v("chain_setpoint_c"), 1, "°C") }));
    } else if (kind === "set_room_setpoint") lines.push(HK.t("cmd.end_room", { dur: HK.dur(lease_s) }));
    else if (kind === "set_dp_setpoint" || kind === "set_makeup_pressure") lines.push(HK.t("cmd.end_own", { dur: HK.dur(lease_s) }));
    else if (kind === "boost") lines.push(HK.t("cmd.end_boost", { dur: HK.dur(args.duration_s) }));
    else if (kind === "set_mode" && (args.mode === "summer" || args.mode === "safe")) {
      lines.push(HK.t("cmd.end_mode", { dur: HK.dur(offer().lease_s[2]), back: HK.modeName(station && station.mode) }));
    } else if (kind === "set_mode" && args.mode === "remote") lines.push(HK.t("cmd.end_remote"));
    return lines;
  }

  function describe(kind, args, lease_s) {
    const parts = [];
    const spec = offer().args[kind] || HK.boot.command_args[kind] || {};
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
    const spec = offer().args[kind] || {};
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
    for (const line of consequences(kind, args, body.lease_s)) lines.push(line);
    if (kind === "set_mode" || kind === "set_valve_manual") lines.push(HK.t("cmd.confirm_careful"));
    const ok = await HK.confirm(HK.t("cmd.confirm_title"), lines, HK.t("cmd.send"));
    if (!ok) return;
    const r = await HK.api("POST", "/api/stations/" + encodeURIComponent(sid) + "/commands", body);
    if (!r.ok) { HK.toast(HK.t("cmd.refused", { reason: r.data.reason || r.status }), "bad"); return; }
    if (r.data.ticket_id) { HK.toast(HK.t("cmd.ticket_toast", { id: r.data.ticket_id }), "info"); return; }
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
    drawHeader(); drawDiagram(); drawFacts(); drawLeases(); drawRooms(); drawAlarms();
    if (document.getElementById("cmd-form")) drawOffer();
  }

  document.addEventListener("DOMContentLoaded", function () {
    const form = document.getElementById("cmd-form");
    if (form) {
      document.getElementById("cmd-kind").addEventListener("change", drawCommandFields);
      drawOffer();
      form.addEventListener("submit", submitCommand);
    }
    HK.poll(refresh);
    HK.poll(refreshCommands, Math.max(5, HK.boot.refresh_s * 2));
  });
})();
