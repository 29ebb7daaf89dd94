/* User administration (admins): list, create, change a role, reset a password, disable,
   enable and delete (never yourself; the server also keeps the last enabled admin). */
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
    if (r.ok && r.data.csrf) HK.boot.csrf = r.data.csrf;  /* your own password: this session has new tokens */
    HK.toast(r.ok ? HK.t("users.reset_done", { user: user.username }) : HK.t("users.failed", { reason: r.data.reason || r.status }), r.ok ? "ok" : "bad");
  }

  async function setDisabled(user, disabled) {
    const key = disabled ? "disable" : "enable";
    const ok = await HK.confirm(HK.t("users." + key + "_title"), [HK.t("users." + key + "_text", { user: user.username })], HK.t("users." + key));
    if (!ok) return;
    const r = await HK.api("POST", "/api/users/" + encodeURIComponent(user.username), { disabled: disabled });
    HK.toast(r.ok ? HK.t("users.done") : HK.t("users.failed", { reason: r.data.reason || r.status }), r.ok ? "ok" : "bad");
    refresh();
  }

  async function remove(user) {
    const ok = await HK.confirm(HK.t("users.delete_title"), [HK.t("users.delete_text", { user: user.username })], HK.t("users.delete"));
    if (!ok) return;
    const r = await HK.api("DELETE", "/api/users/" + encodeURIComponent(user.username));
    HK.toast(r.ok ? HK.t("users.done") : HK.t("users.failed", { reason: r.data.reason || r.status }), r.ok ? "ok" : "bad");
    refresh();
  }

  function status(u) {
    if (u.disabled) return el("span", { class: "pill pill-off user-status" }, [HK.t("users.disabled")]);
    if (u.must_change) return el("span", { class: "pill pill-warn user-status" }, [HK.t("users.must_change")]);
    return el("span", { class: "pill pill-ok user-status" }, [HK.t("users.active")]);
  }

  async function refresh() {
    const r = await HK.api("GET", "/api/users");
    if (!r.ok) { HK.toast(r.data.reason || HK.t("common.failed"), "bad"); return; }
    const body = HK.clear(document.querySelector("#users tbody"));
    for (const u of r.data.users || []) {
      const select = el("select", { "aria-label": HK.t("users.col_change"), disabled: u.username === HK.user }, ROLES.map(function (role) {
        return el("option", { value: role, selected: role === u.role }, [HK.t("role." + role)]); }));
      select.addEventListener("change", function () { changeRole(u, select.value); });
      const actions = [select, " ",
        el("button", { class: "btn btn-small", type: "button", onclick: function () { resetPassword(u); } }, [HK.t("users.reset")])];
      if (u.username !== HK.user) {
        actions.push(" ", el("button", { class: "btn btn-small user-toggle", type: "button", onclick: function () { setDisabled(u, !u.disabled); } },
          [HK.t(u.disabled ? "users.enable" : "users.disable")]));
        actions.push(" ", el("button", { class: "btn btn-small btn-danger user-delete", type: "button", onclick: function () { remove(u); } }, [HK.t("users.delete")]));
      }
      body.append(el("tr", { class: "user-row" + (u.disabled ? " user-disabled" : ""), "data-user": u.username }, [el("td", {}, [el("strong", {}, [u.username])]),
        el("td", {}, [el("span", { class: "pill pill-info" }, [HK.t("role." + u.role)])]), el("td", {}, [status(u)]),
        el("td", {}, [HK.time(u.created_ts, true)]), el("td", {}, actions)]));
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
