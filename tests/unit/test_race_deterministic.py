"""The race between picking a free row and claiming it, forced without threads.

Another request claims the very row the service just picked, before the service's own claim
(a wrapper around `_pick` plays that other request). Whatever the database's locking, the
service must not assign the row twice. Runs on SQLite and PostgreSQL alike. The database's
own constraints, the last line of defence, are checked here too."""

import pytest
from django.db import IntegrityError, transaction

from allocations import services
from allocations.models import Allocation
from panel.models import ActivityEntry
from tests import factories
from tests.conftest import allocations_url

pytestmark = pytest.mark.django_db


@pytest.fixture
def thief(server):
    """Another server on the same node (it takes 25566 as its primary)."""
    return factories.make_server(factories.make_user(password=None), node=server.node)


@pytest.fixture
def steal_picks(monkeypatch, thief):
    """Make the next `times` picks lose their row to `thief` between pick and claim.
    Returns the list of rows stolen."""
    real_pick = services._pick
    stolen: list[int] = []
    budget = {"left": 0}

    def stealing_pick(**kwargs):
        row = real_pick(**kwargs)
        if budget["left"] > 0:
            budget["left"] -= 1
            Allocation.objects.filter(pk=row.pk).update(server=thief, notes=None)
            stolen.append(row.pk)
        return row

    def arm(times: int = 1) -> list[int]:
        budget["left"] = times
        monkeypatch.setattr(services, "_pick", stealing_pick)
        return stolen

    return arm


def _creates(server) -> int:
    return ActivityEntry.objects.filter(server=server, event="server:allocation.create").count()


@pytest.mark.parametrize(
    ("body", "stolen_port", "expected"),
    [
        ({}, 25567, ("10.0.0.1", 25568)),
        ({"ip": "10.0.0.1"}, 25567, ("10.0.0.1", 25568)),
        ({"port": 25570}, 25570, ("10.0.0.2", 25570)),
    ],
    ids=["next-available", "ip-only", "port-only"],
)
def test_assign_claims_another_free_row_when_its_pick_is_taken_first(
    api, server, thief, steal_picks, body, stolen_port, expected
):
    factories.make_pool(server.node, ip="10.0.0.2", ports=[25570])
    stolen = steal_picks(1)

    response = api.post(allocations_url(server), body, format="json")

    assert response.status_code == 200, response.content
    attrs = response.json()["attributes"]
    assert (attrs["ip"], attrs["port"]) == expected
    assert [Allocation.objects.get(pk=pk).port for pk in stolen] == [stolen_port]
    assert Allocation.objects.get(pk=stolen[0]).server_id == thief.pk
    assert Allocation.objects.get(pk=attrs["id"]).server_id == server.pk
    assert stolen[0] != attrs["id"]
    assert Allocation.objects.filter(server=server).count() == 2
    assert Allocation.objects.filter(server=thief).count() == 2
    assert Allocation.objects.filter(server=server, is_primary=True).count() == 1
    assert _creates(server) == 1


def test_assign_answers_409_when_the_named_row_is_taken_between_pick_and_claim(
    api, server, thief, steal_picks
):
    stolen = steal_picks(1)

    response = api.post(allocations_url(server), {"ip": "10.0.0.1", "port": 25570}, format="json")

    assert response.status_code == 409, response.content
    assert response.json()["errors"][0]["code"] == "AllocationNotAvailableException"
    row = Allocation.objects.get(node=server.node, port=25570)
    assert stolen == [row.pk]
    # The theft happened inside the failed request's transaction here, so it rolled back
    # with it; what matters is that our server never got the row.
    assert row.server_id != server.pk
    assert Allocation.objects.filter(server=server).count() == 1
    assert _creates(server) == 0


def test_assign_answers_503_when_every_free_row_is_taken_under_it(api, owner, monkeypatch):
    # Pool 25565-25568: our primary, the thief's primary, and two free rows.
    server = factories.make_server(owner, ports=range(25565, 25569))
    thief = factories.make_server(factories.make_user(password=None), node=server.node)
    real_pick = services._pick

    stolen = []

    def always_stealing_pick(**kwargs):
        row = real_pick(**kwargs)
        Allocation.objects.filter(pk=row.pk).update(server=thief, notes=None)
        stolen.append(row.pk)
        return row

    monkeypatch.setattr(services, "_pick", always_stealing_pick)

    response = api.post(allocations_url(server), {}, format="json")

    assert response.status_code == 503, response.content
    assert response.json()["errors"][0]["code"] == "NoAvailableAllocationsException"
    assert len(stolen) == 2
    assert Allocation.objects.filter(server=server).count() == 1
    assert _creates(server) == 0


def test_database_refuses_a_second_row_for_the_same_node_ip_and_port(server):
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.create(node=server.node, ip="10.0.0.1", port=25565)


def test_database_refuses_the_same_ipv6_address_spelled_differently(server):
    Allocation.objects.create(node=server.node, ip="::1", port=25565)
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.create(node=server.node, ip="0:0:0:0:0:0:0:1", port=25565)


def test_database_allows_the_same_ip_and_port_on_another_node(server):
    other = factories.make_node()
    Allocation.objects.create(node=other, ip="10.0.0.1", port=25565)
    assert Allocation.objects.filter(ip="10.0.0.1", port=25565).count() == 2


def test_database_refuses_a_second_primary_for_one_server(api, server):
    created = api.post(allocations_url(server), {}, format="json")
    assert created.status_code == 200
    second = created.json()["attributes"]["id"]

    # A bulk update skips every Python check: only the partial unique index stands in the way.
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.filter(pk=second).update(is_primary=True)

    assert Allocation.objects.filter(server=server, is_primary=True).count() == 1


def test_database_allows_one_primary_on_each_of_two_servers(server, thief):
    assert Allocation.objects.filter(is_primary=True).count() == 2


def test_database_refuses_a_primary_flag_on_a_free_row(server):
    free = Allocation.objects.filter(node=server.node, server=None).first()
    with pytest.raises(IntegrityError), transaction.atomic():
        Allocation.objects.filter(pk=free.pk).update(is_primary=True)
