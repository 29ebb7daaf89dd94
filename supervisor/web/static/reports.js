/* Reports: compliance against the 18 degC floor and outages, the 09:00/17:00 daily report,
   equipment records ("one machine, one file"), CSV exports. */
"use strict";
(function () {
  const HK = window.HK;
  const el = HK.el;
  const DAY = 86400;

  /* Dates and hours are the site's ([supervisor] utc_offset_h, as the supervisor cuts the
     daily report), not the browser's zone. */
  function isoDate(ts) { const d = HK.siteDate(ts); return d.getUTCFullYear() + "-" + HK.pad(d.getUTCMonth() + 1) + "-" + HK.pad(d.getUTCDate()); }
  /* The site's midnight of an ISO date typed as YYYY-MM-DD (the pickers are text: the browser's own
     date input shows the US format beside the ISO dates of every table); NaN when it is not one. */
  function dayStart(text) {
    const m = /^\s*(\d{4})-(\d{1,2})-(\d{1,2})\s*$/.exec(text || "");
    if (!m) return NaN;
    const d = new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3])));
    return d.getUTCMonth() === Number(m[2]) - 1 && d.getUTCDate() === Number(m[3]) ? d.getTime() / 1000 - HK.siteOffsetS : NaN;
  }
  function unitOf(field) { return /_temp_c$/.test(field) ? "°C" : ""; }
  function empty(body, cols, key) { body.append(el("tr", {}, [el("td", { colspan: String(cols), class: "muted" }, [HK.t(key)])])); }

  async function compliance() {
    const t0 = dayStart(document.getElementById("c-from").value), t1 = dayStart(document.getElementById("c-to").value) + DAY;
    if (!isFinite(t0) || !isFinite(t1)) { HK.toast(HK.t("reports.bad_date"), "bad"); return; }
    if (t1 <= t0) { HK.toast(HK.t("trends.bad_range"), "bad"); return; }
    const q = "t0=" + t0 + "&t1=" + t1;
    document.getElementById("c-csv").href = "/export/compliance.csv?" + q;
    const r = await HK.api("GET", "/api/reports/compliance?" + q);
    if (!r.ok) { HK.toast(r.data.reason || HK.t("common.failed"), "bad"); return; }
    const rep = r.data.report;
    document.getElementById("c-rule").textContent = HK.t("reports.comfort_rule", { floor: rep.floor_c, outage: rep.outage_h });
    const gaps = (rep.stations || []).filter(function (s) { return s.data_gap_hours > 0.05; });
    const note = document.getElementById("c-gaps");
    note.hidden = !gaps.length;
    note.textContent = gaps.length ? HK.t("reports.gaps_note", { stations: gaps.map(function (s) {
      return (s.name || s.station_id) + " " + HK.t("reports.gap_of", { gap: HK.fmt(s.data_gap_hours, 1), period: HK.fmt(s.period_hours, 1) });
    }).join(" · ") }) : "";
    const sb = HK.clear(document.querySelector("#c-stations tbody"));
    for (const s of rep.stations || []) {
      const over = s.outages_over_limit || [];
      sb.append(el("tr", {}, [el("td", {}, [el("a", { href: "/stations/" + encodeURIComponent(s.station_id) }, [s.name || s.station_id])]),
        el("td", { class: "num" + (s.hours_below_floor > 0 ? " comfort-bad" : "") }, [HK.hours(s.hours_below_floor)]),
        el("td", { class: "num" }, [HK.hours(s.outage_hours)]), el("td", { class: "num" }, [HK.hours(s.longest_outage_h)]),
        el("td", {}, [over.length ? el("span", { class: "pill pill-bad" }, [String(over.length) + " × > " + rep.outage_h + " h"]) : HK.t("reports.none")]),
        el("td", { class: "num" + (s.data_gap_hours > 0.05 ? " gap-bad" : "") }, [HK.fmt(s.data_gap_hours, 1),
          HK.num(s.period_hours) !== null ? el("div", { class: "sub" }, [HK.t("reports.of_period", { h: HK.fmt(s.period_hours, 1) })]) : null])]));
    }
    if (!(rep.stations || []).length) empty(sb, 6, "reports.no_data");
    const gb = HK.clear(document.querySelector("#c-groups tbody"));
    for (const g of rep.groups || []) {
      gb.append(el("tr", {}, [el("td", {}, [g.station_id]), el("td", {}, [g.group]), el("td", { class: "num" }, [String(g.collectors)]),
        el("td", { class: "num comfort comfort-" + HK.comfortClass(HK.num(g.min_temp_c)) }, [HK.fmt(g.min_temp_c, 1, "°C")]),
        el("td", { class: "num" }, [HK.fmt(g.mean_temp_c, 1, "°C")]), el("td", { class: "num" + (g.hours_below_floor > 0 ? " comfort-bad" : "") }, [HK.hours(g.hours_below_floor)]),
        el("td", {}, [(g.failed_days || []).join(", ") || HK.t("reports.none")]),
        el("td", { class: "num" + (g.hours_below_target_band > 0 ? " comfort-warn" : "") }, [HK.hours(g.hours_below_target_band)])]));
    }
    if (!(rep.groups || []).length) empty(gb, 8, "reports.no_rooms");
    document.getElementById("c-band-head").title = HK.t("reports.band_title", { band: HK.fmt(rep.target_band_c, 1, "°C"),
      target: HK.fmt(rep.target_c, 1, "°C"), k: HK.fmt(rep.tolerance_k, 1, "K") });
  }

  let dailyReport = null;

  async function daily() {
    const date = document.getElementById("d-date").value.trim(), hour = document.getElementById("d-hour").value;
    if (!isFinite(dayStart(date))) { HK.toast(HK.t("reports.bad_date"), "bad"); return; }
    const q = "date=" + encodeURIComponent(date) + "&hour=" + hour;
    document.getElementById("d-csv").href = "/export/daily.csv?" + q;
    const r = await HK.api("GET", "/api/reports/daily?" + q);
    if (!r.ok) { HK.toast(r.data.reason || HK.t("common.failed"), "bad"); return; }
    dailyReport = r.data.report;
    const select = document.getElementById("d-station");
    const chosen = select.value;
    HK.clear(select);
    for (const s of dailyReport.stations || []) select.append(el("option", { value: s.station_id, selected: s.station_id === chosen }, [s.name || s.station_id]));
    drawDaily();
  }

  function drawDaily() {
    /* One station at a time: 24 hourly rows of the fields the authority asks for. */
    const rep = dailyReport;
    const out = HK.clear(document.getElementById("d-out"));
    out.className = "";
    const sid = document.getElementById("d-station").value;
    const s = (rep.stations || []).find(function (x) { return x.station_id === sid; });
    if (!s) { out.append(el("p", { class: "muted daily-empty" }, [HK.t("reports.no_data")])); return; }
    const fields = rep.fields || [];
    const hourly = s.hourly || {};
    const has = function (h) { return fields.some(function (f) { return HK.num((hourly[f] || [])[h]) !== null; }); };
    const hours = rep.hours_ts || [];
    const withData = hours.filter(function (_ts, h) { return has(h); }).length;
    const span = HK.siteTime(rep.t0_ts, true) + " – " + HK.siteTime(rep.t1_ts, true);
    if (!withData) {
      out.append(el("p", { class: "alert alert-warn daily-empty" }, [HK.t("reports.daily_none", { station: s.name || s.station_id, window: span })]));
      return;
    }
    if (withData < hours.length) out.append(el("p", { class: "muted daily-partial" }, [HK.t("reports.daily_partial", { n: withData, total: hours.length })]));
    const head = el("tr", {}, [el("th", {}, [HK.t("reports.hour_col")])].concat(fields.map(function (f) {
      return el("th", { class: "num" }, [HK.t("field." + f) + (unitOf(f) ? " " + unitOf(f) : "")]); })));
    const body = el("tbody");
    hours.forEach(function (ts, h) {
      const when = el("td", { class: "nowrap" }, [HK.siteTime(ts, true).slice(5)]);
      const cells = has(h) ? fields.map(function (f) { return el("td", { class: "num" }, [HK.fmt((hourly[f] || [])[h], 1)]); })
        : [el("td", { class: "muted no-data", colspan: String(fields.length) }, [HK.t("trends.no_data")])];
      body.append(el("tr", {}, [when].concat(cells)));
    });
    out.append(el("div", { class: "scroll-x" }, [el("table", { class: "grid daily" }, [el("thead", {}, [head]), body])]));
  }

  async function equipment() {
    const r = await HK.api("GET", "/api/equipment");
    if (!r.ok) return;
    const body = HK.clear(document.querySelector("#equipment tbody"));
    for (const e of r.data.equipment || []) {
      body.append(el("tr", {}, [el("td", {}, [e.station_id]), el("td", {}, [HK.t("device." + e.device) !== "device." + e.device ? HK.t("device." + e.device) : e.device]),
        el("td", { class: "num" }, [HK.fmt(e.run_hours, 1)]), el("td", { class: "num" }, [String(e.starts)]),
        el("td", { class: "num" }, [String(e.rotations)]), el("td", {}, [HK.time(e.last_rotation_ts, true)]),
        el("td", { class: "num" }, [String(e.exercises)]), el("td", {}, [HK.time(e.last_exercise_ts, true)]),
        el("td", { class: "num" + (e.faults ? " comfort-bad" : "") }, [String(e.faults)]),
        el("td", {}, [HK.time(e.last_fault_ts, true)])]));
    }
    if (!(r.data.equipment || []).length) empty(body, 10, "reports.no_data");
  }

  document.addEventListener("DOMContentLoaded", function () {
    const now = Date.now() / 1000;
    document.getElementById("c-to").value = isoDate(now);
    document.getElementById("c-from").value = isoDate(now - 6 * DAY);
    document.getElementById("d-date").value = isoDate(now);
    document.getElementById("d-hour").value = HK.siteDate(now).getUTCHours() >= 17 ? "17" : "9";
    document.getElementById("c-run").addEventListener("click", compliance);
    document.getElementById("d-run").addEventListener("click", daily);
    document.getElementById("d-station").addEventListener("change", function () { if (dailyReport) drawDaily(); });
    compliance(); daily(); equipment();
  });
})();
