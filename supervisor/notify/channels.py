"""The channel interface, the local outbox channel, and `build_channel` for every kind.

A channel sends one `Outgoing` message to one person and returns a short description of the
answer, or raises DeliveryError (with what a person needs: the channel, the status, the
server's words). HTTP channels share one aiohttp ClientSession (`Http`).
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from typing import Any

import aiohttp


class DeliveryError(RuntimeError):
    """The channel did not deliver; str() says why (retried with back-off by delivery.py)."""


@dataclass
class Outgoing:
    """One message to one person: its texts, and the fields a machine receiver wants."""

    message_id: str
    person: dict[str, Any]
    subject: str
    markdown: str
    text: str
    fields: dict[str, Any] = field(default_factory=dict)


class Http:
    """One aiohttp client session for the HTTP channels, made on first use."""

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(headers={"User-Agent": "heatkeeper-notify"})
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def request(self, method: str, url: str, timeout_s: float, what: str, **kw: Any) -> tuple[int, str]:
        """(status, body text) of one request; DeliveryError on a network failure or timeout."""
        try:
            async with self.session().request(method, url, timeout=aiohttp.ClientTimeout(total=timeout_s),
                                              **kw) as resp:
                return resp.status, (await resp.text(errors="replace"))[:2000]
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            raise DeliveryError("%s: %s %s" % (what, type(exc).__name__, exc)) from None


def json_answer(status: int, body: str, what: str, code_keys: tuple[str, ...]) -> dict[str, Any]:
    """The robot's JSON answer, or DeliveryError when the status or its error code says no."""
    if not 200 <= status < 300:
        raise DeliveryError("%s: HTTP %d %s" % (what, status, body[:300]))
    try:
        data = json.loads(body)
    except ValueError:
        raise DeliveryError("%s: answer is not JSON: %s" % (what, body[:300])) from None
    if not isinstance(data, dict):
        raise DeliveryError("%s: unexpected answer %s" % (what, body[:300]))
    for key in code_keys:
        if key in data and data[key] not in (0, "0"):
            raise DeliveryError("%s: refused (%s=%r): %s" % (what, key, data[key], body[:300]))
    return data


class Channel:
    """One configured channel (`cfg`: its [[notify.channel]] table, secrets resolved)."""

    def __init__(self, cfg: dict[str, Any], http: Http) -> None:
        self.cfg = cfg
        self.name = cfg["name"]
        self.kind = cfg["kind"]
        self.http = http

    def reaches(self, person: dict[str, Any]) -> bool:
        """Whether this channel can reach `person` (an address for e-mail, a phone for SMS)."""
        return True

    async def send(self, out: Outgoing) -> str:
        raise NotImplementedError


class OutboxChannel(Channel):
    """A local JSON-lines file (the demo's, and a record where nothing may leave the host)."""

    async def send(self, out: Outgoing) -> str:
        line = json.dumps({"message_id": out.message_id, "person": out.person["id"], "subject": out.subject,
                           "text": out.text, **out.fields}, ensure_ascii=False)

        def write() -> None:
            os.makedirs(os.path.dirname(os.path.abspath(self.cfg["path"])), exist_ok=True)
            with open(self.cfg["path"], "a", encoding="utf-8") as fh:
                fh.write(line + "\n")

        try:
            await asyncio.to_thread(write)
        except OSError as exc:
            raise DeliveryError("outbox %s: %s" % (self.cfg["path"], exc.strerror)) from None
        return "written to %s" % self.cfg["path"]


def build_channel(cfg: dict[str, Any], http: Http) -> Channel:
    from .mail import EmailChannel
    from .robots import DingTalkChannel, FeishuChannel, WeComChannel
    from .sms import SmsChannel
    from .webhook import WebhookChannel

    kinds: dict[str, type[Channel]] = {"wecom": WeComChannel, "dingtalk": DingTalkChannel, "feishu": FeishuChannel,
                                       "email": EmailChannel, "sms": SmsChannel, "webhook": WebhookChannel,
                                       "outbox": OutboxChannel}
    return kinds[cfg["kind"]](cfg, http)
