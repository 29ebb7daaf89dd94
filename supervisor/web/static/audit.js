/* Audit log: who did what, when, on which station, and how it ended, in words. The server reads
   each stored row back into an event (supervisor/web/audit_view.py); this page puts it in the
   reader's language. The CSV export keeps the rows as stored. */
"use strict";
(function () {
  const HK = window.HK;
  const el = HK.el;
  const SPECS = HK.boot.command_args || {};

  function resultClass(r) {
    r = String(r || "");
    if (r === "ok" || r === "applied" || r === "sent" || r === "recorded") return "pill-ok";
    if (r.indexOf("refused") === 0 || r === "denied" || r === "forbidden" || r === "rejected" || r === "failed" || r === "disabled") return "pill-bad";
    if (r === "timed_out" || r === "expired" || r === "not_sent") return "pill-warn";
    return "pill-info";
  }
  function known(key, fallback) { const text = HK.t(key); return text === key ? fallback : text; }
  function resultText(r) {
    r = String(r || "");
    if (!r) return "–";
    const head = r.split(":")[0];
    return known("audit.res." + head, HK.lang === "en" ? r : HK.t("audit.res.other"));
  }

  /* A command's arguments in words: "Supply setpoint 52 °C, lease 30 min". */
  function args(kind, values, lease_s) {
    const parts = [];
    const spec = SPECS[kind] || {};
    for (const k in values || {}) {
      const v = values[k];
      if (k === "mode") parts.push(HK.modeName(v));
      else if (k === "what") parts.push(HK.t("lease." + v));
      else if (k === "code") parts.push(HK.alarmName(v));
      else if (k === "duration_s") parts.push(HK.t("arg.duration_s") + " " + HK.dur(v));
      else parts.push(known("arg." + k, k) + " " + v + (spec[k] ? " " + spec[k][0].replace("degC", "°C") : ""));
    }
    if (HK.num(lease_s) !== null) parts.push(HK.t("audit.d.lease", { dur: HK.dur(lease_s) }));
    return parts.join(", ");
  }

  function words(a) {
    const w = a.words || { event: "other" };
    let action = known("audit.ev." + w.event + (w.stage ? "_" + w.stage : ""), null);
    let detail = "";
    if (w.event === "command") {
      const kind = known("cmd.kind." + w.kind, HK.lang === "en" ? w.kind : HK.t("audit.ev.other"));
      const what = args(w.kind, w.args, w.lease_s);
      detail = kind + (what ? ": " + what : "");
      if (w.stage === "refused" || w.stage === "answer") {
        const why = w.reason && w.reason !== "ok" ? HK.reasonText(w.reason, w.detail) : HK.detailText(w.detail);
        if (why) detail += " — " + why;
      }
    } else if (w.event === "login") {
      if (w.limit) detail = HK.t("audit.d.throttled", { limit: known("audit.limit." + w.limit, w.limit), ip: w.from });
      else if (HK.num(w.count) !== null) detail = HK.t("audit.d.summary", { n: w.count });
    } else if (w.event === "ack_alarm") {
      detail = HK.alarmName(w.code);
    } else if (w.event === "create_user") {
      detail = w.target + (w.role ? " · " + HK.t("role." + w.role) : "");
    } else if (w.event === "update_user") {
      const parts = [];
      if (w.role) parts.push(HK.t("audit.d.role", { role: HK.t("role." + w.role) }));
      if (w.password) parts.push(HK.t("audit.d.password"));
      if (w.disabled === true) parts.push(HK.t("users.disabled"));
      if (w.disabled === false) parts.push(HK.t("users.active"));
      detail = w.target + (parts.length ? ": " + parts.join(", ") : "");
    } else if (w.event === "delete_user") {
      detail = w.target;
    } else if (w.event === "denied") {
      detail = w.request || "";
    } else if (w.event === "notify") {
      const alarm = HK.alarmName(w.code);
      if (w.stage === "escalate") detail = HK.t("audit.d.notify_escalate", { alarm: alarm, dur: HK.dur(w.minutes * 60), person: w.person });
      else if (w.stage === "ack") detail = HK.t("audit.d.notify_ack", { alarm: alarm, by: w.by, dur: HK.dur(w.after_s) });
      else if (w.stage === "ack_link") detail = HK.t("audit.d.notify_link", { alarm: alarm, person: w.person });
      else {
        detail = HK.t("audit.d.notify", { kind: known("notify.kind." + w.kind, w.kind), alarm: alarm, person: w.person, channel: w.channel });
        if (w.detail && HK.lang === "en") detail += " — " + w.detail;  /* the channel's own words, English */
      }
    } else if (w.event === "daily_report") {
      detail = w.path ? HK.t("audit.d.path", { path: w.path }) : (HK.lang === "en" ? w.detail || "" : "");
    }
    if (action === null) {  /* a row this version cannot read: as stored in English, else marked */
      action = HK.lang === "en" ? a.action : HK.t("audit.ev.other");
      detail = HK.lang === "en" ? a.detail || "" : "";
    }
    return { action: action, detail: detail };
  }

  async function refresh() {
    const station = document.getElementById("audit-station").value.trim();
    const valid = /^[A-Za-z0-9_-]{1,64}$/.test(station);
    const q = station && valid ? "&station=" + encodeURIComponent(station) : "";
    document.getElementById("audit-csv").href = "/export/audit.csv" + (q ? "?" + q.slice(1) : "");
    const r = await HK.api("GET", "/api/audit?limit=300" + q);
    if (!r.ok) { HK.toast(r.data.reason || HK.t("common.failed"), "bad"); return; }
    const body = HK.clear(document.querySelector("#audit tbody"));
    for (const a of r.data.audit || []) {
      const w = words(a);
      body.append(el("tr", { class: "audit-row", "data-action": a.action }, [
        el("td", { class: "nowrap" }, [HK.time(a.ts, true)]), el("td", {}, [a.user]), el("td", { class: "audit-action" }, [w.action]),
        el("td", {}, [!a.station_id ? "–" : HK.isSite(a.station_id) ? HK.t("alarms.site")
          : el("a", { href: "/stations/" + encodeURIComponent(a.station_id) }, [a.station_id])]),
        el("td", { class: "audit-detail" }, [w.detail]),
        el("td", {}, [el("span", { class: "pill " + resultClass(a.result) }, [resultText(a.result)])])]));
    }
    if (!(r.data.audit || []).length) body.append(el("tr", {}, [el("td", { colspan: "6", class: "muted" }, [HK.t("audit.none")])]));
  }

  document.addEventListener("DOMContentLoaded", function () {
    const p = HK.poll(refresh, 10);
    document.getElementById("audit-station").addEventListener("change", p.now);
  });
})();
