"""E-mail to a real SMTP server (aiosmtpd on loopback) over STARTTLS with a login, and over
implicit TLS, with the certificates of the test PKI; a server whose certificate is not trusted
is a delivery error."""

from __future__ import annotations

import email
import email.policy
import ssl
from collections.abc import Iterator
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from heatkeeper.supervisor.notify.channels import DeliveryError
from heatkeeper.tools.procs import free_port
from heatkeeper.tools.testing.pki import make_test_pki

from .test_channels import OUT, channel, send


class Inbox:
    def __init__(self) -> None:
        self.mails: list[tuple[str, list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.mails.append((envelope.mail_from, list(envelope.rcpt_tos), msg))
        return "250 OK"


def authenticator(_server: Any, _session: Any, _envelope: Any, mechanism: str, data: Any) -> AuthResult:
    ok = isinstance(data, LoginPassword) and data.login == b"alarm" and data.password == b"mail-pass-1"
    return AuthResult(success=ok)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    return make_test_pki(str(tmp_path_factory.mktemp("pki")))


def server_context(pki: dict[str, str]) -> ssl.SSLContext:
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(pki["cert"], pki["key"])
    return ctx


@pytest.fixture
def starttls_server(pki: dict[str, str]) -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port, server_hostname="localhost",
                     tls_context=server_context(pki), require_starttls=True, authenticator=authenticator,
                     auth_require_tls=True)
    ctl.start()
    try:
        yield inbox, port
    finally:
        ctl.stop()


@pytest.fixture
def implicit_server(pki: dict[str, str]) -> Iterator[tuple[Inbox, int]]:
    inbox, port = Inbox(), free_port()
    ctl = Controller(inbox, hostname="127.0.0.1", port=port, server_hostname="localhost",
                     ssl_context=server_context(pki))
    ctl.start()
    try:
        yield inbox, port
    finally:
        ctl.stop()


async def test_starttls_with_login(starttls_server: tuple[Inbox, int], pki: dict[str, str]) -> None:
    inbox, port = starttls_server
    ch = channel("email", host="127.0.0.1", port=port, tls="starttls", tls_ca=pki["ca"], username="alarm",
                 password="mail-pass-1", sender="heatkeeper@example.cn")
    assert "OK" in await send(ch)
    ((sender, rcpts, msg),) = inbox.mails
    assert sender == "heatkeeper@example.cn" and rcpts == ["zhang@example.cn"]
    assert msg["Subject"] == OUT.subject  # UTF-8, encoded and decoded intact
    assert msg["X-Heatkeeper-Message"] == "m-1"
    assert "站点: 阿尔山 1 号站" in msg.get_content()


async def test_starttls_wrong_password_is_refused(starttls_server: tuple[Inbox, int], pki: dict[str, str]) -> None:
    inbox, port = starttls_server
    ch = channel("email", host="127.0.0.1", port=port, tls="starttls", tls_ca=pki["ca"], username="alarm",
                 password="wrong", sender="heatkeeper@example.cn", timeout_s=3)
    with pytest.raises(DeliveryError, match="email c1 via 127.0.0.1:%d: SMTP" % port):
        await send(ch)
    assert inbox.mails == []


async def test_implicit_tls(implicit_server: tuple[Inbox, int], pki: dict[str, str]) -> None:
    inbox, port = implicit_server
    ch = channel("email", host="127.0.0.1", port=port, tls="implicit", tls_ca=pki["ca"], sender="hk@example.cn")
    await send(ch)
    assert inbox.mails[0][1] == ["zhang@example.cn"]


async def test_untrusted_certificate_is_a_delivery_error(implicit_server: tuple[Inbox, int]) -> None:
    _inbox, port = implicit_server
    ch = channel("email", host="127.0.0.1", port=port, tls="implicit", sender="hk@example.cn", timeout_s=5)
    with pytest.raises(DeliveryError, match="email c1 via 127.0.0.1.*CERTIFICATE_VERIFY_FAILED"):
        await send(ch)
