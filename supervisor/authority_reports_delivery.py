"""Delivering one report to the authority: by e-mail (the SMTP sender of notify/mail.py, through
the [[notify.channel]] named by `email_channel`) and/or an HTTP push. Either raises
DeliveryError with what a person needs (server, status, its words).

E-mail: one message to every `email_to` address, subject "<site> <title> <period>", a short
text and two attachments: the report as .xlsx and as CSV.

HTTP push: POST `http_url`, `http_headers` added, body JSON (UTF-8):
  {"report_id": "hourly-2026-12-02T09:00:00+08:00" (the same on every retry: a receiver drops
   duplicates with it), "site", "report", "title", "period_start", "period_end" (ISO 8601 with
   offset), "timezone", "columns", "rows" (as the CSV), "csv" (text), "xlsx_base64", "filename"}
signed as the notify webhook: X-Heatkeeper-Timestamp: <unix s>, X-Heatkeeper-Signature:
sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>. Any 2xx answer is a delivery.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import time
from email.message import EmailMessage
from typing import Any
from zoneinfo import ZoneInfo

from . import authority_reports as ar
from .notify.channels import DeliveryError, Http, Outgoing
from .notify.mail import EmailChannel
from .notify.webhook import SIGNATURE_HEADER, TIMESTAMP_HEADER, sign
from .reports import csv_cell

CHANNELS = ("email", "http")


def _iso(ts: float, timezone: str) -> str:
    return dt.datetime.fromtimestamp(ts, ZoneInfo(timezone)).isoformat()


def report_id(report: dict[str, Any]) -> str:
    return "%s-%s" % (report["report"], _iso(report["period_end_ts"], report["timezone"]))


class _ReportMail(EmailChannel):
    """notify/mail.py's sender with the report attached."""

    def __init__(self, cfg: dict[str, Any], http: Http, attachments: list[tuple[bytes, str, str, str]]) -> None:
        super().__init__(cfg, http)
        self.attachments = attachments

    def message(self, out: Outgoing) -> EmailMessage:
        msg = super().message(out)
        for data, maintype, subtype, name in self.attachments:
            msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=name)
        return msg


def subject(report: dict[str, Any], site: str) -> str:
    tz = report["timezone"]
    return "%s %s %s - %s" % (site, ar.TITLES[report["report"]], ar.local_text(report["period_start_ts"], tz),
                              ar.local_text(report["period_end_ts"], tz))


async def send_email(config: dict[str, Any], report: dict[str, Any], http: Http) -> str:
    c = config["authority_reports"]
    if c["email"] is None:
        raise DeliveryError("email: [authority_reports] email_channel is not set")
    site = config["supervisor"]["site_name"]
    name = ar.filename(report, site)
    csv_text = ar.report_csv(report)
    body = "%s\n%d row(s); the report is attached as .xlsx and CSV (the same rows).\n" % (subject(report, site),
                                                                                          len(report["rows"]))
    channel = _ReportMail(c["email"], http, [(ar.report_xlsx(report), "application",
                                              "vnd.openxmlformats-officedocument.spreadsheetml.sheet", name + ".xlsx"),
                                             (csv_text.encode("utf-8"), "text", "csv", name + ".csv")])
    out = Outgoing(message_id=report_id(report), person={"id": "authority", "email": ", ".join(c["email_to"])},
                   subject=subject(report, site), markdown=body, text=body)
    return await channel.send(out)


def push_body(config: dict[str, Any], report: dict[str, Any]) -> bytes:
    site = config["supervisor"]["site_name"]
    tz = report["timezone"]
    payload = {"report_id": report_id(report), "site": site, "report": report["report"],
               "title": ar.TITLES[report["report"]], "period_start": _iso(report["period_start_ts"], tz),
               "period_end": _iso(report["period_end_ts"], tz), "timezone": tz, "columns": list(report["columns"]),
               "rows": [[None if v is None else csv_cell(v) for v in row] for row in report["rows"]],
               "csv": ar.report_csv(report), "xlsx_base64": base64.b64encode(ar.report_xlsx(report)).decode("ascii"),
               "filename": ar.filename(report, site)}
    return json.dumps(payload, ensure_ascii=False).encode("utf-8")


async def send_http(config: dict[str, Any], report: dict[str, Any], http: Http) -> str:
    c = config["authority_reports"]
    if not c["http_url"]:
        raise DeliveryError("http: [authority_reports] http_url is not set")
    body = push_body(config, report)
    ts = int(time.time())
    headers = {**c["http_headers"], "Content-Type": "application/json; charset=utf-8", TIMESTAMP_HEADER: str(ts),
               SIGNATURE_HEADER: sign(c["http_secret"], ts, body)}
    status, answer = await http.request("POST", c["http_url"], c["http_timeout_s"], "http push %s" % c["http_url"],
                                        data=body, headers=headers)
    if not 200 <= status < 300:
        raise DeliveryError("http push %s: HTTP %d %s" % (c["http_url"], status, answer[:300]))
    return "HTTP %d" % status


async def deliver(config: dict[str, Any], report: dict[str, Any], channel: str, http: Http) -> str:
    """Send `report` on `channel` ("email" or "http"); DeliveryError when it did not arrive."""
    if channel == "email":
        return await send_email(config, report, http)
    if channel == "http":
        return await send_http(config, report, http)
    raise DeliveryError("channel %r: must be one of %s" % (channel, ", ".join(CHANNELS)))
