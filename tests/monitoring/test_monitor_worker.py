"""The monitor worker, in process: what a pass checks, what it records, when an allocation
is due again, pruning, database outages and stopping."""

import io
import json
import logging
import signal
import threading
import time
from datetime import timedelta
from unittest import mock

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import OperationalError
from django.utils import timezone

from allocations.models import Allocation
from monitoring import worker as worker_module
from monitoring.models import AllocationCheck, AllocationMonitor
from monitoring.probe import ProbeResult, Target
from monitoring.services import monitor_claim_due, monitor_record, monitor_sync_schedules
from monitoring.worker import Worker
from tests import factories
from tests.monitoring.conftest import LOOPBACK, ClosedPort, allocation_on, make_loopback_server

pytestmark = pytest.mark.django_db


def new_worker(**overrides) -> Worker:
    options = {"interval": 60, "concurrency": 10, "timeout": 2, "retention_days": 14}
    options.update(overrides)
    return Worker(**options)


def checks_of(row) -> list[AllocationCheck]:
    return list(AllocationCheck.objects.filter(allocation_id=row.pk).order_by("checked_at"))


def make_due_now() -> None:
    AllocationMonitor.objects.update(next_due_at=timezone.now() - timedelta(seconds=1))


@pytest.fixture
def pair(owner, listener, closed_port):
    """A loopback server holding a listening and a closed port, and a free allocation of
    its node (on a port held closed too)."""
    server = make_loopback_server(owner, [listener.port, closed_port.port])
    spare = ClosedPort()
    free = Allocation.objects.create(node=server.node, ip=LOOPBACK, port=spare.port)
    yield (
        server,
        allocation_on(server, listener.port),
        allocation_on(server, closed_port.port),
        free,
    )
    spare.close()


def test_a_pass_checks_every_assigned_allocation_and_records_up_and_down(pair):
    server, up, down, free = pair

    totals = new_worker().run_once()

    assert totals.checked == 2
    [up_check], [down_check] = checks_of(up), checks_of(down)
    assert up_check.reachable is True and up_check.error is None
    assert isinstance(up_check.latency_ms, float) and up_check.latency_ms >= 0
    assert (down_check.reachable, down_check.latency_ms, down_check.error) == (
        False,
        None,
        "connection refused",
    )
    assert checks_of(free) == []
    assert {m.pk for m in AllocationMonitor.objects.all()} == {up.pk, down.pk}
    state = AllocationMonitor.objects.get(pk=up.pk)
    assert (state.last_reachable, state.last_latency_ms) == (True, up_check.latency_ms)
    assert AllocationMonitor.objects.get(pk=down.pk).down_since == down_check.checked_at


def test_a_listener_closed_between_passes_is_seen_going_down(owner, listener):
    server = make_loopback_server(owner, [listener.port])
    row = allocation_on(server, listener.port)
    new_worker().run_once()
    listener.close()
    make_due_now()

    new_worker().run_once()

    assert [(c.reachable, c.error) for c in checks_of(row)] == [
        (True, None),
        (False, "connection refused"),
    ]


def test_an_allocation_is_not_checked_twice_within_its_interval(pair):
    _, up, down, _ = pair
    first = new_worker(interval=60).run_once()

    second = new_worker(interval=60).run_once()

    assert (first.checked, second.checked) == (2, 0)
    assert AllocationCheck.objects.count() == 2
    due = AllocationMonitor.objects.get(pk=up.pk).next_due_at
    assert timedelta(seconds=59) < due - timezone.now() <= timedelta(seconds=60)


def test_an_allocation_is_due_again_once_its_interval_has_passed(pair):
    _, up, down, _ = pair
    new_worker(interval=0.3).run_once()
    assert new_worker(interval=0.3).run_once().checked == 0

    time.sleep(0.4)

    assert new_worker(interval=0.3).run_once().checked == 2
    assert len(checks_of(up)) == len(checks_of(down)) == 2


def test_a_pass_works_through_more_allocations_than_one_batch(owner):
    ports = [ClosedPort() for _ in range(25)]
    try:
        server = make_loopback_server(owner, [p.port for p in ports])
        totals = new_worker(concurrency=2, batch_size=4).run_once()
    finally:
        for port in ports:
            port.close()

    assert totals.checked == 25
    assert sorted(AllocationCheck.objects.values_list("allocation_id", flat=True)) == sorted(
        Allocation.objects.filter(server=server).values_list("pk", flat=True)
    )


def test_an_allocation_assigned_later_is_checked_at_the_next_pass(pair):
    server, _, _, free = pair
    new_worker().run_once()
    Allocation.objects.filter(pk=free.pk).update(server=server)

    totals = new_worker().run_once()

    assert totals.checked == 1
    assert [c.error for c in checks_of(free)] == ["connection refused"]


def test_a_freed_allocation_is_no_longer_checked(pair):
    _, up, down, _ = pair
    new_worker().run_once()
    Allocation.objects.filter(pk=down.pk).update(server=None, is_primary=False)
    make_due_now()

    totals = new_worker().run_once()

    assert totals.checked == 1
    assert not AllocationMonitor.objects.filter(pk=down.pk).exists()
    assert len(checks_of(down)) == 1


def test_a_reassigned_allocation_starts_afresh_for_its_new_server(pair):
    server, up, down, _ = pair
    new_worker().run_once()
    other = factories.make_server(factories.make_user("next"), node=server.node)
    Allocation.objects.filter(pk=down.pk).update(server=other, is_primary=False)

    monitor_sync_schedules()

    state = AllocationMonitor.objects.get(pk=down.pk)
    assert state.server_id == other.pk
    assert (state.last_checked_at, state.down_since) == (None, None)
    assert state.next_due_at <= timezone.now()


def test_a_result_for_an_allocation_that_changed_server_meanwhile_is_dropped(pair):
    server, up, down, _ = pair
    monitor_sync_schedules()
    targets = monitor_claim_due(limit=10, interval=timedelta(seconds=60))
    other = factories.make_server(factories.make_user("next"), node=server.node)
    Allocation.objects.filter(pk=down.pk).update(server=other, is_primary=False)
    monitor_sync_schedules()
    now = timezone.now()

    kept = monitor_record([ProbeResult(t, now, False, None, "connection refused") for t in targets])

    assert kept == 1
    assert not AllocationCheck.objects.filter(allocation_id=down.pk).exists()


def test_a_claim_targets_the_allocations_own_address(pair):
    _, up, down, _ = pair
    monitor_sync_schedules()

    targets = monitor_claim_due(limit=10, interval=timedelta(seconds=60))

    assert sorted(targets, key=lambda t: t.allocation_id) == sorted(
        [Target.of(up), Target.of(down)], key=lambda t: t.allocation_id
    )


def test_down_since_is_the_first_failure_and_a_success_clears_it(pair):
    server, up, _, _ = pair
    monitor_sync_schedules()
    target = Target.of(up)
    t0 = timezone.now()

    def record(offset: int, reachable: bool):
        monitor_record(
            [
                ProbeResult(
                    target,
                    t0 + timedelta(minutes=offset),
                    reachable,
                    1.0 if reachable else None,
                    None if reachable else "timed out",
                )
            ]
        )
        return AllocationMonitor.objects.get(pk=up.pk)

    assert record(0, True).down_since is None
    assert record(1, False).down_since == t0 + timedelta(minutes=1)
    assert record(2, False).down_since == t0 + timedelta(minutes=1)
    state = record(3, True)
    assert (state.down_since, state.last_reachable, state.last_latency_ms) == (None, True, 1.0)
    # An older result arriving late joins the history but not the latest state.
    state = record(-5, False)
    assert (state.down_since, state.last_reachable) == (None, True)
    assert AllocationCheck.objects.filter(allocation_id=up.pk).count() == 5


def test_results_older_than_the_retention_are_pruned(pair):
    server, up, _, _ = pair
    now = timezone.now()
    AllocationCheck.objects.bulk_create(
        AllocationCheck(
            allocation_id=up.pk,
            server_id=server.pk,
            checked_at=now - timedelta(days=days),
            reachable=True,
            latency_ms=1.0,
        )
        for days in (20, 15, 14.01, 13.9, 1)
    )

    totals = new_worker(retention_days=14).run_once()

    assert totals.pruned == 3
    ages = sorted(
        round((now - c.checked_at).total_seconds() / 86400, 1)
        for c in AllocationCheck.objects.filter(checked_at__lt=now - timedelta(minutes=1))
    )
    assert ages == [1.0, 13.9]


def test_monitor_once_command_prints_one_json_object(pair):
    out = io.StringIO()

    call_command("monitor", "--once", "--json", stdout=out, stderr=io.StringIO())

    assert json.loads(out.getvalue()) == {"passes": 1, "checked": 2, "pruned": 0}


def test_monitor_once_command_without_json_prints_a_line(pair):
    out = io.StringIO()

    call_command("monitor", "--once", stdout=out, stderr=io.StringIO())

    assert out.getvalue() == "Checked 2 allocations in 1 pass; pruned 0 old results.\n"


def test_monitor_command_gives_back_the_signal_handlers_it_borrowed(pair):
    before = (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT))

    call_command("monitor", "--once", stdout=io.StringIO(), stderr=io.StringIO())

    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


def test_monitor_once_with_the_database_away_fails_with_one_line(pair):
    away = OperationalError("connection to server at 127.0.0.1 failed\nConnection refused")
    with (
        mock.patch.object(worker_module, "monitor_sync_schedules", side_effect=away),
        pytest.raises(CommandError) as failure,
    ):
        call_command("monitor", "--once", stdout=io.StringIO(), stderr=io.StringIO())

    assert str(failure.value).startswith("The database is unavailable: connection to server")
    assert "\n" not in str(failure.value)


# --- the loop: outages and stopping -----------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_the_loop_outlives_a_database_outage_and_records_after_it(
    owner, listener, closed_port, caplog
):
    server = make_loopback_server(owner, [listener.port, closed_port.port])
    worker = new_worker()
    real_claim = worker_module.monitor_claim_due
    calls = {"n": 0}

    def flaky_claim(**kwargs):
        calls["n"] += 1
        if calls["n"] <= 2:
            raise OperationalError("server closed the connection unexpectedly")
        claimed = real_claim(**kwargs)
        if not claimed:
            worker.stop()
        return claimed

    with (
        mock.patch.object(worker_module, "monitor_claim_due", flaky_claim),
        mock.patch.object(worker_module, "BACKOFF_FIRST", 0.01),
        caplog.at_level(logging.WARNING, logger="monitoring"),
    ):
        totals = worker.run_forever()

    assert totals.checked == 2
    assert AllocationCheck.objects.filter(server_id=server.pk).count() == 2
    outages = [r for r in caplog.records if "database unavailable" in r.getMessage()]
    assert len(outages) == 2


@pytest.mark.django_db(transaction=True)
def test_results_that_could_not_be_recorded_are_recorded_after_the_outage(
    owner, closed_port, caplog
):
    make_loopback_server(owner, [closed_port.port])
    worker = new_worker()
    real_record = worker_module.monitor_record
    calls = {"n": 0}

    def flaky_record(results):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationalError("terminating connection due to administrator command")
        kept = real_record(results)
        worker.stop()
        return kept

    with (
        mock.patch.object(worker_module, "monitor_record", flaky_record),
        mock.patch.object(worker_module, "BACKOFF_FIRST", 0.01),
        caplog.at_level(logging.WARNING, logger="monitoring"),
    ):
        worker.run_forever()

    assert AllocationCheck.objects.count() == 1
    assert AllocationCheck.objects.get().error == "connection refused"


@pytest.mark.django_db(transaction=True)
def test_a_stop_during_a_batch_lets_that_batch_finish_and_be_recorded(owner):
    ports = [ClosedPort() for _ in range(12)]
    try:
        make_loopback_server(owner, [p.port for p in ports])
        worker = new_worker(concurrency=2, batch_size=5)
        real_probe_many = worker_module.probe_many

        async def stop_then_probe(targets, **kwargs):
            worker.stop()  # as SIGTERM would, while the batch is under way
            return await real_probe_many(targets, **kwargs)

        with mock.patch.object(worker_module, "probe_many", stop_then_probe):
            started = time.monotonic()
            totals = worker.run_forever()
    finally:
        for port in ports:
            port.close()

    assert totals.checked == 5  # the one batch under way, and no other
    assert AllocationCheck.objects.count() == 5
    assert time.monotonic() - started < 5
    due_later = AllocationMonitor.objects.filter(next_due_at__gt=timezone.now()).count()
    assert due_later == 5  # the rest are still due, for the next worker to take


@pytest.mark.django_db(transaction=True)
def test_the_loop_sleeps_until_the_next_due_row_and_wakes_on_stop(pair):
    worker = new_worker(interval=30)
    passes = {"n": 0}
    real_pass = worker.run_pass

    def counted_pass():
        passes["n"] += 1
        return real_pass()

    worker.run_pass = counted_pass
    threading.Timer(0.5, worker.stop).start()
    started = time.monotonic()

    totals = worker.run_forever()

    assert time.monotonic() - started < 5
    assert passes["n"] == 1
    assert totals.checked == 2
