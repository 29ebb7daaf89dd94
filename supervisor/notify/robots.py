"""The group robots of WeCom (企业微信), DingTalk (钉钉) and Feishu (飞书), as documented.

- WeCom: POST the robot's webhook URL (…/cgi-bin/webhook/send?key=KEY) with
  {"msgtype": "markdown", "markdown": {"content": …}}; a person is mentioned as <@userid>.
  Answer {"errcode": 0, "errmsg": "ok"}.
- DingTalk: POST …/robot/send?access_token=TOKEN, with the signing secret ("加签") adding
  `timestamp` (ms) and `sign` = urlencode(base64(HMAC-SHA256(key=secret, msg="<timestamp>\\n<secret>")))
  to the query; body {"msgtype": "markdown", "markdown": {"title", "text"}, "at": {"atMobiles",
  "atUserIds", "isAtAll"}} (the mentioned numbers also appear as @number in the text).
  Answer {"errcode": 0, "errmsg": "ok"}.
- Feishu: POST …/open-apis/bot/v2/hook/ID with {"msg_type": "interactive", "card": {header,
  elements: [{"tag": "markdown", "content"}]}}; with a signing secret also "timestamp" (s) and
  "sign" = base64(HMAC-SHA256(key="<timestamp>\\n<secret>", msg="")). A person is mentioned as
  <at id=open_id></at>. Answer {"code": 0, "msg": "success"}.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote_plus

from .channels import Channel, Outgoing, json_answer


def dingtalk_sign(secret: str, timestamp_ms: int) -> str:
    """The `sign` query value (already URL-encoded) of a DingTalk robot with a signing secret."""
    digest = hmac.new(secret.encode("utf-8"), ("%d\n%s" % (timestamp_ms, secret)).encode("utf-8"),
                      hashlib.sha256).digest()
    return quote_plus(base64.b64encode(digest).decode("ascii"))


def feishu_sign(secret: str, timestamp_s: int) -> str:
    """The `sign` body field of a Feishu robot with a signing secret."""
    digest = hmac.new(("%d\n%s" % (timestamp_s, secret)).encode("utf-8"), b"", hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


class WeComChannel(Channel):
    def reaches(self, person: dict[str, Any]) -> bool:
        return True  # a group robot: the group reads it; the person is mentioned when known

    async def send(self, out: Outgoing) -> str:
        content = out.markdown + ("\n<@%s>" % out.person["wecom"] if out.person.get("wecom") else "")
        body = {"msgtype": "markdown", "markdown": {"content": content[:4096]}}
        status, text = await self.http.request("POST", self.cfg["url"], self.cfg["timeout_s"], "wecom " + self.name,
                                               json=body)
        data = json_answer(status, text, "wecom " + self.name, ("errcode",))
        return "errcode=%s" % data.get("errcode")


class DingTalkChannel(Channel):
    def url(self, now_s: float) -> str:
        url = self.cfg["url"]
        if self.cfg.get("secret"):
            ts = int(now_s * 1000)
            url += ("&" if "?" in url else "?") + "timestamp=%d&sign=%s" % (ts, dingtalk_sign(self.cfg["secret"], ts))
        return url

    async def send(self, out: Outgoing) -> str:
        mobile = out.person.get("phone", "").lstrip("+")
        userid = out.person.get("dingtalk", "")
        text = out.markdown + ("\n\n@%s" % mobile if mobile else "") + ("\n\n@%s" % userid if userid else "")
        body = {"msgtype": "markdown", "markdown": {"title": out.subject[:100], "text": text},
                "at": {"atMobiles": [mobile] if mobile else [], "atUserIds": [userid] if userid else [],
                       "isAtAll": False}}
        status, answer = await self.http.request("POST", self.url(time.time()), self.cfg["timeout_s"],
                                                 "dingtalk " + self.name, json=body)
        data = json_answer(status, answer, "dingtalk " + self.name, ("errcode",))
        return "errcode=%s" % data.get("errcode")


class FeishuChannel(Channel):
    def body(self, out: Outgoing, now_s: float) -> dict[str, Any]:
        content = out.markdown + ("\n<at id=%s></at>" % out.person["feishu"] if out.person.get("feishu") else "")
        body: dict[str, Any] = {"msg_type": "interactive", "card": {
            "header": {"title": {"tag": "plain_text", "content": out.subject[:100]},
                       "template": "red" if out.fields.get("severity") in ("alarm", "critical") else "orange"},
            "elements": [{"tag": "markdown", "content": content}]}}
        if self.cfg.get("secret"):
            ts = int(now_s)
            body = {"timestamp": str(ts), "sign": feishu_sign(self.cfg["secret"], ts), **body}
        return body

    async def send(self, out: Outgoing) -> str:
        status, answer = await self.http.request("POST", self.cfg["url"], self.cfg["timeout_s"], "feishu " + self.name,
                                                 data=json.dumps(self.body(out, time.time()), ensure_ascii=False),
                                                 headers={"Content-Type": "application/json; charset=utf-8"})
        data = json_answer(status, answer, "feishu " + self.name, ("code", "StatusCode"))
        return "code=%s" % data.get("code", data.get("StatusCode"))
