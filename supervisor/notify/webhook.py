"""The generic JSON webhook, for the company's own systems, signed with an HMAC header.

POST <url> with the notification as JSON (UTF-8) and the headers
  X-Heatkeeper-Timestamp: <unix seconds>
  X-Heatkeeper-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>
A receiver recomputes the signature over the raw body (constant-time compare) and refuses
timestamps older than a few minutes (replays). Any 2xx answer is a delivery.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time

from .channels import Channel, DeliveryError, Outgoing

SIGNATURE_HEADER = "X-Heatkeeper-Signature"
TIMESTAMP_HEADER = "X-Heatkeeper-Timestamp"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), b"%d." % timestamp + body, hashlib.sha256).hexdigest()


def verify(secret: str, timestamp: str, body: bytes, signature: str) -> bool:
    try:
        ts = int(timestamp)
    except ValueError:
        return False
    return hmac.compare_digest(sign(secret, ts, body), signature)


class WebhookChannel(Channel):
    async def send(self, out: Outgoing) -> str:
        payload = {"message_id": out.message_id, "person": {k: out.person.get(k, "") for k in ("id", "name", "language")},
                   "subject": out.subject, "text": out.text, "markdown": out.markdown, **out.fields}
        body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        ts = int(time.time())
        headers = {"Content-Type": "application/json; charset=utf-8", TIMESTAMP_HEADER: str(ts),
                   SIGNATURE_HEADER: sign(self.cfg["secret"], ts, body)}
        status, answer = await self.http.request("POST", self.cfg["url"], self.cfg["timeout_s"], "webhook " + self.name,
                                                 data=body, headers=headers)
        if not 200 <= status < 300:
            raise DeliveryError("webhook %s: HTTP %d %s" % (self.name, status, answer[:300]))
        return "HTTP %d" % status
