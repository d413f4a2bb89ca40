"""Writes of the monitor and of the "Test" button.

The worker's cycle: `monitor_sync_schedules` (a schedule row for every assigned allocation,
none for the others), `monitor_claim_due` (a short transaction: the due rows, locked with
SKIP LOCKED so concurrent workers each take different ones, pushed one interval ahead),
the probes (outside any transaction), then `monitor_record`."""

from collections.abc import Sequence
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.functions import Now
from django.utils import timezone

from allocations.models import Allocation
from monitoring.models import AllocationCheck, AllocationMonitor
from monitoring.probe import ProbeResult, Target, probe
from panel.api.throttles import check_rate

_INSERT_BATCH = 1000
_PRUNE_BATCH = 10_000


def monitor_sync_schedules() -> tuple[int, int]:
    """Drop the schedule rows of allocations that are gone, free or held by another server
    than the row's; add a row, due now, for every assigned allocation without one. Returns
    (added, dropped). Safe to run from several workers at once."""
    current = Allocation.objects.filter(pk=OuterRef("pk"), server_id=OuterRef("server_id"))
    dropped, _ = AllocationMonitor.objects.filter(~Exists(current)).delete()
    missing = (
        Allocation.objects.filter(server__isnull=False)
        .filter(~Exists(AllocationMonitor.objects.filter(pk=OuterRef("pk"))))
        .order_by()
        .values_list("pk", "server_id")
    )
    rows = [
        AllocationMonitor(allocation_id=pk, server_id=server_id, next_due_at=Now())
        for pk, server_id in missing.iterator(chunk_size=_INSERT_BATCH)
    ]
    # Another worker may add the same rows at the same moment: the first one wins.
    AllocationMonitor.objects.bulk_create(rows, ignore_conflicts=True, batch_size=_INSERT_BATCH)
    return len(rows), dropped


def monitor_claim_due(*, limit: int, interval: timedelta) -> list[Target]:
    """Up to `limit` due allocations, oldest due first, each now due again one `interval`
    later. The database's clock decides what is due, so workers on several machines agree;
    rows another worker is claiming are skipped, never waited for or taken twice. The probe
    target comes from the allocation row itself."""
    with transaction.atomic():
        rows = list(
            AllocationMonitor.objects.select_for_update(skip_locked=True, of=("self",))
            .filter(next_due_at__lte=Now(), allocation__server_id=F("server_id"))
            .order_by("next_due_at")
            .values_list("allocation_id", "server_id", "allocation__ip", "allocation__port")[:limit]
        )
        if rows:
            AllocationMonitor.objects.filter(pk__in=[row[0] for row in rows]).update(
                next_due_at=Now() + interval
            )
    return [
        Target(allocation_id=pk, server_id=server_id, ip=ip, port=port)
        for pk, server_id, ip, port in rows
    ]


def monitor_record(results: Sequence[ProbeResult]) -> int:
    """Store the results: one check row each, and the allocation's latest state (a result
    older than the state already recorded only joins the history). A result whose allocation
    has meanwhile left that server is dropped. Returns how many were kept."""
    results = list(results)
    if not results:
        return 0
    if connection.vendor == "postgresql":
        return _record_postgresql(results)
    with transaction.atomic():
        # In id order, so two writers never lock the same rows in opposite orders.
        rows = {
            row.pk: row
            for row in AllocationMonitor.objects.select_for_update()
            .filter(pk__in={r.target.allocation_id for r in results})
            .order_by("pk")
        }
        kept = [
            result
            for result in sorted(results, key=lambda r: r.checked_at)
            if (row := rows.get(result.target.allocation_id)) is not None
            and row.server_id == result.target.server_id
        ]
        for result in kept:
            _apply(rows[result.target.allocation_id], result)
        AllocationCheck.objects.bulk_create(
            [
                AllocationCheck(
                    allocation_id=result.target.allocation_id,
                    server_id=result.target.server_id,
                    checked_at=result.checked_at,
                    reachable=result.reachable,
                    latency_ms=result.latency_ms,
                    error=result.error,
                )
                for result in kept
            ],
            batch_size=_INSERT_BATCH,
        )
        AllocationMonitor.objects.bulk_update(
            [rows[pk] for pk in {r.target.allocation_id for r in kept}],
            ["last_checked_at", "last_reachable", "last_latency_ms", "last_error", "down_since"],
            batch_size=_INSERT_BATCH,
        )
    return len(kept)


def _record_postgresql(results: list[ProbeResult]) -> int:
    """`monitor_record` in one statement: Django's `bulk_update` builds a CASE per field and
    row, which made recording ten times slower than probing (see docs/performance.md)."""
    monitors = AllocationMonitor._meta.db_table
    checks = AllocationCheck._meta.db_table
    row = (
        "(%s::bigint, %s::bigint, %s::timestamptz, %s::boolean, %s::double precision, %s::varchar)"
    )
    params = []
    for result in results:
        params += [
            result.target.allocation_id,
            result.target.server_id,
            result.checked_at,
            result.reachable,
            result.latency_ms,
            result.error,
        ]
    sql = f"""
        WITH v (allocation_id, server_id, checked_at, reachable, latency_ms, error) AS (
            VALUES {", ".join([row] * len(results))}
        ),
        live AS (
            SELECT v.* FROM v JOIN {monitors} AS m
            ON m.allocation_id = v.allocation_id AND m.server_id = v.server_id
        ),
        state AS (
            UPDATE {monitors} AS m
            SET last_checked_at = live.checked_at,
                last_reachable = live.reachable,
                last_latency_ms = live.latency_ms,
                last_error = live.error,
                down_since = CASE WHEN live.reachable THEN NULL
                                  ELSE COALESCE(m.down_since, live.checked_at) END
            FROM live
            WHERE m.allocation_id = live.allocation_id
              AND (m.last_checked_at IS NULL OR m.last_checked_at <= live.checked_at)
        ),
        history AS (
            INSERT INTO {checks}
                (allocation_id, server_id, checked_at, reachable, latency_ms, error)
            SELECT allocation_id, server_id, checked_at, reachable, latency_ms, error FROM live
            RETURNING 1
        )
        SELECT count(*) FROM history
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


def _apply(row: AllocationMonitor, result: ProbeResult) -> None:
    if row.last_checked_at is not None and result.checked_at < row.last_checked_at:
        return  # a slower, older result: the history keeps it, the latest state does not
    row.last_checked_at = result.checked_at
    row.last_reachable = result.reachable
    row.last_latency_ms = result.latency_ms
    row.last_error = result.error
    if result.reachable:
        row.down_since = None
    elif row.down_since is None:
        row.down_since = result.checked_at


def monitor_prune(*, retention: timedelta) -> int:
    """Delete checks older than `retention`, in batches (each a short statement, however
    many rows are due). Returns how many were deleted."""
    cutoff = timezone.now() - retention
    old = AllocationCheck.objects.filter(checked_at__lt=cutoff).order_by()
    deleted = 0
    while True:
        ids = list(old.values_list("pk", flat=True)[:_PRUNE_BATCH])
        if not ids:
            return deleted
        count, _ = AllocationCheck.objects.filter(pk__in=ids).delete()
        deleted += count
        if len(ids) < _PRUNE_BATCH:
            return deleted


def port_test_rate_check(*, server_id: int) -> None:
    """At most PANEL_PORT_TEST_RATE tests a server, whoever asks and by whatever path: the
    panel is not a port scanner, even for a caller with many keys. The fixed-window counter
    of the API's own rate limits, in the same shared cache."""
    check_rate(scope="porttest", ident=str(server_id), rate=settings.PANEL_PORT_TEST_RATE)


def allocation_port_test(*, allocation: Allocation) -> ProbeResult:
    """Connect to the allocation's own address once, now, and record it like a monitor
    check: TooManyRequests past the server's test rate. The caller has checked who may;
    the probe runs before any transaction is opened."""
    port_test_rate_check(server_id=allocation.server_id)
    target = Target.of(allocation)
    result = probe(target, timeout=settings.PANEL_PORT_TEST_TIMEOUT)
    with transaction.atomic():
        AllocationMonitor.objects.bulk_create(
            [
                AllocationMonitor(
                    allocation_id=target.allocation_id,
                    server_id=target.server_id,
                    next_due_at=Now(),
                )
            ],
            ignore_conflicts=True,
        )
        # A row left from another server's tenancy starts afresh for this one.
        AllocationMonitor.objects.filter(pk=target.allocation_id).exclude(
            server_id=target.server_id
        ).update(
            server_id=target.server_id,
            next_due_at=Now(),
            last_checked_at=None,
            last_reachable=None,
            last_latency_ms=None,
            last_error=None,
            down_since=None,
        )
        monitor_record([result])
    return result
