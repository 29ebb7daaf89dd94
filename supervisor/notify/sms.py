"""SMS through an HTTP gateway: a configurable request template, with presets for the request
shapes of the common Chinese cloud SMS APIs.

The channel's `method`, `url`, `headers`, `params` (query) and `body` are templates; these
placeholders are filled per message (the *_json ones are JSON-encoded, quotes included, for
JSON bodies; `params` values are URL-encoded by the client):
  {phone} {text} {text_json} {subject} {station} {alarm} {severity} {since}
  {params_json}       {"station": .., "alarm": .., "level": .., "time": ..} as JSON
  {params_list_json}  [station, alarm, level, time] as JSON
  {secret}            the channel's secret (secret / secret_env / secret_file)
A preset gives the shape; the config's own `headers` and `params` are merged over it (add your
SignName, TemplateCode, SdkAppId there). The cloud vendors' request signatures (Aliyun's RPC
signature, Tencent Cloud's TC3-HMAC-SHA256) are not computed here: point the preset at your SMS
gateway or proxy that holds the AccessKey and signs, or use "custom". No vendor secret is kept
in the repository. Any 2xx answer is a delivery; a JSON answer whose `Code` is not "OK"
(Aliyun) or that carries `Response.Error` (Tencent) is a failure.
"""

from __future__ import annotations

import json
from typing import Any

from .channels import Channel, DeliveryError, Outgoing

PRESETS: dict[str, dict[str, Any]] = {
    "custom": {"method": "POST", "headers": {"Content-Type": "application/json; charset=utf-8"},
               "body": '{"phone": {phone}, "text": {text_json}}'},
    # Aliyun Dysms SendSms (RPC style, version 2017-05-25): query parameters.
    "aliyun": {"method": "POST", "url": "", "headers": {}, "body": "",
               "params": {"Action": "SendSms", "Version": "2017-05-25", "Format": "JSON", "PhoneNumbers": "{phone}",
                          "TemplateParam": "{params_json}"}},
    # Tencent Cloud SMS SendSms (API 3.0, version 2021-01-11): a JSON body, action in headers.
    "tencent": {"method": "POST", "url": "",
                "headers": {"Content-Type": "application/json; charset=utf-8", "X-TC-Action": "SendSms",
                            "X-TC-Version": "2021-01-11", "X-TC-Region": "ap-guangzhou"},
                "body": '{"PhoneNumberSet": [{phone_json}], "TemplateParamSet": {params_list_json}}'},
}


def fill(template: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        template = template.replace("{" + key + "}", value)
    return template


class SmsChannel(Channel):
    def reaches(self, person: dict[str, Any]) -> bool:
        return bool(person.get("phone"))

    def values(self, out: Outgoing) -> dict[str, str]:
        f = out.fields
        params = {"station": str(f.get("station_name", "")), "alarm": str(f.get("alarm", "")),
                  "level": str(f.get("severity_name", "")), "time": str(f.get("since_local", ""))}
        phone = str(out.person.get("phone", ""))
        return {"phone": phone, "phone_json": json.dumps(phone), "text": out.text,
                "text_json": json.dumps(out.text, ensure_ascii=False), "subject": out.subject,
                "station": params["station"], "alarm": params["alarm"], "severity": params["level"],
                "since": params["time"], "params_json": json.dumps(params, ensure_ascii=False),
                "params_list_json": json.dumps(list(params.values()), ensure_ascii=False),
                "secret": str(self.cfg.get("secret", ""))}

    def request(self, out: Outgoing) -> dict[str, Any]:
        """The request for one message: {method, url, headers, params, body}."""
        v = self.values(out)
        body = fill(self.cfg["body"], v) if self.cfg["body"] else None
        return {"method": self.cfg["method"], "url": fill(self.cfg["url"], v),
                "headers": {k: fill(x, v) for k, x in self.cfg["headers"].items()},
                "params": {k: fill(x, v) for k, x in self.cfg["params"].items()},
                "body": body.encode("utf-8") if body is not None else None}

    async def send(self, out: Outgoing) -> str:
        if not out.person.get("phone"):
            raise DeliveryError("sms %s: %s has no phone number" % (self.name, out.person["id"]))
        req = self.request(out)
        status, answer = await self.http.request(req["method"], req["url"], self.cfg["timeout_s"], "sms " + self.name,
                                                 headers=req["headers"], params=req["params"] or None,
                                                 data=req["body"])
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
