"""SMS: straight to Alibaba Cloud's or Tencent Cloud's SMS API (signed here with the AccessKey),
or through any HTTP gateway described by a request template.

preset = "aliyun": Alibaba Cloud SMS (dysmsapi, SendSms, version 2017-05-25), signed with the
  V3 signature ACS3-HMAC-SHA256, the one Alibaba Cloud's docs now prescribe for every OpenAPI
  (the RPC-style HMAC-SHA1 V2 signature is marked "no longer recommended"):
  https://help.aliyun.com/zh/sdk/product-overview/v3-request-structure-and-signature
  Query parameters PhoneNumbers, SignName, TemplateCode, TemplateParam (a JSON object); the
  answer is HTTP 200 with {"Code": "OK", "BizId": ..} or an error Code and Message.
preset = "tencent": Tencent Cloud SMS (sms.tencentcloudapi.com, SendSms, API 3.0, version
  2021-01-11), signed with TC3-HMAC-SHA256 ("签名方法 v3", the same page in every product's API
  docs, e.g. https://cloud.tencent.com/document/product/213/30654):
  JSON body PhoneNumberSet, SmsSdkAppId, SignName, TemplateId, TemplateParamSet (a list); the
  answer is HTTP 200 with Response.SendStatusSet (each number's Code "Ok" or an error) or
  Response.Error.
  Both take `key_id` (AccessKey ID / SecretId) and `secret` (AccessKey Secret / SecretKey), each
  also as `_env` / `_file`; `sign_name` (the approved 签名), `template_code` (the approved
  template's code / ID); tencent also `sdk_app_id` and `region`. `template_params` chooses the
  template's variables, in order, from station, alarm, level, time (default all four): aliyun's
  TemplateParam is {"station": .., ...}, tencent's TemplateParamSet the values in that order.
  `url` defaults to the vendor's endpoint. An answer carrying an error code, even with HTTP 200,
  is a failed delivery with the vendor's code and message (retried, recorded, shown).
preset = "custom": the channel's `method`, `url`, `headers`, `params` (query) and `body` are
  templates; these placeholders are filled per message (the *_json ones are JSON-encoded,
  quotes included, for JSON bodies; `params` values are URL-encoded by the client):
    {phone} {phone_json} {text} {text_json} {subject} {station} {alarm} {severity} {since}
    {params_json}       {"station": .., "alarm": .., "level": .., "time": ..} as JSON
    {params_list_json}  [station, alarm, level, time] as JSON
    {secret}            the channel's secret (secret / secret_env / secret_file)
  Any 2xx answer is a delivery; a JSON answer whose `Code` is not "OK" or that carries
  `Response.Error` is a failure.
No vendor secret is kept in the repository.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlsplit

from .channels import Channel, DeliveryError, Outgoing

PRESETS: dict[str, dict[str, Any]] = {
    "custom": {"method": "POST", "headers": {"Content-Type": "application/json; charset=utf-8"},
               "body": '{"phone": {phone}, "text": {text_json}}'},
    "aliyun": {"url": "https://dysmsapi.aliyuncs.com/", "signed": True},
    "tencent": {"url": "https://sms.tencentcloudapi.com/", "signed": True},
}
SIGNED_PRESETS = tuple(name for name, p in PRESETS.items() if p.get("signed"))
TEMPLATE_PARAMS = ("station", "alarm", "level", "time")

ALIYUN_VERSION = "2017-05-25"
TENCENT_VERSION = "2021-01-11"
TENCENT_SERVICE = "sms"
TENCENT_CONTENT_TYPE = "application/json; charset=utf-8"


def _sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _hmac_sha256(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode("utf-8"), hashlib.sha256).digest()


# --- Alibaba Cloud: V3 signature, ACS3-HMAC-SHA256 ---------------------------------------------

def acs3_encode(text: str) -> str:
    """Percent-encoding as the V3 doc prescribes (RFC 3986: UTF-8, upper-case hex, space as %20,
    `*` as %2A, `~` kept)."""
    return quote(text, safe="-_.~")


def acs3_sign(key_id: str, secret: str, method: str, path: str, query: dict[str, str],
              headers: dict[str, str], payload: bytes = b"") -> dict[str, str]:
    """The ACS3-HMAC-SHA256 steps for one request: {canonical_request, string_to_sign,
    signature, authorization}. `headers` are the request's headers; host, content-type and the
    x-acs-* ones are signed (x-acs-content-sha256 must be the payload's hash)."""
    canonical_query = "&".join("%s=%s" % (k, v) for k, v in
                               sorted((acs3_encode(k), acs3_encode(v)) for k, v in query.items()))
    signed = {k.lower(): v.strip() for k, v in headers.items()
              if k.lower().startswith("x-acs-") or k.lower() in ("host", "content-type")}
    names = sorted(signed)
    canonical_headers = "".join("%s:%s\n" % (k, signed[k]) for k in names)
    signed_headers = ";".join(names)
    canonical = "\n".join([method.upper(), path or "/", canonical_query, canonical_headers, signed_headers,
                           _sha256_hex(payload)])
    string_to_sign = "ACS3-HMAC-SHA256\n" + _sha256_hex(canonical.encode("utf-8"))
    signature = hmac.new(secret.encode("utf-8"), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    return {"canonical_request": canonical, "canonical_query": canonical_query, "string_to_sign": string_to_sign,
            "signature": signature,
            "authorization": "ACS3-HMAC-SHA256 Credential=%s,SignedHeaders=%s,Signature=%s"
                             % (key_id, signed_headers, signature)}


# --- Tencent Cloud: TC3-HMAC-SHA256 (签名方法 v3) -------------------------------------------------

def tc3_signing_key(secret_key: str, date: str, service: str) -> bytes:
    """SecretSigning = HMAC(HMAC(HMAC("TC3" + SecretKey, Date), Service), "tc3_request")."""
    secret_date = _hmac_sha256(("TC3" + secret_key).encode("utf-8"), date)
    return _hmac_sha256(_hmac_sha256(secret_date, service), "tc3_request")


def tc3_sign(secret_id: str, secret_key: str, service: str, headers: dict[str, str], payload: bytes,
             timestamp: int, method: str = "POST", query: str = "") -> dict[str, str]:
    """The TC3-HMAC-SHA256 steps for one request: {canonical_request, string_to_sign, signature,
    authorization}. `headers` are the headers to sign (at least Content-Type and Host; keys and
    values are lower-cased as the doc says); the date in the scope is the UTC date of `timestamp`."""
    signed = {k.strip().lower(): v.strip().lower() for k, v in headers.items()}
    names = sorted(signed)
    canonical_headers = "".join("%s:%s\n" % (k, signed[k]) for k in names)
    signed_headers = ";".join(names)
    canonical = "\n".join([method.upper(), "/", query, canonical_headers, signed_headers, _sha256_hex(payload)])
    date = dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d")
    scope = "%s/%s/tc3_request" % (date, service)
    string_to_sign = "TC3-HMAC-SHA256\n%d\n%s\n%s" % (timestamp, scope, _sha256_hex(canonical.encode("utf-8")))
    signature = hmac.new(tc3_signing_key(secret_key, date, service), string_to_sign.encode("utf-8"),
                         hashlib.sha256).hexdigest()
    return {"canonical_request": canonical, "string_to_sign": string_to_sign, "signature": signature,
            "authorization": "TC3-HMAC-SHA256 Credential=%s/%s, SignedHeaders=%s, Signature=%s"
                             % (secret_id, scope, signed_headers, signature)}


def host_of(url: str) -> str:
    """The Host header for `url`: the host, with the port when it is not the scheme's default."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = "[%s]" % host
    port = parts.port
    return host if port is None or port == {"http": 80, "https": 443}.get(parts.scheme) else "%s:%d" % (host, port)


def e164(phone: str) -> str:
    """Tencent Cloud wants +[country][number]; a bare 11-digit mainland mobile number gets +86."""
    p = phone.strip().replace(" ", "").replace("-", "")
    if p.startswith("00"):
        return "+" + p[2:]
    if len(p) == 11 and p.isdigit() and p.startswith("1"):
        return "+86" + p
    return p


def fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


class SmsChannel(Channel):
    clock: Callable[[], float] = staticmethod(time.time)

    def reaches(self, person: dict[str, Any]) -> bool:
        return bool(person.get("phone"))

    @staticmethod
    def template_values(out: Outgoing) -> dict[str, str]:
        f = out.fields
        return {"station": str(f.get("station_name", "")), "alarm": str(f.get("alarm", "")),
                "level": str(f.get("severity_name", "")), "time": str(f.get("since_local", ""))}

    def values(self, out: Outgoing) -> dict[str, str]:
        params = self.template_values(out)
        phone = str(out.person.get("phone", ""))
        return {"phone": phone, "phone_json": json.dumps(phone), "text": out.text,
                "text_json": json.dumps(out.text, ensure_ascii=False), "subject": out.subject,
                "station": params["station"], "alarm": params["alarm"], "severity": params["level"],
                "since": params["time"], "params_json": json.dumps(params, ensure_ascii=False),
                "params_list_json": json.dumps(list(params.values()), ensure_ascii=False),
                "secret": str(self.cfg.get("secret", ""))}

    def request(self, out: Outgoing) -> dict[str, Any]:
        """The request for one message: {method, url, headers, params, body}."""
        if self.cfg["preset"] == "aliyun":
            return self.aliyun_request(out)
        if self.cfg["preset"] == "tencent":
            return self.tencent_request(out)
        v = self.values(out)
        body = fill(self.cfg["body"], v) if self.cfg["body"] else None
        return {"method": self.cfg["method"], "url": fill(self.cfg["url"], v),
                "headers": {k: fill(x, v) for k, x in self.cfg["headers"].items()},
                "params": {k: fill(x, v) for k, x in self.cfg["params"].items()},
                "body": body.encode("utf-8") if body is not None else None}

    def _chosen_params(self, out: Outgoing) -> dict[str, str]:
        values = self.template_values(out)
        return {name: values[name] for name in self.cfg.get("template_params", TEMPLATE_PARAMS)}

    def aliyun_request(self, out: Outgoing) -> dict[str, Any]:
        url = self.cfg["url"]
        query = {"PhoneNumbers": str(out.person.get("phone", "")).strip(), "SignName": self.cfg["sign_name"],
                 "TemplateCode": self.cfg["template_code"],
                 "TemplateParam": json.dumps(self._chosen_params(out), ensure_ascii=False)}
        headers = {"host": host_of(url), "x-acs-action": "SendSms", "x-acs-version": ALIYUN_VERSION,
                   "x-acs-date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.clock())),
                   "x-acs-signature-nonce": uuid.uuid4().hex, "x-acs-content-sha256": _sha256_hex(b"")}
        path = urlsplit(url).path or "/"
        signed = acs3_sign(self.cfg["key_id"], self.cfg["secret"], "POST", path, query, headers)
        headers["Authorization"] = signed["authorization"]
        base = url.split("?", 1)[0]
        # No body: the client must not add a Content-Type of its own (it would be unsigned).
        return {"method": "POST", "url": base + "?" + signed["canonical_query"], "headers": headers, "params": {},
                "body": None, "skip_auto_headers": ("Content-Type",)}

    def tencent_request(self, out: Outgoing) -> dict[str, Any]:
        url = self.cfg["url"]
        body = json.dumps({"PhoneNumberSet": [e164(str(out.person.get("phone", "")))],
                           "SmsSdkAppId": self.cfg["sdk_app_id"], "SignName": self.cfg["sign_name"],
                           "TemplateId": self.cfg["template_code"],
                           "TemplateParamSet": list(self._chosen_params(out).values())},
                          ensure_ascii=False).encode("utf-8")
        timestamp = int(self.clock())
        to_sign = {"Content-Type": TENCENT_CONTENT_TYPE, "Host": host_of(url), "X-TC-Action": "SendSms"}
        signed = tc3_sign(self.cfg["key_id"], self.cfg["secret"], TENCENT_SERVICE, to_sign, body, timestamp)
        headers = {**to_sign, "X-TC-Version": TENCENT_VERSION, "X-TC-Timestamp": str(timestamp),
                   "X-TC-Region": self.cfg["region"], "Authorization": signed["authorization"]}
        return {"method": "POST", "url": url, "headers": headers, "params": {}, "body": body}

    async def send(self, out: Outgoing) -> str:
        if not out.person.get("phone"):
            raise DeliveryError("sms %s: %s has no phone number" % (self.name, out.person["id"]))
        req = self.request(out)
        extra = {"skip_auto_headers": req["skip_auto_headers"]} if req.get("skip_auto_headers") else {}
        status, answer = await self.http.request(req["method"], req["url"], self.cfg["timeout_s"], "sms " + self.name,
                                                 headers=req["headers"], params=req["params"] or None,
                                                 data=req["body"], **extra)
        if self.cfg["preset"] == "aliyun":
            return self.aliyun_answer(status, answer)
        if self.cfg["preset"] == "tencent":
            return self.tencent_answer(status, answer)
        if not 200 <= status < 300:
            raise DeliveryError("sms %s: HTTP %d %s" % (self.name, status, answer[:300]))
        try:
            data = json.loads(answer)
        except ValueError:
            data = None
        if isinstance(data, dict):
            if "Code" in data and data["Code"] != "OK":
                raise DeliveryError("sms %s: refused (Code=%r): %s" % (self.name, data["Code"], answer[:300]))
            if isinstance(data.get("Response"), dict) and "Error" in data["Response"]:
                raise DeliveryError("sms %s: refused: %s" % (self.name, answer[:300]))
        return "HTTP %d" % status

    def _json(self, status: int, answer: str) -> dict[str, Any]:
        try:
            data = json.loads(answer)
        except ValueError:
            data = None
        if not isinstance(data, dict):
            raise DeliveryError("sms %s: %s answered HTTP %d, not the API's JSON: %s"
                                % (self.name, self.cfg["preset"], status, answer[:300]))
        return data

    def aliyun_answer(self, status: int, answer: str) -> str:
        """Alibaba Cloud answers {"Code": "OK", "BizId": .., "RequestId": ..}; any other Code
        (with HTTP 200 for business errors such as isv.BUSINESS_LIMIT_CONTROL) is a refusal."""
        data = self._json(status, answer)
        if 200 <= status < 300 and data.get("Code") == "OK":
            return "Code=OK BizId=%s RequestId=%s" % (data.get("BizId", ""), data.get("RequestId", ""))
        raise DeliveryError("sms %s: aliyun refused (HTTP %d, Code=%s): %s (RequestId %s)"
                            % (self.name, status, data.get("Code"), data.get("Message", ""),
                               data.get("RequestId", "")))

    def tencent_answer(self, status: int, answer: str) -> str:
        """Tencent Cloud answers {"Response": {"SendStatusSet": [{"Code": "Ok", ..}], "RequestId"}};
        Response.Error (e.g. AuthFailure.SignatureFailure) or a number whose Code is not "Ok"
        (e.g. LimitExceeded.PhoneNumberDailyLimit) is a refusal, though the HTTP status is 200."""
        data = self._json(status, answer)
        resp = data.get("Response")
        if not isinstance(resp, dict):
            raise DeliveryError("sms %s: tencent answered HTTP %d without Response: %s"
                                % (self.name, status, answer[:300]))
        request_id = resp.get("RequestId", "")
        err = resp.get("Error")
        if isinstance(err, dict) or not 200 <= status < 300:
            err = err if isinstance(err, dict) else {}
            raise DeliveryError("sms %s: tencent refused (HTTP %d, Code=%s): %s (RequestId %s)"
                                % (self.name, status, err.get("Code"), err.get("Message", ""), request_id))
        statuses = resp.get("SendStatusSet")
        if not isinstance(statuses, list) or not statuses:
            raise DeliveryError("sms %s: tencent answered without SendStatusSet: %s" % (self.name, answer[:300]))
        for st in statuses:
            if not isinstance(st, dict) or st.get("Code") != "Ok":
                st = st if isinstance(st, dict) else {}
                raise DeliveryError("sms %s: tencent refused %s (Code=%s): %s (RequestId %s)"
                                    % (self.name, st.get("PhoneNumber", "?"), st.get("Code"), st.get("Message", ""),
                                       request_id))
        return "Code=Ok SerialNo=%s RequestId=%s" % (statuses[0].get("SerialNo", ""), request_id)
