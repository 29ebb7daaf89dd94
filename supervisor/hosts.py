"""Host names and addresses in the supervisor's settings: the one loopback check behind every
"plaintext only on loopback" rule (broker, embedded broker, dashboard, metrics)."""

from __future__ import annotations

import ipaddress


def is_loopback(host: str) -> bool:
    """True for "localhost" and loopback addresses (127.0.0.0/8, ::1, also in brackets)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
