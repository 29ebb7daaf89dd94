/* Alarms of the whole fleet, worst and newest first, with acknowledgement (operators). */
"use strict";
(function () {
  const HK = window.HK;
  const el = HK.el;
  const RANK = { critical: 0, major: 1, alarm: 1, minor: 2, warning: 2, info: 3 };


  async function ack(a) {
    const ok = await HK.confirm(HK.t("alarms.ack_title"), [HK.t("alarms.ack_text", { code: HK.alarmName(a.code), station: HK.isSite(a.station_id) ? HK.t("alarms.site") : a.station_id })], HK.t("alarms.ack"));
    if (!ok) return;
    const r = await HK.api("POST", "/api/alarms/ack", { station_id: a.station_id, code: a.code });
    if (!r.ok) { HK.toast(HK.t("alarms.ack_failed", { reason: r.data.reason || r.status }), "bad"); return; }
    HK.toast(HK.t("alarms.ack_done", { code: HK.alarmName(a.code) }), "ok");
    refresh();
  }

  async function refresh() {
    const all = document.getElementById("show-cleared").checked;
    const r = await HK.api("GET", "/api/alarms?active=" + (all ? "0" : "1"));
    if (!r.ok) { HK.toast(r.data.reason || HK.t("common.failed"), "bad"); return; }
    const rows = (r.data.alarms || []).slice().sort(function (a, b) {
      return (b.active - a.active) || ((RANK[a.severity] || 2) - (RANK[b.severity] || 2)) || (b.since_ts - a.since_ts);
    });
    const body = HK.clear(document.querySelector("#alarms tbody"));
    for (const a of rows) {
      let ackCell;
      if (a.acked_by) ackCell = el("span", {}, [HK.t("alarms.acked_by", { user: a.acked_by }), el("div", { class: "sub" }, [HK.time(a.acked_ts, true)])]);
      else if (a.active && HK.can("operator")) ackCell = el("button", { class: "btn btn-small ack-btn", type: "button", "data-code": a.code, onclick: function () { ack(a); } }, [HK.t("alarms.ack")]);
      else ackCell = el("span", { class: "muted" }, [HK.t("alarms.unacked")]);
      body.append(el("tr", { class: "alarm-row", "data-station": a.station_id, "data-code": a.code }, [
        el("td", {}, [el("span", { class: "pill " + HK.sevClass(a.severity) }, [HK.t("sev." + (a.severity || "alarm"))])]),
        el("td", {}, [HK.isSite(a.station_id) ? el("span", { class: "site-alarm" }, [HK.t("alarms.site")])
          : el("a", { href: "/stations/" + encodeURIComponent(a.station_id) }, [a.station_id])]),
        el("td", {}, [el("strong", {}, [HK.alarmName(a.code)]),
          HK.alarmEvidence(a) ? el("div", { class: "evidence" }, [HK.alarmEvidence(a)]) : null,
          HK.alarmText(a) ? el("div", { class: "sub" }, [HK.alarmText(a)]) : null]),
        el("td", {}, [HK.time(a.since_ts, true), el("div", { class: "sub" }, [HK.alarmFor(a)])]),
        el("td", {}, [a.active ? el("span", { class: "pill pill-bad" }, [HK.t("alarms.active")]) : el("span", { class: "pill pill-off" }, [HK.t("alarms.cleared") + " " + HK.time(a.cleared_ts, true)])]),
        el("td", {}, [ackCell])]));
    }
    if (!rows.length) body.append(el("tr", {}, [el("td", { colspan: "6", class: "muted" }, [HK.t("alarms.none")])]));
  }

  document.addEventListener("DOMContentLoaded", function () {
    const p = HK.poll(refresh);
    document.getElementById("show-cleared").addEventListener("change", p.now);
  });
})();
