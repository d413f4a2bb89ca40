"""IP address helpers shared by the API, the admin and the commands.

Addresses are compared by value (`::1` is `0:0:0:0:0:0:0:1`) and ordered numerically with
IPv4 before IPv6 on every database, so each allocation also stores a sort key: the family
digit and the 128-bit value in fixed-width hex, which orders correctly as plain text."""

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def parse_ip(value: object) -> IPAddress | None:
    """The address `value` names, or None when it is not a plain IPv4/IPv6 address."""
    if not isinstance(value, str) or not value or len(value) > 45:
        return None
    if "%" in value:  # a zone id names an interface, not an address
        return None
    try:
        return ipaddress.ip_address(value)
    except ValueError:
        return None


def canonical_ip(address: IPAddress) -> str:
    """The one text form stored for an address."""
    return str(address) if address.version == 4 else address.compressed


def ip_sort_key(address: IPAddress) -> str:
    return f"{address.version}{int(address):032x}"


def format_ip_port(ip: str, port: int) -> str:
    """`ip:port`, with IPv6 in brackets: `[::1]:25565`."""
    return f"[{ip}]:{port}" if ":" in ip else f"{ip}:{port}"
