"""Real `manage.py monitor` processes against the PostgreSQL test database: several workers
sharing the work, stopping on a signal, outliving a database restart. Every allocation is on
127.0.0.1, on ports these tests hold open or closed themselves."""

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from allocations.models import Allocation
from monitoring.models import AllocationCheck, AllocationMonitor
from monitoring.services import monitor_claim_due, monitor_sync_schedules
from tests.concurrency import race
from tests.monitoring.conftest import (
    LOOPBACK,
    ClosedPort,
    Listener,
    make_loopback_fleet,
    make_loopback_server,
)

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

BASE_DIR = Path(settings.BASE_DIR)
PROCESS_TIMEOUT = 120


def database_url(host=None, port=None) -> str:
    """The pytest test database, as the worker processes must reach it."""
    db = connection.settings_dict
    credentials = quote(db["USER"] or "", safe="")
    if db["PASSWORD"]:
        credentials += ":" + quote(db["PASSWORD"], safe="")
    host = host or db["HOST"] or "127.0.0.1"
    port = port or db["PORT"] or 5432
    return f"postgres://{credentials}@{host}:{port}/{db['NAME']}"


def worker_env(**extra) -> dict:
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "PANEL_SECRET_KEY": os.environ.get("PANEL_SECRET_KEY") or "test-only-secret-key-0123",
        "PANEL_HTTPS": "0",
        "PANEL_DEBUG": "0",
        # The same fence as the test process: loopback only, whatever the database holds.
        "PANEL_PROBE_ALLOWED_NETWORKS": "127.0.0.1/32",
        "PANEL_MONITOR_INTERVAL": "3600",
        "PANEL_MONITOR_CONCURRENCY": "50",
        "PYTHONUNBUFFERED": "1",
    }
    env.update({key: str(value) for key, value in extra.items()})
    return env


def start_worker(*args, env=None) -> subprocess.Popen:
    # Only loopback allocations may exist when a worker starts: it checks all of them.
    assert not Allocation.objects.filter(server__isnull=False).exclude(ip=LOOPBACK).exists()
    return subprocess.Popen(
        [sys.executable, "manage.py", "monitor", "--json", *args],
        cwd=BASE_DIR,
        env=env or worker_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(process: subprocess.Popen, timeout: float = PROCESS_TIMEOUT) -> dict:
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        pytest.fail(f"worker still running after {timeout}s; stderr: {err[-2000:]}")
    assert process.returncode == 0, (process.returncode, err[-2000:])
    return json.loads(out)


def wait_until(condition, *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.1)
    pytest.fail(f"timed out waiting for {what}")


def waiting_on_monitor_table() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_locks WHERE NOT granted "
            "AND relation = 'monitoring_allocationmonitor'::regclass"
        )
        return cursor.fetchone()[0]


@pytest.fixture
def fleet():
    """2,000 loopback allocations held by 20 servers: 1,950 closed ports (refused at once)
    and 50 listening ones."""
    closed = [ClosedPort() for _ in range(1950)]
    listening = [Listener() for _ in range(50)]
    ports = [c.port for c in closed] + [x.port for x in listening]
    make_loopback_fleet(ports, servers=20)
    yield {x.port for x in listening}
    for held in [*closed, *listening]:
        held.close()


def test_two_workers_check_2000_allocations_exactly_once_in_an_interval(fleet):
    listening_ports = fleet
    assigned = set(Allocation.objects.filter(server__isnull=False).values_list("pk", flat=True))
    assert len(assigned) == 2000
    # Both workers start their work at the same moment: the table is locked until both wait.
    monitor_sync_schedules()
    env = worker_env(PANEL_DB_LOCK_TIMEOUT_MS=60000, PANEL_DB_STATEMENT_TIMEOUT_MS=60000)
    workers = []
    try:
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("LOCK TABLE monitoring_allocationmonitor IN EXCLUSIVE MODE")
            workers += [start_worker("--once", env=env) for _ in range(2)]
            wait_until(lambda: waiting_on_monitor_table() == 2, timeout=60, what="both workers")
        started = time.monotonic()

        reports = [finish(w) for w in workers]
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.communicate()

    elapsed = time.monotonic() - started
    checked = [r["checked"] for r in reports]
    assert sum(checked) == 2000, checked
    assert all(n > 0 for n in checked), f"one worker did everything: {checked}"
    per_allocation = dict(
        AllocationCheck.objects.values_list("allocation_id").annotate(n=Count("pk"))
    )
    assert set(per_allocation) == assigned  # none missed
    assert set(per_allocation.values()) == {1}  # none checked twice
    up = set(
        AllocationCheck.objects.filter(reachable=True).values_list("allocation__port", flat=True)
    )
    assert up == listening_ports
    assert AllocationCheck.objects.filter(reachable=False, error="connection refused").count() == (
        1950
    )
    print(f"two workers: {checked} checks in {elapsed:.1f}s")

    # Within the interval, more workers find nothing due.
    again = [start_worker("--once", env=env) for _ in range(2)]
    assert [finish(w)["checked"] for w in again] == [0, 0]
    assert AllocationCheck.objects.count() == 2000


def test_a_claim_skips_rows_another_worker_is_claiming_without_waiting(owner):
    ports = [ClosedPort() for _ in range(10)]
    try:
        make_loopback_server(owner, [p.port for p in ports])
        monitor_sync_schedules()
        holding, release = threading.Event(), threading.Event()

        def first_worker():
            with transaction.atomic():
                ids = list(
                    AllocationMonitor.objects.select_for_update(skip_locked=True)
                    .order_by("next_due_at")
                    .values_list("pk", flat=True)[:4]
                )
                holding.set()
                assert release.wait(race.JOIN_TIMEOUT)
            return ids

        thread, outcome = race.start(first_worker, name="first")
        assert holding.wait(race.JOIN_TIMEOUT)
        started = time.monotonic()
        second = monitor_claim_due(limit=100, interval=timedelta(seconds=60))
        waited = time.monotonic() - started
        release.set()
        race.join(thread)
    finally:
        for port in ports:
            port.close()

    locked = set(outcome.get())
    assert len(locked) == 4
    assert {t.allocation_id for t in second}.isdisjoint(locked)
    assert len(second) == 6
    assert waited < 1.0


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_looping_worker_stops_cleanly_on_a_signal(owner, signum):
    ports = [ClosedPort() for _ in range(3)]
    make_loopback_server(owner, [p.port for p in ports])
    worker = start_worker(env=worker_env(PANEL_MONITOR_INTERVAL=60))
    try:
        wait_until(lambda: AllocationCheck.objects.count() == 3, timeout=60, what="a first pass")
        time.sleep(0.3)

        worker.send_signal(signum)
        report = finish(worker, timeout=15)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
        for port in ports:
            port.close()

    assert report == {"passes": 1, "checked": 3, "pruned": 0}


class DatabaseProxy:
    """A TCP relay on 127.0.0.1 to the PostgreSQL server, which the test can take down
    (every connection dropped, new ones refused) and bring back on the same port: what a
    database restart looks like from a worker."""

    def __init__(self, upstream: tuple[str, int]):
        self.upstream = upstream
        self.port = 0
        self.links: list[socket.socket] = []
        self.lock = threading.Lock()
        self.listener: socket.socket | None = None
        self.up()

    def up(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(16)
        self.port = listener.getsockname()[1]
        self.listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        self.listener.close()
        with self.lock:
            for link in self.links:
                with contextlib.suppress(OSError):
                    link.shutdown(socket.SHUT_RDWR)
                link.close()
            self.links.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.upstream)
            with self.lock:
                self.links += [client, server]
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for end in (source, sink):
                with contextlib.suppress(OSError):
                    end.close()


def test_a_worker_outlives_a_database_restart_and_keeps_checking(owner, listener):
    db = connection.settings_dict
    proxy = DatabaseProxy((db["HOST"] or "127.0.0.1", int(db["PORT"] or 5432)))
    make_loopback_server(owner, [listener.port])
    # Accept what the probes queue, so the listener never fills up over many passes.
    stop_accepting = threading.Event()

    def drain():
        listener.sock.settimeout(0.2)
        while not stop_accepting.is_set():
            with contextlib.suppress(OSError):
                listener.sock.accept()[0].close()

    threading.Thread(target=drain, daemon=True).start()
    env = worker_env(
        DATABASE_URL=database_url(host=LOOPBACK, port=proxy.port), PANEL_MONITOR_INTERVAL=1
    )
    worker = start_worker(env=env)
    try:
        wait_until(lambda: AllocationCheck.objects.count() >= 2, timeout=60, what="checks")

        proxy.down()
        time.sleep(3)
        during = AllocationCheck.objects.count()
        proxy.up()
        wait_until(
            lambda: AllocationCheck.objects.count() >= during + 2,
            timeout=60,
            what="checks after the restart",
        )
        since = timezone.now() - timedelta(seconds=30)
        assert AllocationCheck.objects.filter(checked_at__gte=since, reachable=True).exists()

        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=30)
    finally:
        stop_accepting.set()
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
        proxy.down()

    assert worker.returncode == 0, err[-2000:]
    assert "database unavailable" in err
    assert json.loads(out)["checked"] >= 4
