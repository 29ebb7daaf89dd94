"""systemd notification (sd_notify) without a dependency: READY, WATCHDOG, STATUS, STOPPING.

The protocol is one datagram of "KEY=value" lines to the AF_UNIX socket named in
$NOTIFY_SOCKET (a leading "@" means the abstract namespace). Outside systemd the variable is
unset and every call is a cheap no-op. The station feeds WATCHDOG=1 only after a control
cycle made progress, so a hung cycle lets systemd (WatchdogSec=) restart the service.
"""

from __future__ import annotations

import os
import socket


class Notifier:
    """sd_notify client; `enabled` is False when not started by systemd with Type=notify."""

    def __init__(self, address: str | None = None) -> None:
        addr = os.environ.get("NOTIFY_SOCKET", "") if address is None else address
        self.address = "\0" + addr[1:] if addr.startswith("@") else addr
        self.enabled = bool(addr)
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_s = int(usec) / 1e6 if usec.isdigit() else 0.0
        self.sent = 0
        self.errors = 0
        self._sock: socket.socket | None = None

    def notify(self, state: str) -> bool:
        """Send one notification; False (and counted) when it could not be delivered."""
        if not self.enabled:
            return False
        try:
            if self._sock is None:
                self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)
            self._sock.sendto(state.encode(), self.address)
        except OSError:
            self.errors += 1
            return False
        self.sent += 1
        return True

    def ready(self, status: str = "") -> bool:
        """Start-up finished (Type=notify)."""
        return self.notify("READY=1" + ("\nSTATUS=" + status if status else ""))

    def watchdog(self) -> bool:
        """The service is alive and made progress."""
        return self.notify("WATCHDOG=1")

    def status(self, text: str) -> bool:
        """Free-form status shown by `systemctl status`."""
        return self.notify("STATUS=" + text)

    def stopping(self) -> bool:
        """Shutdown begun."""
        return self.notify("STOPPING=1")

    def close(self) -> None:
        """Close the socket."""
        if self._sock is not None:
            self._sock.close()
            self._sock = None
