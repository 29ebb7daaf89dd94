/* Fleet overview: every station at a glance, worst first, refreshed every few seconds. */
"use strict";
(function () {
  const HK = window.HK;
  const el = HK.el;
  let last = [];

  function severity(v) {
    // Sort key: offline, then active alarms, then cold rooms, then the rest.
    if (!v.online) return 0;
    if (v.unacked > 0) return 1;
    if (v.alarm_count > 0) return 2;
    if (HK.comfortClass(v.room_min_c) === "bad") return 3;
    return 4;
  }

  function stateCell(v) {
    let cls = "ok", key = "fleet.state_ok";
    if (!v.online) { cls = "off"; key = "fleet.state_offline"; }
    else if (v.alarm_count > 0) { cls = "bad"; key = "fleet.state_alarm"; }
    else if (HK.comfortClass(v.room_min_c) === "bad") { cls = "warn"; key = "fleet.state_cold"; }
    return el("td", {}, [el("span", { class: "pill pill-" + cls }, [el("span", { class: "dot" }), HK.t(key)])]);
  }

  function row(v) {
    const vals = v.values;
    const supply = HK.fmt(vals.secondary_supply_temp_c, 1, "°C"), sp = HK.setpoint(vals.supply_setpoint_c);
    const comfort = HK.comfortClass(v.room_min_c);
    /* Which alarms, not only how many: the worst by name, how many more, each with its evidence on hover. */
    const named = Array.isArray(v.raw.alarms) ? v.raw.alarms : [];
    const first = named[0];
    const alarmCell = v.alarm_count > 0
      ? el("a", { class: "pill fleet-alarm " + HK.sevClass((first && first.severity) || v.worst || "alarm"), href: "/alarms",
        title: named.map(function (a) { return HK.alarmName(a.code) + (HK.alarmEvidence(a) ? " (" + HK.alarmEvidence(a) + ")" : "") + " · " + HK.alarmFor(a); }).join("\n") },
        [first ? HK.alarmName(first.code) + (v.alarm_count > 1 ? " " + HK.t("fleet.n_more", { n: v.alarm_count - 1 }) : "")
          : HK.t("fleet.n_alarms", { n: v.alarm_count }) + (v.worst ? " · " + HK.t("sev." + v.worst) : "")])
      : el("span", { class: "muted" }, [HK.t("fleet.no_alarms")]);
    return el("tr", { class: "station-row row-" + (v.online ? "on" : "off"), "data-station": v.id }, [
      stateCell(v),
      el("td", {}, [el("a", { href: "/stations/" + encodeURIComponent(v.id), class: "station-link" }, [v.name]),
        el("div", { class: "sub" }, [v.id + (v.city ? " · " + v.city : "")])]),
      el("td", {}, [HK.modeName(v.mode)]),
      el("td", { class: "num" }, [HK.fmt(vals.outdoor_temp_c, 1, "°C")]),
      el("td", { class: "num" }, [supply + " / " + sp]),
      el("td", { class: "num comfort comfort-" + comfort, title: HK.t("fleet.comfort_hint") }, [
        v.room_min_c === null ? "–" : HK.fmt(v.room_min_c, 1, "°C"),
        v.groups_below ? el("div", { class: "sub" }, [HK.t("fleet.groups_below", { n: v.groups_below })]) : null]),
      el("td", {}, [alarmCell, first ? el("div", { class: "sub alarm-evidence" }, [[HK.alarmEvidence(first), HK.alarmFor(first)].filter(Boolean).join(" · ")]) : null,
        named.length > 1 ? el("div", { class: "sub alarm-others" }, [named.slice(1, 4).map(function (a) { return HK.alarmName(a.code); }).join(", ") + (named.length > 4 ? " …" : "")]) : null]),
      el("td", { class: v.online ? "" : "stale" }, [HK.ago(v.last_seen_ts)])
    ]);
  }

  function render() {
    const q = document.getElementById("filter").value.trim().toLowerCase();
    const onlyProblems = document.getElementById("only-problems").checked;
    const body = HK.clear(document.querySelector("#stations tbody"));
    const shown = last.filter(function (v) {
      if (onlyProblems && severity(v) === 4) return false;
      return !q || (v.id + " " + v.name + " " + v.city).toLowerCase().indexOf(q) >= 0;
    });
    shown.sort(function (a, b) { return severity(a) - severity(b) || String(a.id).localeCompare(String(b.id)); });
    for (const v of shown) body.appendChild(row(v));
    if (!shown.length) body.appendChild(el("tr", {}, [el("td", { colspan: "8", class: "muted" }, [HK.t(last.length ? "fleet.none_match" : "fleet.none")])]));
    const online = last.filter(function (v) { return v.online; }).length;
    setKpi("kpi-online", online, online === last.length ? "ok" : "");
    setKpi("kpi-offline", last.length - online, last.length - online ? "bad" : "ok");
    const alarms = last.reduce(function (n, v) { return n + v.alarm_count; }, 0);
    setKpi("kpi-alarms", alarms, alarms ? "bad" : "ok");
    const cold = last.filter(function (v) { return HK.comfortClass(v.room_min_c) === "bad"; }).length;
    setKpi("kpi-cold", cold, cold ? "warn" : "ok");
  }

  function setKpi(id, value, cls) {
    const box = document.getElementById(id);
    box.className = "kpi" + (cls ? " kpi-" + cls : "");
    box.querySelector(".kpi-value").textContent = String(value);
  }

  async function refresh() {
    const r = await HK.api("GET", "/api/stations");
    if (!r.ok) { HK.toast(r.data.reason || HK.t("common.failed"), "bad"); return; }
    last = (r.data.stations || []).map(HK.stationView);
    render();
    document.getElementById("updated").textContent = HK.t("common.updated", { time: HK.time(r.data.now_ts) });
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("filter").addEventListener("input", render);
    document.getElementById("only-problems").addEventListener("change", render);
    HK.poll(refresh);
  });
})();
