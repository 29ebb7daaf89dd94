/* Audit log: who did what, when, on which station, and how it ended. */
"use strict";
(function () {
  const HK = window.HK;
  const el = HK.el;

  function resultClass(r) {
    r = String(r || "");
    if (r === "ok" || r === "applied" || r === "sent") return "pill-ok";
    if (r.indexOf("refused") === 0 || r === "denied" || r === "forbidden" || r === "rejected" || r === "failed") return "pill-bad";
    if (r === "timed_out" || r === "expired") return "pill-warn";
    return "pill-info";
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
      body.append(el("tr", { class: "audit-row" }, [
        el("td", {}, [HK.time(a.ts, true)]), el("td", {}, [a.user]), el("td", {}, [a.action]),
        el("td", {}, [a.station_id ? el("a", { href: "/stations/" + encodeURIComponent(a.station_id) }, [a.station_id]) : "–"]),
        el("td", {}, [a.detail || ""]), el("td", {}, [el("span", { class: "pill " + resultClass(a.result) }, [a.result || "–"])])]));
    }
    if (!(r.data.audit || []).length) body.append(el("tr", {}, [el("td", { colspan: "6", class: "muted" }, [HK.t("audit.none")])]));
  }

  document.addEventListener("DOMContentLoaded", function () {
    const p = HK.poll(refresh, 10);
    document.getElementById("audit-station").addEventListener("change", p.now);
  });
})();
