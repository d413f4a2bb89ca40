"""Real races over the HTTP API against PostgreSQL: many requests released at once.

The guarantees under test (spec section 7): no server ever holds more than its limit, no
allocation is ever held by two servers, and one exact allocation goes to exactly one of the
requests naming it."""

from collections import Counter

import pytest

from allocations.models import Allocation
from allocations.services import allocation_assign
from panel.activity import Actor
from tests import factories
from tests.concurrency.race import api_call, primaries_of, run_together
from tests.conftest import allocations_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _user():
    # No password: hashing one per user would cost most of a second each.
    return factories.make_user(password=None)


def test_fifty_simultaneous_creates_at_limit_minus_one_let_exactly_one_through():
    owner = _user()
    server = factories.make_server(owner, limit=5, ports=range(25565, 25575))
    for _ in range(3):
        allocation_assign(server=server, actor=Actor(user=owner))
    assert Allocation.objects.filter(server=server).count() == server.allocation_limit - 1
    key = factories.make_key(owner)

    answers = run_together([api_call(key, "post", allocations_url(server)) for _ in range(50)])

    assert Counter(a.status for a in answers) == {200: 1, 400: 49}
    assert {a.code for a in answers if a.status == 400} == {"TooManyAllocationsException"}
    assert Allocation.objects.filter(server=server).count() == server.allocation_limit
    winner = next(a for a in answers if a.status == 200)
    assert Allocation.objects.get(pk=winner.body["attributes"]["id"]).server_id == server.pk
    assert primaries_of(server) == 1


def test_forty_servers_racing_for_ten_free_allocations_get_ten_distinct_ones():
    node = factories.make_node()
    factories.make_pool(node, ports=range(25565, 25615))  # 50: 40 primaries + 10 free
    servers = [factories.make_server(_user(), node=node, limit=3) for _ in range(40)]
    free_ids = set(Allocation.objects.filter(node=node, server=None).values_list("id", flat=True))
    assert len(free_ids) == 10
    keys = [factories.make_key(s.owner) for s in servers]

    answers = run_together(
        [api_call(k, "post", allocations_url(s)) for s, k in zip(servers, keys, strict=True)]
    )

    assert Counter(a.status for a in answers) == {200: 10, 503: 30}
    assert {a.code for a in answers if a.status == 503} == {"NoAvailableAllocationsException"}
    won = {
        s.pk: a.body["attributes"]["id"]
        for s, a in zip(servers, answers, strict=True)
        if a.status == 200
    }
    assert len(set(won.values())) == 10
    assert set(won.values()) == free_ids
    # In the database: each of the ten is held by the server whose request answered 200 for
    # it, nothing is left free, and no server holds more than its primary plus what it won.
    holders = dict(Allocation.objects.filter(pk__in=free_ids).values_list("id", "server_id"))
    assert holders == {allocation_id: server_id for server_id, allocation_id in won.items()}
    assert not Allocation.objects.filter(node=node, server=None).exists()
    for server in servers:
        held = Allocation.objects.filter(server=server).count()
        assert held == (2 if server.pk in won else 1)
        assert primaries_of(server) == 1


def test_two_servers_naming_the_same_allocation_get_one_200_and_one_409():
    node = factories.make_node()
    factories.make_pool(node, ports=range(25565, 25585))
    first = factories.make_server(_user(), node=node, limit=20)
    second = factories.make_server(_user(), node=node, limit=20)
    first_key, second_key = factories.make_key(first.owner), factories.make_key(second.owner)

    # Several rounds, each on another port, so the requests really overlap at least once.
    for port in range(25570, 25580):
        body = {"ip": "10.0.0.1", "port": port}
        answers = run_together(
            [
                api_call(first_key, "post", allocations_url(first), body),
                api_call(second_key, "post", allocations_url(second), body),
            ]
        )

        assert sorted(a.status for a in answers) == [200, 409], answers
        winner, loser = sorted(answers, key=lambda a: a.status)
        assert loser.code == "AllocationNotAvailableException"
        assert winner.body["attributes"]["port"] == port
        winning_server = first if answers[0] is winner else second
        row = Allocation.objects.get(node=node, port=port)
        assert row.server_id == winning_server.pk
        assert row.pk == winner.body["attributes"]["id"]
    assert primaries_of(first) == 1
    assert primaries_of(second) == 1
