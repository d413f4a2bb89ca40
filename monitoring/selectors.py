"""Reads of the monitor's results, always scoped to the allocation's current server: what
was recorded while another server held the allocation is never shown."""

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Avg, Count, Func, IntegerField, Q
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


# --- Many allocations at once: the network tab ----------------------------------------------

# The tab's chart draws the last 24 hours in 15-minute buckets: at most 96 points an
# allocation, however often the monitor checks (every minute by default: 1,440 checks).
BUCKET = timedelta(minutes=15)


@dataclass(frozen=True)
class LatencyBucket:
    at: datetime  # the middle of the bucket (within the window)
    latency_ms: float | None  # the mean of its successful checks; None when all failed
    checks: int
    failed: int


@dataclass(frozen=True)
class HealthSummary:
    """What the network tab shows of one allocation."""

    status: str
    last_checked_at: datetime | None
    latency_ms: float | None
    last_error: str | None
    down_since: datetime | None
    uptime_24h: float | None
    since: datetime  # the 24-hour window the buckets cover
    until: datetime
    buckets: list[LatencyBucket] = field(default_factory=list)  # oldest first; empty ones left out

    @property
    def checks_24h(self) -> int:
        return sum(b.checks for b in self.buckets)

    @property
    def failed_24h(self) -> int:
        return sum(b.failed for b in self.buckets)


class _Bucket(Func):
    """The number of the `size`-second bucket, counted from the Unix time `origin`, that a
    timestamp falls in (the rows are all later than `origin`)."""

    output_field = IntegerField()

    def __init__(self, expression, *, origin: int, size: int):
        super().__init__(expression)
        self.origin, self.size = origin, size

    def as_sql(self, compiler, connection, **extra):
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"CAST(FLOOR((EXTRACT(EPOCH FROM {sql}) - %s) / %s) AS INTEGER)",
            (*params, self.origin, self.size),
        )

    def as_sqlite(self, compiler, connection, **extra):
        # SQLite keeps UTC text; whole seconds and integer division are enough for a bucket.
        sql, params = compiler.compile(self.source_expressions[0])
        return (
            f"((CAST(strftime('%%s', {sql}) AS INTEGER) - %s) / %s)",
            (*params, self.origin, self.size),
        )


def _scope(allocations: Iterable[Allocation], field_name: str) -> tuple[list[int], Q]:
    """The allocations' ids, and a filter on rows recorded for each one's current server."""
    by_server: dict[int, list[int]] = defaultdict(list)
    for allocation in allocations:
        if allocation.server_id is not None:
            by_server[allocation.server_id].append(allocation.pk)
    scope = Q(pk__in=[])
    for server_id, ids in by_server.items():
        scope |= Q(server_id=server_id, **{f"{field_name}__in": ids})
    return [pk for ids in by_server.values() for pk in ids], scope


def health_for_allocations(
    *, allocations: Iterable[Allocation], now: datetime | None = None
) -> dict[int, HealthSummary]:
    """The health of every allocation given, by id, in two queries however many there are:
    the latest states, and the last 24 hours of checks counted and averaged per 15-minute
    bucket in the database. Like `allocation_health`, only what was recorded for each
    allocation's current server counts."""
    now = now or timezone.now()
    since = now - DAY
    size = int(BUCKET.total_seconds())
    # Buckets on the clock (:00, :15, ...), so a refresh a minute later draws the same ones.
    origin = int(since.timestamp()) // size * size
    ids, scope = _scope(allocations, "allocation_id")
    if not ids:
        return {}
    states = {
        row[0]: row[1:]
        for row in AllocationMonitor.objects.filter(scope).values_list(
            "allocation_id",
            "last_checked_at",
            "last_reachable",
            "last_latency_ms",
            "last_error",
            "down_since",
        )
    }
    counted = (
        AllocationCheck.objects.filter(scope, checked_at__gt=since)
        .annotate(bucket=_Bucket("checked_at", origin=origin, size=size))
        .values("allocation_id", "bucket")
        .annotate(
            checks=Count("pk"),
            failed=Count("pk", filter=Q(reachable=False)),
            latency=Avg("latency_ms", filter=Q(reachable=True)),
        )
        .order_by("allocation_id", "bucket")
    )
    buckets: dict[int, list[LatencyBucket]] = defaultdict(list)
    for row in counted:
        middle = datetime.fromtimestamp(origin + (row["bucket"] + 0.5) * size, tz=UTC)
        buckets[row["allocation_id"]].append(
            LatencyBucket(
                at=min(max(middle, since), now),
                latency_ms=None if row["latency"] is None else round(row["latency"], 2),
                checks=row["checks"],
                failed=row["failed"],
            )
        )
    result = {}
    for pk in ids:
        mine = buckets.get(pk, [])
        total = sum(b.checks for b in mine)
        up = total - sum(b.failed for b in mine)
        checked_at, reachable, latency, error, down_since = states.get(pk, (None,) * 5)
        if checked_at is None:
            status, latency, error, down_since = UNKNOWN, None, None, None
        else:
            status = UP if reachable else DOWN
        result[pk] = HealthSummary(
            status=status,
            last_checked_at=checked_at,
            latency_ms=latency,
            last_error=error,
            down_since=down_since,
            uptime_24h=uptime_percent(up, total),
            since=since,
            until=now,
            buckets=mine,
        )
    return result
