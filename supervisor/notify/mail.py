"""E-mail over SMTP (aiosmtplib): STARTTLS (port 587), implicit TLS (465) or, on a trusted
relay, none. The server's certificate is checked against the system's CAs or `tls_ca`.
A message is multipart: plain text and the markdown body as text, UTF-8, subject encoded."""

from __future__ import annotations

import ssl
from email.message import EmailMessage
from typing import Any

import aiosmtplib

from .channels import Channel, DeliveryError, Outgoing


class EmailChannel(Channel):
    def reaches(self, person: dict[str, Any]) -> bool:
        return bool(person.get("email"))

    def message(self, out: Outgoing) -> EmailMessage:
        msg = EmailMessage()
        msg["From"] = self.cfg["sender"]
        msg["To"] = out.person["email"]
        msg["Subject"] = out.subject
        msg["X-Heatkeeper-Message"] = out.message_id
        msg.set_content(out.markdown.replace("**", ""))
        return msg

    async def send(self, out: Outgoing) -> str:
        if not out.person.get("email"):
            raise DeliveryError("email %s: %s has no e-mail address" % (self.name, out.person["id"]))
        c = self.cfg
        context = ssl.create_default_context(cafile=c["tls_ca"] or None)
        kw: dict[str, Any] = {"hostname": c["host"], "port": c["port"], "timeout": c["timeout_s"]}
        if c["tls"] == "implicit":
            kw.update(use_tls=True, tls_context=context)
        elif c["tls"] == "starttls":
            kw.update(start_tls=True, tls_context=context)
        else:
            kw.update(use_tls=False, start_tls=False)
        if c["username"]:
            kw.update(username=c["username"], password=c["password"])
        try:
            errors, answer = await aiosmtplib.send(self.message(out), **kw)
        except (aiosmtplib.SMTPException, OSError, ssl.SSLError) as exc:
            raise DeliveryError("email %s via %s:%d: %s %s" % (self.name, c["host"], c["port"], type(exc).__name__,
                                                               exc)) from None
        if errors:
            raise DeliveryError("email %s: recipients refused: %s" % (self.name, errors))
        return str(answer)[:200]
