"""`health_for_allocations`: the network tab's read of many allocations' health at once, in a
fixed number of queries, agreeing with the health endpoint's read of one."""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations.models import Allocation
from monitoring.models import AllocationCheck, AllocationMonitor
from monitoring.selectors import DAY, allocation_health, health_for_allocations
from tests import factories
from tests.monitoring.conftest import make_loopback_server

pytestmark = pytest.mark.django_db

# 10:07:30 UTC: the buckets start on the quarter hour, 7.5 minutes before the window does.
NOW = datetime(2026, 11, 27, 10, 7, 30, tzinfo=UTC)


def record(row, *ages_and_latencies, server=None, now=NOW):
    """Checks of `row`, each `(age, latency_ms or None for a failure)`; the latest becomes
    the row's state, as the monitor would leave it."""
    server_id = (server or row.server).pk
    checks = [
        AllocationCheck(
            allocation_id=row.pk,
            server_id=server_id,
            checked_at=now - age,
            reachable=latency is not None,
            latency_ms=latency,
            error=None if latency is not None else "connection refused",
        )
        for age, latency in ages_and_latencies
    ]
    AllocationCheck.objects.bulk_create(checks)
    latest = max(checks, key=lambda c: c.checked_at)
    AllocationMonitor.objects.update_or_create(
        allocation_id=row.pk,
        defaults={
            "server_id": server_id,
            "next_due_at": now,
            "last_checked_at": latest.checked_at,
            "last_reachable": latest.reachable,
            "last_latency_ms": latest.latency_ms,
            "last_error": latest.error,
            "down_since": None if latest.reachable else latest.checked_at,
        },
    )


@pytest.fixture
def rows(owner):
    server = make_loopback_server(owner, [21001, 21002, 21003])
    return list(Allocation.objects.filter(server=server).order_by("port"))


def test_health_of_many_agrees_with_the_health_of_each(rows):
    minutes = timedelta(minutes=1)
    record(rows[0], (3 * minutes, 0.5), (2 * minutes, 0.7), (1 * minutes, 0.6))
    record(rows[1], (30 * minutes, 1.0), (20 * minutes, None), (10 * minutes, None))
    record(rows[2], (25 * 60 * minutes, 2.0))  # only a check older than the window

    many = health_for_allocations(allocations=rows, now=NOW)

    for row in rows:
        one = allocation_health(allocation=row, now=NOW)
        got = many[row.pk]
        assert (got.status, got.last_checked_at, got.latency_ms, got.uptime_24h) == (
            one.status,
            one.last_checked_at,
            one.latency_ms,
            one.uptime_24h,
        )
    assert [many[r.pk].status for r in rows] == ["up", "down", "up"]
    assert many[rows[1].pk].down_since == NOW - 10 * minutes
    assert many[rows[1].pk].last_error == "connection refused"
    assert many[rows[2].pk].uptime_24h is None and many[rows[2].pk].buckets == []


def test_a_never_checked_allocation_is_unknown(rows):
    health = health_for_allocations(allocations=rows[:1], now=NOW)[rows[0].pk]
    assert (health.status, health.last_checked_at, health.latency_ms) == ("unknown", None, None)
    assert health.uptime_24h is None and health.buckets == []
    assert (health.since, health.until) == (NOW - DAY, NOW)


def test_checks_are_counted_and_averaged_per_quarter_hour_oldest_first(rows):
    row = rows[0]
    # 10:05 and 10:01 fall in the 10:00 bucket; 09:59 in the 09:45 one; 08:20 in 08:15.
    record(
        row,
        (timedelta(minutes=2, seconds=30), 1.0),
        (timedelta(minutes=6, seconds=30), 3.0),
        (timedelta(minutes=8, seconds=30), None),
        (timedelta(hours=1, minutes=47, seconds=30), 0.25),
    )

    buckets = health_for_allocations(allocations=[row], now=NOW)[row.pk].buckets

    assert [(b.at, b.latency_ms, b.checks, b.failed) for b in buckets] == [
        (datetime(2026, 11, 27, 8, 22, 30, tzinfo=UTC), 0.25, 1, 0),
        (datetime(2026, 11, 27, 9, 52, 30, tzinfo=UTC), None, 1, 1),
        # The last bucket's middle (10:07:30) is now itself: never later than the window.
        (datetime(2026, 11, 27, 10, 7, 30, tzinfo=UTC), 2.0, 2, 0),
    ]


def test_the_first_bucket_starts_no_earlier_than_the_window(rows):
    row = rows[0]
    record(row, (DAY - timedelta(minutes=1), 1.0))  # 10:08:30 yesterday, bucket 10:00
    (bucket,) = health_for_allocations(allocations=[row], now=NOW)[row.pk].buckets
    assert bucket.at == NOW - DAY


def test_what_was_recorded_for_a_previous_server_is_left_out(owner, rows):
    row = rows[0]
    previous = factories.make_server(factories.make_user("earlier"))
    record(row, (timedelta(hours=2), None), server=previous)

    health = health_for_allocations(allocations=[row], now=NOW)[row.pk]

    assert health.status == "unknown" and health.buckets == [] and health.uptime_24h is None


def test_allocations_of_several_servers_each_read_their_own(owner, rows):
    other = make_loopback_server(owner, [21011])
    theirs = Allocation.objects.get(server=other)
    record(rows[0], (timedelta(minutes=1), 0.5))
    record(theirs, (timedelta(minutes=1), None))

    health = health_for_allocations(allocations=[rows[0], theirs], now=NOW)

    assert (health[rows[0].pk].status, health[theirs.pk].status) == ("up", "down")


def test_two_queries_however_many_allocations(owner):
    few = make_loopback_server(owner, [22001])
    many = make_loopback_server(owner, range(22100, 22140))
    for row in Allocation.objects.filter(server__in=[few, many]):
        record(row, *[(timedelta(minutes=m), 0.4) for m in range(1, 600, 30)])

    for server in (few, many):
        held = list(Allocation.objects.filter(server=server))
        with CaptureQueriesContext(connection) as queries:
            health = health_for_allocations(allocations=held, now=NOW)
        assert len(queries) == 2
        assert len(health) == len(held)
        assert all(h.uptime_24h == 100.0 and len(h.buckets) == 20 for h in health.values())


def test_nothing_to_read_reads_nothing():
    with CaptureQueriesContext(connection) as queries:
        assert health_for_allocations(allocations=[], now=NOW) == {}
    assert len(queries) == 0
