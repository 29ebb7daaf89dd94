"""The two cloud SMS signatures reproduce the vendors' own worked examples bit for bit, from the
inputs the documentation publishes (intermediate values included where the page prints them)."""

from __future__ import annotations

import hashlib

from heatkeeper.supervisor.notify.sms import acs3_encode, acs3_sign, e164, host_of, tc3_sign, tc3_signing_key

# Tencent Cloud, "签名方法 v3" (TC3-HMAC-SHA256), the worked example every product's API docs carry,
# e.g. https://cloud.tencent.com/document/product/213/30654 and
# https://cloud.tencent.cn/document/product/1108/42544: CVM DescribeInstances in ap-guangzhou,
# X-TC-Timestamp 1551113065. The page masks its SecretId and SecretKey with asterisks and computes
# every published value with those literal strings (32 asterisks, "AKID" + 32 asterisks).
TC3_PAYLOAD = b'{"Limit": 1, "Filters": [{"Values": ["\\u672a\\u547d\\u540d"], "Name": "instance-name"}]}'
TC3_HEADERS = {"Content-Type": "application/json; charset=utf-8", "Host": "cvm.tencentcloudapi.com",
               "X-TC-Action": "DescribeInstances"}
TC3_SECRET_ID = "AKID" + "*" * 32
TC3_SECRET_KEY = "*" * 32


def test_tc3_reproduces_tencents_published_example() -> None:
    assert hashlib.sha256(TC3_PAYLOAD).hexdigest() == \
        "35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064"
    s = tc3_sign(TC3_SECRET_ID, TC3_SECRET_KEY, "cvm", TC3_HEADERS, TC3_PAYLOAD, 1551113065)
    assert s["canonical_request"] == (
        "POST\n/\n\n"
        "content-type:application/json; charset=utf-8\nhost:cvm.tencentcloudapi.com\nx-tc-action:describeinstances\n"
        "\ncontent-type;host;x-tc-action\n35e9c5b0e3ae67532d3c9f17ead6c90222632e5b1ff7f6e89887f1398934f064")
    assert s["string_to_sign"] == ("TC3-HMAC-SHA256\n1551113065\n2019-02-25/cvm/tc3_request\n"
                                   "7019a55be8395899b900fb5564e4200d984910f34794a27cb3fb7d10ff6a1e84")
    # The page prints the derived SecretSigning key in hex.
    assert tc3_signing_key(TC3_SECRET_KEY, "2019-02-25", "cvm").hex() == \
        "b596b923aad85185e2d1f6659d2a062e0a86731226e021e61bfe06f7ed05f5af"
    assert s["signature"] == "10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f"
    assert s["authorization"] == (
        "TC3-HMAC-SHA256 Credential=AKID********************************/2019-02-25/cvm/tc3_request, "
        "SignedHeaders=content-type;host;x-tc-action, "
        "Signature=10b1a37a7301a02ca19a647ad722d5e43b4b3cff309d421d85b46093f6ab6c4f")


def test_tc3_reproduces_the_earlier_english_edition_of_the_example() -> None:
    # The English edition of the same page (tencentcloud.com, "Signature v3"), an earlier revision
    # that signs only content-type;host, with SecretKey Gu5t9xGARNpq86cd98joQYCN3EXAMPLE.
    headers = {k: v for k, v in TC3_HEADERS.items() if k != "X-TC-Action"}
    s = tc3_sign("AKID**********************0123456789EXAMPLE", "Gu5t9xGARNpq86cd98joQYCN3EXAMPLE", "cvm", headers,
                 TC3_PAYLOAD, 1551113065)
    assert s["string_to_sign"].endswith("5ffe6a04c0664d6b969fab9a13bdab201d63ee709638e2749d62a09ca18d7031")
    assert s["signature"] == "72e494ea809ad7a8c8f7a4507b9bddcbaa8e581f516e8da2f66e2c5a96525168"


def test_tc3_scope_date_is_the_utc_date() -> None:
    # The page's warning: 1551113065 is 2019-02-26 00:44:25 at UTC+8, but the scope date is UTC's.
    s = tc3_sign("id", "key", "sms", {"Host": "sms.tencentcloudapi.com"}, b"{}", 1551113065)
    assert "\n2019-02-25/sms/tc3_request\n" in s["string_to_sign"]


# Alibaba Cloud, "V3版本请求体&签名机制" (ACS3-HMAC-SHA256):
# https://help.aliyun.com/zh/sdk/product-overview/v3-request-structure-and-signature, its fixed
# example: ECS RunInstances, AccessKey YourAccessKeyId / YourAccessKeySecret, x-acs-date
# 2023-10-26T10:22:32Z, nonce 3156853299f313e23d1673dc12e1703d, query ImageId and RegionId, no body.
def test_acs3_reproduces_alibabas_published_example() -> None:
    empty = hashlib.sha256(b"").hexdigest()
    headers = {"host": "ecs.cn-shanghai.aliyuncs.com", "x-acs-action": "RunInstances",
               "x-acs-version": "2014-05-26", "x-acs-date": "2023-10-26T10:22:32Z",
               "x-acs-signature-nonce": "3156853299f313e23d1673dc12e1703d", "x-acs-content-sha256": empty}
    query = {"RegionId": "cn-shanghai", "ImageId": "win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd"}
    s = acs3_sign("YourAccessKeyId", "YourAccessKeySecret", "POST", "/", query, headers)
    assert s["canonical_request"] == (
        "POST\n/\nImageId=win2019_1809_x64_dtc_zh-cn_40G_alibase_20230811.vhd&RegionId=cn-shanghai\n"
        "host:ecs.cn-shanghai.aliyuncs.com\nx-acs-action:RunInstances\nx-acs-content-sha256:%s\n"
        "x-acs-date:2023-10-26T10:22:32Z\nx-acs-signature-nonce:3156853299f313e23d1673dc12e1703d\n"
        "x-acs-version:2014-05-26\n\n"
        "host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version\n%s" % (empty, empty))
    assert s["authorization"] == (
        "ACS3-HMAC-SHA256 Credential=YourAccessKeyId,"
        "SignedHeaders=host;x-acs-action;x-acs-content-sha256;x-acs-date;x-acs-signature-nonce;x-acs-version,"
        "Signature=06563a9e1b43f5dfe96b81484da74bceab24a1d853912eee15083a6f0f3283c0")


def test_acs3_percent_encoding_is_rfc3986() -> None:
    # The doc's rules: UTF-8, space %20 (not +), * as %2A, ~ kept, upper-case hex.
    assert acs3_encode("a b*c~d+/é") == "a%20b%2Ac~d%2B%2F%C3%A9"
    assert acs3_encode('{"station":"阿"}') == "%7B%22station%22%3A%22%E9%98%BF%22%7D"


def test_host_and_phone_helpers() -> None:
    assert host_of("https://sms.tencentcloudapi.com/") == "sms.tencentcloudapi.com"
    assert host_of("http://127.0.0.1:8123/x") == "127.0.0.1:8123"
    assert host_of("https://DysmsAPI.aliyuncs.com:443/") == "dysmsapi.aliyuncs.com"
    assert e164("13800000001") == "+8613800000001" and e164("+8613800000001") == "+8613800000001"
    assert e164("008613800000001") == "+8613800000001" and e164("+85291234567") == "+85291234567"
