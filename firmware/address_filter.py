"""Which client addresses a station's local port answers (`allow_from`: IP addresses or CIDR
networks, IPv4 or IPv6; none given = every address that can reach it). Shared by the local
Modbus TCP panel (firmware/modbus_slave.py) and the metrics endpoint (firmware/metrics.py);
the entries are validated with the config (firmware/config.py)."""

from __future__ import annotations

import ipaddress


class AddressFilter:
    """Client addresses allowed to connect: IPs or CIDR networks; none given = every address."""

    def __init__(self, entries: tuple[str, ...] | list[str]) -> None:
        self.networks = [ipaddress.ip_network(e, strict=False) for e in entries]

    def allows(self, host: str) -> bool:
        if not self.networks:
            return True
        try:
            ip = ipaddress.ip_address(host.split("%", 1)[0])
        except ValueError:
            return False
        if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
            ip = ip.ipv4_mapped
        return any(ip.version == net.version and ip in net for net in self.networks)
