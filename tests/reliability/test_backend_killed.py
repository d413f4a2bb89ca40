"""A database backend killed in the middle of a create (`pg_terminate_backend`): the claim and
its activity entry are one transaction (spec section 8), so they stand or fall together, and
the request answers the 503 envelope. Two kinds, as for every race here: a deterministic one
that kills at a chosen moment, and backends killed at random under real traffic.

Only backends of this test's own database are ever terminated (pg_stat_activity filtered by
datname), never the test's own connection."""

import random
import threading
import time

import psycopg
import pytest
from django.db import connection

from allocations import services
from allocations.models import Allocation
from bench import harness
from bench.harness import allocations_path
from tests import factories
from tests.concurrency.race import api_call, join, start
from tests.conftest import allocations_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

EVENT_TIMEOUT = 20.0
CREATOR = "creator"
UNAVAILABLE = "ServiceUnavailableHttpException"


class PauseInCreate:
    """Stops the create in the `creator` thread right before (or after) it writes its
    activity entry: the allocation is claimed, its transaction open. Records the backend."""

    def __init__(self, monkeypatch, *, after_entry: bool):
        self.reached = threading.Event()
        self.release = threading.Event()
        self.backend_pid: int | None = None
        real = services.activity_log

        def wrapper(**kwargs):
            if after_entry:
                entry = real(**kwargs)
            if threading.current_thread().name == CREATOR:
                self.backend_pid = connection.connection.info.backend_pid
                self.reached.set()
                assert self.release.wait(EVENT_TIMEOUT), "never released"
            return entry if after_entry else real(**kwargs)

        monkeypatch.setattr(services, "activity_log", wrapper)


def _terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE pid = %s AND datname = current_database() AND pid <> pg_backend_pid()",
            [pid],
        )
        assert cursor.fetchone() == (True,)
        deadline = time.monotonic() + EVENT_TIMEOUT
        while time.monotonic() < deadline:
            cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.02)
    raise AssertionError(f"backend {pid} still there")


def _state(server):
    return (
        sorted(Allocation.objects.filter(node=server.node).values_list("id", "server_id")),
        server.activity.count(),
    )


@pytest.mark.parametrize("after_entry", [False, True], ids=["after-claim", "after-entry"])
def test_a_create_whose_backend_is_killed_midway_leaves_no_half_state(monkeypatch, after_entry):
    owner = factories.make_user(password=None)
    server = factories.make_server(owner, limit=5)
    key = factories.make_key(owner)
    with connection.cursor() as cursor:
        before = harness.baseline(cursor)
    state_before = _state(server)
    pause = PauseInCreate(monkeypatch, after_entry=after_entry)

    thread, outcome = start(api_call(key, "post", allocations_url(server)), name=CREATOR)
    try:
        assert pause.reached.wait(EVENT_TIMEOUT), "the create never reached its pause"
        _terminate(pause.backend_pid)
    finally:
        pause.release.set()
        join(thread)
    answer = outcome.get()

    assert answer.status == 503, answer
    assert answer.code == UNAVAILABLE
    # Neither the claim nor its entry: exactly as before.
    assert _state(server) == state_before
    with connection.cursor() as cursor:
        assert harness.activity_violations(cursor, before) == []
        assert harness.invariant_violations(cursor) == []
    # And the next create, on a new connection, goes through whole.
    thread, outcome = start(api_call(key, "post", allocations_url(server)), name="next")
    join(thread)
    assert outcome.get().status == 200
    assert Allocation.objects.filter(server=server).count() == 2
    assert server.activity.filter(event="server:allocation.create").count() == 1


def test_backends_killed_at_random_under_traffic_leave_no_half_state(app_servers):
    node = factories.make_node()
    factories.make_pool(node, ip="127.0.0.1", ports=range(20000, 20200))
    servers = []
    for _ in range(6):
        owner = factories.make_user(password=None)
        servers.append(
            (factories.make_server(owner, node=node, limit=25), factories.make_key(owner))
        )
    with connection.cursor() as cursor:
        before = harness.baseline(cursor)
        cursor.execute("SELECT pg_backend_pid()")
        (own_pid,) = cursor.fetchone()
    app = app_servers(name="chaos", workers=2)
    stop = threading.Event()
    ledger, answers, kills = harness.Ledger(), [], []
    lock = threading.Lock()

    def client(index: int, server, token: str):
        rng = random.Random(index)
        http = harness.Client(app.url, token, timeout=30)
        mine: list[int] = []
        while not stop.is_set():
            if mine and rng.random() < 0.35:
                allocation_id = mine.pop(rng.randrange(len(mine)))  # never asked again
                answer = http.call("DELETE", allocations_path(server.identifier, allocation_id))
                if answer.status == 204:
                    with lock:
                        ledger.released(server.pk, allocation_id)
            else:
                answer = http.call("POST", allocations_path(server.identifier))
                if answer.status == 200:
                    mine.append(answer.body["attributes"]["id"])
                    with lock:
                        ledger.claimed(server.pk, mine[-1])
            with lock:
                answers.append(answer)

    def killer():
        rng = random.Random(0)
        settings = connection.settings_dict
        with psycopg.connect(
            dbname=settings["NAME"],
            user=settings["USER"] or None,
            host=settings["HOST"] or None,
            port=settings["PORT"] or None,
            password=settings["PASSWORD"] or None,
            autocommit=True,
        ) as conn:
            while not stop.is_set():
                time.sleep(rng.uniform(0.03, 0.12))
                # Only this test database's backends; never ours, never the killer's own.
                rows = conn.execute(
                    "SELECT pid FROM pg_stat_activity WHERE datname = current_database() "
                    "AND pid <> pg_backend_pid() AND pid <> %s AND backend_type = 'client backend'",
                    [own_pid],
                ).fetchall()
                if rows:
                    (pid,) = rng.choice(rows)
                    conn.execute("SELECT pg_terminate_backend(%s)", [pid])
                    kills.append(pid)

    threads = [
        threading.Thread(target=client, args=(i, s, k), daemon=True)
        for i, (s, k) in enumerate(servers)
    ] + [threading.Thread(target=killer, daemon=True)]
    for thread in threads:
        thread.start()
    time.sleep(5.0)
    stop.set()
    for thread in threads:
        thread.join(45)
    assert not any(t.is_alive() for t in threads)

    kinds = {(a.status, a.code) for a in answers}
    allowed = {(200, None), (204, None), (400, "TooManyAllocationsException"), (503, UNAVAILABLE)}
    assert kinds <= allowed, kinds - allowed
    assert all(a.status in (200, 204) or a.is_envelope for a in answers)
    assert kills, "the killer killed nothing"
    assert (503, UNAVAILABLE) in kinds, "no request was hit: the test proved nothing"
    assert (200, None) in kinds
    with connection.cursor() as cursor:
        assert harness.activity_violations(cursor, before) == []
        assert harness.invariant_violations(cursor) == []
        assert harness.ledger_violations(cursor, ledger) == []
