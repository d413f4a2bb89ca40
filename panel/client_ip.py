import ipaddress

from django.conf import settings


def _is_address(value: str) -> bool:
    """A plain IPv4/IPv6 address (no port, brackets or zone): what the activity log's
    address column and the allowed-IPs check can hold."""
    if "%" in value:
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def client_ip(request) -> str:
    """The caller's address: the connection's, or with PANEL_TRUSTED_PROXIES = N > 0 the N-th
    address from the right of X-Forwarded-For (the one our own outermost proxy saw). An entry
    that is not an address counts as missing: the connection's address is used."""
    remote = _unmapped(request.META.get("REMOTE_ADDR", "") or "0.0.0.0")
    proxies = settings.PANEL_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies or not _is_address(forwarded[-proxies]):
        return remote
    return _unmapped(forwarded[-proxies])


def _unmapped(value: str) -> str:
    """`::ffff:1.2.3.4` (an IPv4 caller seen through a dual-stack socket) is 1.2.3.4, so it
    matches IPv4 allowed-IP entries and logs as the address the caller knows."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return value
    mapped = getattr(address, "ipv4_mapped", None)
    return str(mapped) if mapped else value
