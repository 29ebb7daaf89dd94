"""Every HTTP channel against a real HTTP server on loopback: the request each robot, the SMS
gateway and the webhook receive (URL, headers, JSON body) and its signature, recomputed here
from the documented recipe; refusals and network failures are DeliveryErrors with the reason."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any
from urllib.parse import quote_plus

import pytest
from heatkeeper.supervisor.notify import config as notify_config
from heatkeeper.supervisor.notify.channels import DeliveryError, Http, Outgoing, build_channel
from heatkeeper.supervisor.notify.webhook import verify
from heatkeeper.tools.procs import free_port

from .conftest import Receiver

PERSON = {"id": "zhang", "name": "张工", "phone": "+8613800000001", "email": "zhang@example.cn", "wecom": "ZhangSan",
          "dingtalk": "ding-zhang", "feishu": "ou_123", "language": "zh", "channels": []}
OUT = Outgoing("m-1", PERSON, "[报警 · 严重] 阿尔山 1 号站 · 补水量过大", "**[报警]**\n- 站点: 阿尔山 1 号站",
               "[报警] 阿尔山 1 号站 补水量过大", {"severity": "critical", "station_name": "阿尔山 1 号站",
                                                "alarm": "补水量过大", "severity_name": "严重",
                                                "since_local": "2026-12-02 08:00"})


def channel(kind: str, **cfg: Any) -> Any:
    problems: list[str] = []
    cfgs = notify_config._channels([{"name": "c1", "kind": kind, **cfg}], ".", "/tmp", {}, problems)
    assert not problems, problems
    return build_channel(cfgs[0], Http())


async def send(ch: Any, out: Outgoing = OUT) -> str:
    try:
        return str(await ch.send(out))
    finally:
        await ch.http.close()


async def test_wecom_markdown_mentions_the_person(receiver: Receiver) -> None:
    ch = channel("wecom", url=receiver.url("/cgi-bin/webhook/send?key=KEY-1"))
    assert await send(ch) == "errcode=0"
    (req,) = receiver.seen
    assert req.method == "POST" and req.path == "/cgi-bin/webhook/send" and req.query == {"key": "KEY-1"}
    body = req.json()
    assert body["msgtype"] == "markdown"
    assert body["markdown"]["content"].startswith("**[报警]**") and "<@ZhangSan>" in body["markdown"]["content"]


async def test_wecom_refusal_is_a_delivery_error(receiver: Receiver) -> None:
    receiver.default = (200, {"errcode": 93000, "errmsg": "invalid webhook url"})
    with pytest.raises(DeliveryError, match="errcode=93000.*invalid webhook url"):
        await send(channel("wecom", url=receiver.url("/cgi-bin/webhook/send?key=bad")))


async def test_dingtalk_signs_timestamp_and_secret(receiver: Receiver) -> None:
    secret = "SEC0123456789abcdef"
    ch = channel("dingtalk", url=receiver.url("/robot/send?access_token=TOK"), secret=secret)
    t0 = int(time.time() * 1000)
    await send(ch)
    (req,) = receiver.seen
    assert req.query["access_token"] == "TOK"
    ts = int(req.query["timestamp"])
    assert t0 <= ts <= t0 + 5000
    expected = base64.b64encode(hmac.new(secret.encode(), ("%d\n%s" % (ts, secret)).encode(), hashlib.sha256).digest())
    assert req.query["sign"] == expected.decode()  # aiohttp decoded the URL-encoding
    assert quote_plus(expected.decode()) in req.path + "?" + str(ch.url(ts / 1000.0)).split("?", 1)[1]
    body = req.json()
    assert body["msgtype"] == "markdown" and body["markdown"]["title"] == OUT.subject
    assert body["at"] == {"atMobiles": ["8613800000001"], "atUserIds": ["ding-zhang"], "isAtAll": False}
    assert "@8613800000001" in body["markdown"]["text"]


async def test_dingtalk_without_secret_sends_no_sign(receiver: Receiver) -> None:
    await send(channel("dingtalk", url=receiver.url("/robot/send?access_token=TOK")))
    assert set(receiver.seen[0].query) == {"access_token"}


async def test_feishu_card_with_signature(receiver: Receiver) -> None:
    receiver.default = (200, {"code": 0, "msg": "success", "data": {}})
    secret = "feishu-secret"
    t0 = int(time.time())
    assert await send(channel("feishu", url=receiver.url("/open-apis/bot/v2/hook/abc"), secret=secret)) == "code=0"
    body = receiver.seen[0].json()
    ts = int(body["timestamp"])
    assert t0 <= ts <= t0 + 5
    string_to_sign = ("%d\n%s" % (ts, secret)).encode()
    assert body["sign"] == base64.b64encode(hmac.new(string_to_sign, b"", hashlib.sha256).digest()).decode()
    assert body["msg_type"] == "interactive"
    assert body["card"]["header"]["title"]["content"] == OUT.subject
    assert body["card"]["header"]["template"] == "red"
    assert body["card"]["elements"][0]["tag"] == "markdown"
    assert "<at id=ou_123></at>" in body["card"]["elements"][0]["content"]


async def test_feishu_refusal(receiver: Receiver) -> None:
    receiver.default = (200, {"code": 19021, "msg": "sign match fail or timestamp is not within one hour"})
    with pytest.raises(DeliveryError, match="code=19021"):
        await send(channel("feishu", url=receiver.url("/open-apis/bot/v2/hook/abc"), secret="x"))


async def test_webhook_signature_verifies_and_tampering_does_not(receiver: Receiver) -> None:
    await send(channel("webhook", url=receiver.url("/hooks/heat"), secret="s3cret"))
    req = receiver.seen[0]
    sig, ts = req.headers["X-Heatkeeper-Signature"], req.headers["X-Heatkeeper-Timestamp"]
    assert sig == "sha256=" + hmac.new(b"s3cret", ts.encode() + b"." + req.body, hashlib.sha256).hexdigest()
    assert verify("s3cret", ts, req.body, sig)
    assert not verify("s3cret", ts, req.body.replace("阿尔山".encode(), b"X"), sig)
    assert not verify("other", ts, req.body, sig)
    body = req.json()
    assert body["message_id"] == "m-1" and body["person"]["id"] == "zhang" and body["severity"] == "critical"


async def test_webhook_http_error_and_dead_server() -> None:
    with pytest.raises(DeliveryError, match="webhook c1: ClientConnectorError"):
        await send(channel("webhook", url="http://127.0.0.1:%d/x" % free_port(), secret="s", timeout_s=2))


async def test_sms_custom_template(receiver: Receiver) -> None:
    ch = channel("sms", url=receiver.url("/sms/send"), secret="gw-token",
                 headers={"Authorization": "Bearer {secret}", "Content-Type": "application/json"},
                 body='{"to": {phone_json}, "content": {text_json}, "tpl": {params_json}}')
    await send(ch)
    req = receiver.seen[0]
    assert req.headers["Authorization"] == "Bearer gw-token"
    body = req.json()
    assert body["to"] == "+8613800000001" and body["content"] == OUT.text
    assert body["tpl"] == {"station": "阿尔山 1 号站", "alarm": "补水量过大", "level": "严重", "time": "2026-12-02 08:00"}


async def test_sms_gateway_refusal(receiver: Receiver) -> None:
    # The aliyun and tencent presets (signed, straight to the vendor) are in test_sms_vendors.py.
    receiver.default = (200, {"Code": "isv.MOBILE_NUMBER_ILLEGAL", "Message": "bad number"})
    with pytest.raises(DeliveryError, match="MOBILE_NUMBER_ILLEGAL"):
        await send(channel("sms", url=receiver.url("/"), body="{text}"))
    receiver.default = (200, {"Response": {"Error": {"Code": "FailedOperation", "Message": "x"}}})
    with pytest.raises(DeliveryError, match="FailedOperation"):
        await send(channel("sms", url=receiver.url("/"), body="{text}"))
    receiver.default = (500, {"error": "down"})
    with pytest.raises(DeliveryError, match="HTTP 500"):
        await send(channel("sms", url=receiver.url("/"), body="{text}"))


async def test_outbox_appends_json_lines(tmp_path: Any) -> None:
    ch = channel("outbox", path=str(tmp_path / "o" / "box.jsonl"))
    await send(ch)
    await send(ch)
    lines = (tmp_path / "o" / "box.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2 and json.loads(lines[0])["subject"] == OUT.subject
