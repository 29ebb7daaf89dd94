"""The aliyun and tencent SMS presets end to end against real HTTP servers on loopback standing in
for dysmsapi.aliyuncs.com and sms.tencentcloudapi.com. Each stand-in recomputes the request's
signature the way its vendor documents it (written out here independently of the channel's
code), refuses a bad one as the vendor does, and answers SendSms in the vendor's shape; an error
code in an HTTP 200 body is a failed delivery carrying the vendor's code and message, retried by
the notifier and recorded."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import re
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from heatkeeper.supervisor.notify import config as notify_config
from heatkeeper.supervisor.notify.channels import DeliveryError, Http, Outgoing, build_channel
from heatkeeper.supervisor.notify.notifier import Notifier
from heatkeeper.supervisor.storage import open_storage

from .conftest import ROTA_START_TS, FakeClock
from .conftest import notify_config as sup_notify_config

KEY_ID, SECRET = "LTAI-test-key-id", "test-access-key-secret"  # stand-in credentials, not a vendor's
PERSON = {"id": "zhang", "name": "张工", "phone": "13800000001", "language": "zh", "channels": []}
OUT = Outgoing("m-1", PERSON, "[报警 · 严重] 阿尔山 1 号站 · 补水量过大", "**[报警]**", "[报警] 阿尔山 1 号站 补水量过大",
               {"severity": "critical", "station_name": "阿尔山 1 号站", "alarm": "补水量过大",
                "severity_name": "严重", "since_local": "2026-12-02 08:00"})


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass
class Vendor:
    """A stand-in for one vendor's SMS endpoint: `keys` (id -> secret) it accepts, `business`
    the answers it gives to correctly signed requests (consumed in order, then success), and
    every request it got with the verdict on its signature."""

    server: TestServer
    keys: dict[str, str] = field(default_factory=lambda: {KEY_ID: SECRET})
    business: list[dict[str, Any]] = field(default_factory=list)
    seen: list[dict[str, Any]] = field(default_factory=list)
    nonces: set[str] = field(default_factory=set)

    def url(self) -> str:
        return str(self.server.make_url("/"))


def acs3_check(vendor: Vendor, request: web.Request, body: bytes) -> str | None:
    """Alibaba Cloud's V3 check (help.aliyun.com/zh/sdk/product-overview/v3-request-structure-and-
    signature); None if good, else the error Code."""
    m = re.fullmatch(r"ACS3-HMAC-SHA256 Credential=([^,]+),SignedHeaders=([^,]+),Signature=([0-9a-f]{64})",
                     request.headers.get("Authorization", ""))
    if not m:
        return "IncompleteSignature"
    key_id, signed_names, signature = m.groups()
    h = {k.lower(): v for k, v in request.headers.items()}
    must_sign = sorted(k for k in h if k.startswith("x-acs-") or k in ("host", "content-type"))
    if signed_names.split(";") != must_sign:
        return "IncompleteSignature"
    if h.get("x-acs-content-sha256") != sha256_hex(body):
        return "InvalidContentSha256"
    sent = dt.datetime.strptime(h.get("x-acs-date", ""), "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    if abs(sent.timestamp() - time.time()) > 900:
        return "InvalidTimeStamp.Expired"
    if h["x-acs-signature-nonce"] in vendor.nonces:
        return "SignatureNonceUsed"
    vendor.nonces.add(h["x-acs-signature-nonce"])

    def enc(s: str) -> str:
        return quote(s, safe="-_.~")

    query = "&".join(sorted("%s=%s" % (enc(k), enc(v)) for k, v in request.query.items()))
    canonical = "\n".join([request.method, request.path, query, "".join("%s:%s\n" % (k, h[k].strip())
                                                                         for k in must_sign),
                           signed_names, sha256_hex(body)])
    to_sign = "ACS3-HMAC-SHA256\n" + sha256_hex(canonical.encode())
    secret = vendor.keys.get(key_id)
    if secret is None:
        return "InvalidAccessKeyId.NotFound"
    if not hmac.compare_digest(hmac.new(secret.encode(), to_sign.encode(), hashlib.sha256).hexdigest(), signature):
        return "SignatureDoesNotMatch"
    return None


def tc3_check(vendor: Vendor, request: web.Request, body: bytes) -> str | None:
    """Tencent Cloud's "签名方法 v3" check; None if good, else the error Code."""
    m = re.fullmatch(r"TC3-HMAC-SHA256 Credential=([^/]+)/(\d{4}-\d\d-\d\d)/([a-z]+)/tc3_request, "
                     r"SignedHeaders=([a-z;-]+), Signature=([0-9a-f]{64})", request.headers.get("Authorization", ""))
    if not m:
        return "AuthFailure.SignatureFailure"
    secret_id, date, service, signed_names, signature = m.groups()
    ts = int(request.headers.get("X-TC-Timestamp", "0"))
    if abs(ts - time.time()) > 300:
        return "AuthFailure.SignatureExpire"
    if date != dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d") or service != "sms":
        return "AuthFailure.SignatureFailure"
    names = signed_names.split(";")
    if not {"content-type", "host"} <= set(names) or names != sorted(names):
        return "AuthFailure.SignatureFailure"
    canonical = "\n".join(["POST", "/", "", "".join("%s:%s\n" % (k, request.headers[k].strip().lower())
                                                    for k in names), signed_names, sha256_hex(body)])
    to_sign = "TC3-HMAC-SHA256\n%d\n%s/%s/tc3_request\n%s" % (ts, date, service, sha256_hex(canonical.encode()))
    secret = vendor.keys.get(secret_id)
    if secret is None:
        return "AuthFailure.SecretIdNotFound"
    k = hmac.new(("TC3" + secret).encode(), date.encode(), hashlib.sha256).digest()
    k = hmac.new(k, service.encode(), hashlib.sha256).digest()
    k = hmac.new(k, b"tc3_request", hashlib.sha256).digest()
    if not hmac.compare_digest(hmac.new(k, to_sign.encode(), hashlib.sha256).hexdigest(), signature):
        return "AuthFailure.SignatureFailure"
    return None


@pytest.fixture
async def aliyun() -> AsyncIterator[Vendor]:
    vendor: Vendor

    async def send_sms(request: web.Request) -> web.Response:
        body = await request.read()
        error = acs3_check(vendor, request, body)
        vendor.seen.append({"query": dict(request.query), "headers": dict(request.headers), "error": error})
        if error:  # as dysmsapi: HTTP 400 / 404 with Code and Message
            return web.json_response({"RequestId": "R-err", "Code": error, "Message": "Specified signature is not "
                                      "matched with our calculation." if error == "SignatureDoesNotMatch" else error},
                                     status=404 if error.endswith("NotFound") else 400)
        if request.headers["x-acs-action"] != "SendSms" or request.headers["x-acs-version"] != "2017-05-25":
            return web.json_response({"Code": "InvalidAction.NotFound", "Message": "no such action"}, status=404)
        if vendor.business:
            return web.json_response(vendor.business.pop(0))
        return web.json_response({"Code": "OK", "Message": "OK", "BizId": "9006197469364984400^0",
                                  "RequestId": "F655A8D5-B967-440B-8683-DAD6FF8DE990"})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", send_sms)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    vendor = Vendor(server)
    try:
        yield vendor
    finally:
        await server.close()


@pytest.fixture
async def tencent() -> AsyncIterator[Vendor]:
    vendor: Vendor

    async def send_sms(request: web.Request) -> web.Response:
        body = await request.read()
        error = tc3_check(vendor, request, body)
        vendor.seen.append({"body": json.loads(body or b"null"), "headers": dict(request.headers), "error": error})
        if error:  # as API 3.0: HTTP 200, Response.Error
            return web.json_response({"Response": {"Error": {"Code": error, "Message": "The provided credentials "
                                                             "could not be validated."}, "RequestId": "r-err"}})
        if request.headers["X-TC-Action"] != "SendSms" or request.headers["X-TC-Version"] != "2021-01-11":
            return web.json_response({"Response": {"Error": {"Code": "InvalidAction", "Message": "no such action"},
                                                   "RequestId": "r-act"}})
        if vendor.business:
            return web.json_response({"Response": vendor.business.pop(0)})
        phones = json.loads(body)["PhoneNumberSet"]
        return web.json_response({"Response": {"SendStatusSet": [
            {"SerialNo": "5000:1045710669157053657849499619", "PhoneNumber": p, "Fee": 1, "SessionContext": "",
             "Code": "Ok", "Message": "send success", "IsoCode": "CN"} for p in phones],
            "RequestId": "a0aabda6-cf91-4f3e-a81f-9198114a2279"}})

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", send_sms)
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    vendor = Vendor(server)
    try:
        yield vendor
    finally:
        await server.close()


def aliyun_cfg(vendor: Vendor, **over: Any) -> dict[str, Any]:
    return {"preset": "aliyun", "url": vendor.url(), "key_id": KEY_ID, "secret": SECRET, "sign_name": "阿尔山热力",
            "template_code": "SMS_154950909", **over}


def tencent_cfg(vendor: Vendor, **over: Any) -> dict[str, Any]:
    return {"preset": "tencent", "url": vendor.url(), "key_id": KEY_ID, "secret": SECRET, "sign_name": "阿尔山热力",
            "template_code": "1110", "sdk_app_id": "1400006666", "region": "ap-beijing", **over}


def channel(cfg: dict[str, Any]) -> Any:
    problems: list[str] = []
    cfgs = notify_config._channels([{"name": "sms", "kind": "sms", **cfg}], ".", "/tmp", {}, problems)
    assert not problems, problems
    return build_channel(cfgs[0], Http())


async def send(ch: Any, out: Outgoing = OUT) -> str:
    try:
        return str(await ch.send(out))
    finally:
        await ch.http.close()


async def test_aliyun_sendsms_signed_and_accepted(aliyun: Vendor) -> None:
    assert await send(channel(aliyun_cfg(aliyun))) == \
        "Code=OK BizId=9006197469364984400^0 RequestId=F655A8D5-B967-440B-8683-DAD6FF8DE990"
    (req,) = aliyun.seen
    assert req["error"] is None
    assert req["query"] == {"PhoneNumbers": "13800000001", "SignName": "阿尔山热力", "TemplateCode": "SMS_154950909",
                            "TemplateParam": json.dumps({"station": "阿尔山 1 号站", "alarm": "补水量过大",
                                                         "level": "严重", "time": "2026-12-02 08:00"},
                                                        ensure_ascii=False)}
    assert req["headers"]["x-acs-action"] == "SendSms" and req["headers"]["x-acs-version"] == "2017-05-25"


async def test_aliyun_template_params_choose_and_order_the_variables(aliyun: Vendor) -> None:
    await send(channel(aliyun_cfg(aliyun, template_params=["alarm", "station"])))
    assert json.loads(aliyun.seen[0]["query"]["TemplateParam"]) == {"alarm": "补水量过大", "station": "阿尔山 1 号站"}


async def test_aliyun_wrong_secret_is_refused_with_the_vendors_words(aliyun: Vendor) -> None:
    with pytest.raises(DeliveryError, match=r"aliyun refused \(HTTP 400, Code=SignatureDoesNotMatch\): Specified "
                                            r"signature is not matched"):
        await send(channel(aliyun_cfg(aliyun, secret="not-the-secret")))
    assert aliyun.seen[0]["error"] == "SignatureDoesNotMatch"


async def test_aliyun_business_error_in_http_200_is_a_failed_delivery(aliyun: Vendor) -> None:
    aliyun.business = [{"Code": "isv.BUSINESS_LIMIT_CONTROL", "Message": "触发分钟级流控Permits:1",
                        "RequestId": "2184201F-BFB3-446B-B1F2-C746B7BF0657"}]
    with pytest.raises(DeliveryError, match=r"Code=isv.BUSINESS_LIMIT_CONTROL\): 触发分钟级流控Permits:1 "
                                            r"\(RequestId 2184201F"):
        await send(channel(aliyun_cfg(aliyun)))
    assert aliyun.seen[0]["error"] is None  # signed correctly; refused for business reasons


async def test_tencent_sendsms_signed_and_accepted(tencent: Vendor) -> None:
    detail = await send(channel(tencent_cfg(tencent)))
    assert detail == "Code=Ok SerialNo=5000:1045710669157053657849499619 RequestId=a0aabda6-cf91-4f3e-a81f-9198114a2279"
    (req,) = tencent.seen
    assert req["error"] is None
    assert req["body"] == {"PhoneNumberSet": ["+8613800000001"], "SmsSdkAppId": "1400006666",
                           "SignName": "阿尔山热力", "TemplateId": "1110",
                           "TemplateParamSet": ["阿尔山 1 号站", "补水量过大", "严重", "2026-12-02 08:00"]}
    h = req["headers"]
    assert (h["X-TC-Action"], h["X-TC-Version"], h["X-TC-Region"]) == ("SendSms", "2021-01-11", "ap-beijing")
    assert "SignedHeaders=content-type;host;x-tc-action," in h["Authorization"]


async def test_tencent_wrong_secret_is_refused_with_the_vendors_words(tencent: Vendor) -> None:
    with pytest.raises(DeliveryError, match=r"tencent refused \(HTTP 200, Code=AuthFailure.SignatureFailure\): "
                                            r"The provided credentials could not be validated. \(RequestId r-err\)"):
        await send(channel(tencent_cfg(tencent, secret="not-the-secret")))
    with pytest.raises(DeliveryError, match="AuthFailure.SecretIdNotFound"):
        await send(channel(tencent_cfg(tencent, key_id="AKID-unknown")))


async def test_tencent_per_number_error_in_http_200_is_a_failed_delivery(tencent: Vendor) -> None:
    tencent.business = [{"SendStatusSet": [{"SerialNo": "", "PhoneNumber": "+8613800000001", "Fee": 0,
                                            "SessionContext": "", "Code": "LimitExceeded.PhoneNumberDailyLimit",
                                            "Message": "the number of SMS messages sent from a single mobile number "
                                                       "every day exceeds the upper limit", "IsoCode": "CN"}],
                         "RequestId": "b5b1f5e2"}]
    with pytest.raises(DeliveryError, match=r"tencent refused \+8613800000001 \(Code=LimitExceeded.PhoneNumberDaily"
                                            r"Limit\): the number of SMS .* upper limit \(RequestId b5b1f5e2\)"):
        await send(channel(tencent_cfg(tencent)))


async def test_refused_sms_is_retried_recorded_and_then_delivered(tmp_path: Any, tencent: Vendor) -> None:
    """Through the notifier: the vendor's refusal (HTTP 200, error code) is a failed attempt with
    its message stored, retried after the back-off, then delivered."""
    tencent.business = [{"SendStatusSet": [{"PhoneNumber": "+8613800000001", "Code": "LimitExceeded.PhoneNumber"
                                            "ThirtySecondLimit", "Message": "30 秒内发送短信超过上限"}],
                         "RequestId": "r-30s"}]
    cfg = sup_notify_config(tmp_path, "http://127.0.0.1:9/unused",
                            channel=[{"name": "sms", "kind": "sms", **tencent_cfg(tencent)}],
                            person=[{"id": "zhang", "name": "张工", "phone": "13800000001", "channels": ["sms"]},
                                    {"id": "li", "name": "李工", "phone": "13800000002", "channels": ["sms"]},
                                    {"id": "wang", "name": "王班长", "phone": "13800000003", "channels": ["sms"]},
                                    {"id": "zhao", "name": "赵经理", "phone": "13800000004", "channels": ["sms"]}])
    storage = open_storage("sqlite", path=cfg["storage"]["path"])
    await storage.open()
    clock = FakeClock(ROTA_START_TS + 3 * 3600.0)
    notifier = Notifier(storage, cfg, clock)
    await notifier.start()
    try:
        await storage.record_alarm("arxan-01", "makeup_leak_rate", "critical", True, clock(), "makeup 2.4 m3/h",
                                   {"value": 2.4, "limit": 0.8})
        await notifier.tick()
        (msg,) = await storage.messages(5)
        assert msg["state"] == "pending" and msg["attempts"] == 1
        assert "LimitExceeded.PhoneNumberThirtySecondLimit" in msg["last_error"]
        clock.advance(30)  # retry_base_s of the test config
        await notifier.tick()
        (msg,) = await storage.messages(5)
        assert msg["state"] == "sent" and msg["attempts"] == 2
        tries = (await storage.attempts([msg["message_id"]]))[msg["message_id"]]
        assert [t["ok"] for t in tries] == [False, True]
        assert "30 秒内发送短信超过上限 (RequestId r-30s)" in tries[0]["detail"]
        assert tries[1]["detail"].startswith("Code=Ok SerialNo=")
        assert [r["error"] for r in tencent.seen] == [None, None]
        assert tencent.seen[1]["body"]["TemplateParamSet"][:2] == ["阿尔山 1 号站", "补水量过大：疑似泄漏或偷水"]
        actions = [r["action"] for r in await storage.audit_rows(50, "arxan-01")]
        assert "notify_attempt" in actions and "notify_sent" in actions
    finally:
        await notifier.close()
        await storage.close()


def problems_of(item: dict[str, Any], environ: dict[str, str] | None = None, base_dir: str = ".") -> list[str]:
    problems: list[str] = []
    notify_config._channels([{"name": "sms", "kind": "sms", **item}], base_dir, "/tmp", environ or {}, problems)
    return problems


def test_signed_presets_need_their_console_values() -> None:
    p = problems_of({"preset": "tencent"})
    assert "notify.channel 'sms': needs key_id (or key_id_env / key_id_file): the SecretId of the API key" in p
    assert ("notify.channel 'sms': needs secret (or secret_env / secret_file): the SecretKey that signs each "
            "request") in p
    assert any("sign_name=None: must be the approved SMS signature" in x for x in p)
    assert any("template_code=None: must be the approved template's ID" in x for x in p)
    assert any("sdk_app_id=None: must be the SMS application's SdkAppId" in x for x in p)
    p = problems_of({"preset": "aliyun", "key_id": "a", "secret": "b", "sign_name": "s", "template_code": "SMS_1",
                     "body": "{text}", "region": "cn-hangzhou", "template_params": ["station", "flat"]})
    assert any(".body: not used by preset aliyun" in x for x in p)
    assert any(".region: only for preset tencent" in x for x in p)
    assert any(".template_params=['station', 'flat']: must be a list of distinct names" in x for x in p)
    assert problems_of({"preset": "custom", "url": "https://gw.example.cn/", "sign_name": "x"}) == [
        "notify.channel 'sms'.sign_name: only for the signed presets (aliyun, tencent), not custom"]


def test_signed_presets_read_the_accesskey_from_env_or_file(tmp_path: Any) -> None:
    (tmp_path / "sms.key").write_text("file-secret\n", encoding="utf-8")
    problems: list[str] = []
    (ch,) = notify_config._channels([{"name": "sms", "kind": "sms", "preset": "aliyun", "key_id_env": "ALI_ID",
                                      "secret_file": "sms.key", "sign_name": "s", "template_code": "SMS_1"}],
                                    str(tmp_path), "/tmp", {"ALI_ID": "LTAI-env"}, problems)
    assert not problems
    assert (ch["key_id"], ch["secret"], ch["url"]) == ("LTAI-env", "file-secret", "https://dysmsapi.aliyuncs.com/")
    p = problems_of({"preset": "aliyun", "key_id_env": "NOPE", "secret": "x", "sign_name": "s",
                     "template_code": "SMS_1"})
    assert p == ["notify.channel 'sms'.key_id_env='NOPE': no such environment variable"]


def test_the_examples_commented_vendor_channels_are_valid(tmp_path: Any) -> None:
    """The commented aliyun and tencent blocks of supervisor/examples/notify.toml, uncommented."""
    import os
    import tomllib

    from heatkeeper.supervisor import config as sup_config

    path = os.path.join(os.path.dirname(sup_config.__file__), "examples", "notify.toml")
    with open(path, encoding="utf-8") as fh:
        lines = fh.read().splitlines()
    blocks = []
    for i, line in enumerate(lines):
        if line == "# [[notify.channel]]":
            block = []
            for nxt in lines[i:]:
                if not nxt.startswith("# ") or nxt == "#":
                    break
                block.append(nxt[2:])
            blocks.append(tomllib.loads("\n".join(block))["notify"]["channel"][0])
    assert [b["preset"] for b in blocks] == ["aliyun", "tencent"]
    key = tmp_path / "tencent-sms.key"
    key.write_text("k", encoding="utf-8")
    blocks[1]["secret_file"] = str(key)
    env = {"HEATKEEPER_ALIYUN_AK_ID": "a", "HEATKEEPER_ALIYUN_AK_SECRET": "b", "HEATKEEPER_TENCENT_SECRET_ID": "c"}
    problems: list[str] = []
    for block in blocks:
        (ch,) = notify_config._channels([block], ".", "/tmp", env, problems)
        assert ch["url"].startswith("https://") and ch["key_id"] and ch["secret"]
    assert not problems
