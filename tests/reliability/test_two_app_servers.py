"""Many app servers, one database: two separate gunicorn processes on two loopback ports over
the same PostgreSQL database, with creates raced through both at once. Nothing one process
knows in memory can keep the guarantees here; only the database's locks can (spec 7)."""

from collections import Counter

import pytest
from django.db import connection

from allocations.models import Allocation
from bench import harness
from bench.harness import allocations_path
from tests import factories
from tests.reliability.conftest import run_together

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

SERVICE_UNAVAILABLE = {"NoAvailableAllocationsException"}


def _servers_with_keys(node, count: int, limit: int):
    made = []
    for _ in range(count):
        owner = factories.make_user(password=None)
        server = factories.make_server(owner, node=node, limit=limit)
        made.append((server, factories.make_key(owner)))
    return made


def _post(base_url: str, token: str, path: str, body=None):
    return lambda: harness.request("POST", base_url + path, token=token, body=body, timeout=30)


def test_creates_raced_through_two_app_servers_keep_every_guarantee(app_servers):
    node = factories.make_node()
    # 40 allocations for 8 servers of limit 6: both the limits and the pool run out.
    factories.make_pool(node, ip="127.0.0.1", ports=range(20000, 20040))
    servers = _servers_with_keys(node, 8, limit=6)
    with connection.cursor() as cursor:
        before = harness.baseline(cursor)
    first, second = app_servers(name="a"), app_servers(name="b")
    assert first.port != second.port and first.process.pid != second.process.pid

    # Each server asks 8 times, half through each app server: 64 requests at once.
    tasks, whose = [], []
    for server, token in servers:
        for i in range(8):
            app = first if i % 2 == 0 else second
            tasks.append(_post(app.url, token, allocations_path(server.identifier)))
            whose.append((server, app.name))
    answers = run_together(tasks)

    statuses = Counter((a.status, a.code) for a in answers)
    allowed = {
        (200, None),
        (400, "TooManyAllocationsException"),
        (503, "NoAvailableAllocationsException"),
    }
    assert set(statuses) <= allowed, statuses
    assert all(a.status == 200 or a.is_envelope for a in answers)
    served_by = Counter(app for (_, app), a in zip(whose, answers, strict=True) if a.status == 200)
    assert served_by["a"] and served_by["b"], served_by  # both processes assigned some

    ledger = harness.Ledger()
    for (server, _), answer in zip(whose, answers, strict=True):
        if answer.status == 200:
            ledger.claimed(server.pk, answer.body["attributes"]["id"])
    with connection.cursor() as cursor:
        assert harness.invariant_violations(cursor) == []
        assert harness.ledger_violations(cursor, ledger) == []
        assert harness.activity_violations(cursor, before) == []
    won = sum(len(ids) for ids in ledger.held.values())
    assert won == statuses[200, None]
    for server, _ in servers:
        held = Allocation.objects.filter(server=server).count()
        assert held == 1 + len(ledger.held.get(server.pk, ()))  # its primary and what it won
        assert held <= server.allocation_limit
    # 40 in the pool, 8 primaries: the 32 others went, to exactly one server each.
    assert won == min(32, 8 * 5)
    assert not Allocation.objects.filter(node=node, server=None).exists()


def test_one_allocation_named_through_two_app_servers_goes_to_exactly_one(app_servers):
    node = factories.make_node()
    factories.make_pool(node, ip="127.0.0.1", ports=range(20000, 20020))
    servers = _servers_with_keys(node, 10, limit=5)
    target = {"ip": "127.0.0.1", "port": 20015}
    first, second = app_servers(name="a"), app_servers(name="b")

    answers = run_together(
        [
            _post((first if i % 2 else second).url, token, allocations_path(s.identifier), target)
            for i, (s, token) in enumerate(servers)
        ]
    )

    statuses = Counter((a.status, a.code) for a in answers)
    assert statuses == {(200, None): 1, (409, "AllocationNotAvailableException"): 9}, statuses
    winner = next(s for (s, _), a in zip(servers, answers, strict=True) if a.status == 200)
    row = Allocation.objects.get(node=node, port=20015)
    assert row.server_id == winner.pk and not row.is_primary
    with connection.cursor() as cursor:
        assert harness.invariant_violations(cursor) == []
