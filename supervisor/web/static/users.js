/* User administration (admins): list, create, change a role. */
"use strict";
(function () {
  const HK = window.HK;
  const el = HK.el;
  const ROLES = ["viewer", "operator", "admin"];

  async function changeRole(user, role) {
    const ok = await HK.confirm(HK.t("users.change_title"), [HK.t("users.change_text", { user: user.username, role: HK.t("role." + role) })]);
    if (!ok) { refresh(); return; }
    const r = await HK.api("POST", "/api/users/" + encodeURIComponent(user.username), { role: role });
    HK.toast(r.ok ? HK.t("users.changed") : HK.t("users.failed", { reason: r.data.reason || r.status }), r.ok ? "ok" : "bad");
    refresh();
  }

  async function resetPassword(user) {
    const input = HK.el("input", { type: "password", minlength: "8", autocomplete: "new-password", id: "reset-pass" });
    const ok = await HK.confirm(HK.t("users.reset_title"), [HK.t("users.reset_text", { user: user.username }), input], HK.t("users.reset"));
    if (!ok) return;
    const r = await HK.api("POST", "/api/users/" + encodeURIComponent(user.username), { password: input.value });
    HK.toast(r.ok ? HK.t("users.reset_done", { user: user.username }) : HK.t("users.failed", { reason: r.data.reason || r.status }), r.ok ? "ok" : "bad");
  }

  async function refresh() {
    const r = await HK.api("GET", "/api/users");
    if (!r.ok) { HK.toast(r.data.reason || HK.t("common.failed"), "bad"); return; }
    const body = HK.clear(document.querySelector("#users tbody"));
    for (const u of r.data.users || []) {
      const select = el("select", { "aria-label": HK.t("users.col_change"), disabled: u.username === HK.user }, ROLES.map(function (role) {
        return el("option", { value: role, selected: role === u.role }, [HK.t("role." + role)]); }));
      select.addEventListener("change", function () { changeRole(u, select.value); });
      body.append(el("tr", { class: "user-row", "data-user": u.username }, [el("td", {}, [el("strong", {}, [u.username])]),
        el("td", {}, [el("span", { class: "pill pill-info" }, [HK.t("role." + u.role)])]), el("td", {}, [HK.time(u.created_ts, true)]), el("td", {}, [select, " ",
          el("button", { class: "btn btn-small", type: "button", onclick: function () { resetPassword(u); } }, [HK.t("users.reset")])])]));
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.getElementById("new-user").addEventListener("submit", async function (e) {
      e.preventDefault();
      const body = { username: document.getElementById("nu-name").value, password: document.getElementById("nu-pass").value, role: document.getElementById("nu-role").value };
      const r = await HK.api("POST", "/api/users", body);
      if (!r.ok) { HK.toast(HK.t("users.failed", { reason: r.data.reason || r.status }), "bad"); return; }
      HK.toast(HK.t("users.created", { user: body.username }), "ok");
      e.target.reset();
      refresh();
    });
    refresh();
  });
})();
