"""Reads of the monitor's results, always scoped to the allocation's current server: what
was recorded while another server held the allocation is never shown."""

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Count, Q
from django.utils import timezone

from allocations.models import Allocation
from monitoring.models import AllocationCheck, AllocationMonitor

UP, DOWN, UNKNOWN = "up", "down", "unknown"
DAY = timedelta(hours=24)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Health:
    status: str
    last_checked_at: datetime | None
    latency_ms: float | None
    uptime_24h: float | None
    uptime_7d: float | None
    latency_24h: list[tuple[datetime, float | None]] = field(default_factory=list)


def uptime_percent(up: int, total: int) -> float | None:
    """The share of successful checks, in percent to 2 decimals; None without checks."""
    if total <= 0:
        return None
    return round(100.0 * up / total, 2)


def allocation_health(*, allocation: Allocation, now: datetime | None = None) -> Health:
    now = now or timezone.now()
    row = (
        AllocationMonitor.objects.filter(pk=allocation.pk, server_id=allocation.server_id)
        .only("last_checked_at", "last_reachable", "last_latency_ms")
        .first()
    )
    checks = AllocationCheck.objects.filter(
        allocation_id=allocation.pk, server_id=allocation.server_id
    )
    week = checks.filter(checked_at__gt=now - WEEK).aggregate(
        total=Count("pk"), up=Count("pk", filter=Q(reachable=True))
    )
    points = list(
        checks.filter(checked_at__gt=now - DAY)
        .order_by("checked_at", "pk")
        .values_list("checked_at", "reachable", "latency_ms")
    )
    if row is None or row.last_checked_at is None:
        status, checked_at, latency = UNKNOWN, None, None
    else:
        status = UP if row.last_reachable else DOWN
        checked_at, latency = row.last_checked_at, row.last_latency_ms
    return Health(
        status=status,
        last_checked_at=checked_at,
        latency_ms=latency,
        uptime_24h=uptime_percent(sum(1 for p in points if p[1]), len(points)),
        uptime_7d=uptime_percent(week["up"], week["total"]),
        latency_24h=[(at, ms if reachable else None) for at, reachable, ms in points],
    )
