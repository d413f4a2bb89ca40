"""One TCP connection to an allocation's own `ip:port`, with a timeout, and nothing else.

A target is only ever built from an `Allocation` row (`Target.of`), never from an address a
caller supplies, and `PANEL_PROBE_ALLOWED_NETWORKS` (when set) fences off every address
outside its ranges: such a target is answered "not permitted" without any connection. The
test suite and the benchmark set it to 127.0.0.1/32, so nothing they do reaches another
machine."""

import asyncio
import errno
import ipaddress
import socket
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from django.conf import settings
from django.utils import timezone

from allocations.models import Allocation

REFUSED = "connection refused"
TIMED_OUT = "timed out"
UNREACHABLE = "unreachable"
RESET = "connection reset"
FAILED = "connection failed"
NOT_PERMITTED = "not permitted"

_UNREACHABLE_ERRNOS = {
    errno.ENETUNREACH,
    errno.EHOSTUNREACH,
    errno.ENETDOWN,
    errno.EHOSTDOWN,
    errno.EADDRNOTAVAIL,
}


@dataclass(frozen=True)
class Target:
    allocation_id: int
    server_id: int
    ip: str
    port: int

    @classmethod
    def of(cls, allocation: Allocation) -> "Target":
        return cls(
            allocation_id=allocation.pk,
            server_id=allocation.server_id,
            ip=str(allocation.ip),
            port=int(allocation.port),
        )


@dataclass(frozen=True)
class ProbeResult:
    target: Target
    checked_at: datetime
    reachable: bool
    latency_ms: float | None = None
    error: str | None = None


@lru_cache(maxsize=8)
def _networks(spec: tuple[str, ...]) -> tuple:
    return tuple(ipaddress.ip_network(item, strict=False) for item in spec)


def address_allowed(ip: str) -> bool:
    spec = tuple(settings.PANEL_PROBE_ALLOWED_NETWORKS)
    if not spec:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return any(address.version == net.version and address in net for net in _networks(spec))


def _classify(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError | socket.timeout):
        return TIMED_OUT
    if isinstance(exc, ConnectionRefusedError):
        return REFUSED
    if isinstance(exc, ConnectionResetError):
        return RESET
    if isinstance(exc, OSError) and exc.errno in _UNREACHABLE_ERRNOS:
        return UNREACHABLE
    return FAILED


def _socket_for(target: Target) -> tuple[socket.socket, tuple]:
    """A TCP socket of the target's family and its socket address (no name resolution)."""
    if ":" in target.ip:
        return socket.socket(socket.AF_INET6, socket.SOCK_STREAM), (target.ip, target.port, 0, 0)
    return socket.socket(socket.AF_INET, socket.SOCK_STREAM), (target.ip, target.port)


def _latency(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 2)


def probe(target: Target, *, timeout: float) -> ProbeResult:
    """Blocking: for the "Test" endpoint, one connection at a time."""
    checked_at = timezone.now()
    if not address_allowed(target.ip):
        return ProbeResult(target, checked_at, False, None, NOT_PERMITTED)
    started = time.perf_counter()
    try:
        sock, address = _socket_for(target)
    except OSError as exc:
        return ProbeResult(target, checked_at, False, None, _classify(exc))
    with sock:
        sock.settimeout(timeout)
        try:
            sock.connect(address)
        except OSError as exc:
            return ProbeResult(target, checked_at, False, None, _classify(exc))
        return ProbeResult(target, checked_at, True, _latency(started), None)


async def probe_async(target: Target, *, timeout: float) -> ProbeResult:
    checked_at = timezone.now()
    if not address_allowed(target.ip):
        return ProbeResult(target, checked_at, False, None, NOT_PERMITTED)
    loop = asyncio.get_running_loop()
    started = time.perf_counter()
    try:
        sock, address = _socket_for(target)
    except OSError as exc:
        return ProbeResult(target, checked_at, False, None, _classify(exc))
    with sock:
        sock.setblocking(False)
        try:
            async with asyncio.timeout(timeout):
                await loop.sock_connect(sock, address)
        except OSError as exc:  # TimeoutError is an OSError too
            return ProbeResult(target, checked_at, False, None, _classify(exc))
        return ProbeResult(target, checked_at, True, _latency(started), None)


async def probe_many(
    targets: Iterable[Target], *, concurrency: int, timeout: float
) -> list[ProbeResult]:
    """Every target, at most `concurrency` connections open at once; in input order."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def one(target: Target) -> ProbeResult:
        async with gate:
            return await probe_async(target, timeout=timeout)

    return list(await asyncio.gather(*(one(t) for t in targets)))
