"""Section 7, set primary and delete: the stopped-server rules, their order, and the pool."""

import pytest

from allocations.models import Allocation
from panel.models import ActivityEntry
from servers.models import Server
from tests import factories
from tests.api.conftest import assert_error, snapshot
from tests.conftest import allocations_url

RUNNING_STATES = ["starting", "running", "stopping"]


def _primary(server) -> Allocation:
    return Allocation.objects.get(server=server, is_primary=True)


# --- set primary ----------------------------------------------------------------------------


def test_set_primary_moves_the_flag_in_one_step(api, server, second):
    old = _primary(server)
    response = api.post(allocations_url(server, second.id, "primary"))
    assert response.status_code == 200
    attrs = response.json()["attributes"]
    assert attrs["id"] == second.id
    assert attrs["is_default"] is True
    assert _primary(server).pk == second.pk
    old.refresh_from_db()
    assert old.is_primary is False
    assert old.server_id == server.pk
    flags = {
        a["attributes"]["id"]: a["attributes"]["is_default"]
        for a in api.get(allocations_url(server)).json()["data"]
    }
    assert flags == {old.id: False, second.id: True}


def test_set_primary_keeps_the_notes(api, server, second):
    Allocation.objects.filter(pk=second.pk).update(notes="keep")
    response = api.post(allocations_url(server, second.id, "primary"))
    assert response.json()["attributes"]["notes"] == "keep"


def test_already_primary_is_200_and_changes_nothing(api, server):
    primary = _primary(server)
    before = snapshot()
    response = api.post(allocations_url(server, primary.id, "primary"))
    assert response.status_code == 200
    assert response.json()["attributes"]["is_default"] is True
    assert response.json()["attributes"]["id"] == primary.id
    assert snapshot() == before
    assert not ActivityEntry.objects.exists()


@pytest.mark.parametrize("state", RUNNING_STATES)
def test_set_primary_needs_an_offline_server(api, server, second, state):
    Server.objects.filter(pk=server.pk).update(state=state)
    before = snapshot()
    assert_error(
        api.post(allocations_url(server, second.id, "primary")),
        400,
        "ConflictingServerStateException",
        "Server must be stopped to change the primary allocation.",
    )
    assert snapshot() == before


@pytest.mark.parametrize("state", RUNNING_STATES)
def test_state_is_checked_even_when_already_primary(api, server, state):
    Server.objects.filter(pk=server.pk).update(state=state)
    assert_error(
        api.post(allocations_url(server, _primary(server).id, "primary")),
        400,
        "ConflictingServerStateException",
        "Server must be stopped to change the primary allocation.",
    )


def test_set_primary_and_back(api, server, second):
    first = _primary(server)
    assert api.post(allocations_url(server, second.id, "primary")).status_code == 200
    assert api.post(allocations_url(server, first.id, "primary")).status_code == 200
    assert _primary(server).pk == first.pk
    assert Allocation.objects.filter(server=server, is_primary=True).count() == 1


# --- delete ---------------------------------------------------------------------------------


def test_delete_answers_204_with_an_empty_body(api, server, second):
    response = api.delete(allocations_url(server, second.id))
    assert response.status_code == 204
    assert response.content == b""


def test_deleted_allocation_goes_back_to_the_pool_with_notes_cleared(api, server, second):
    Allocation.objects.filter(pk=second.pk).update(notes="gone soon")
    assert api.delete(allocations_url(server, second.id)).status_code == 204
    row = Allocation.objects.get(pk=second.pk)  # never deleted
    assert row.server_id is None
    assert row.notes is None
    assert row.is_primary is False
    ids = [a["attributes"]["id"] for a in api.get(allocations_url(server)).json()["data"]]
    assert second.id not in ids


def test_deleted_allocation_is_free_for_any_server_of_the_node(api, owner, server, second):
    assert api.delete(allocations_url(server, second.id)).status_code == 204
    other = factories.make_server(owner, node=server.node)  # takes the lowest free row
    assert other.allocations.get().pk == second.pk
    assert Allocation.objects.get(pk=second.pk).notes is None


def test_deleted_allocation_can_be_taken_back_by_ip_and_port(api, server, second):
    assert api.delete(allocations_url(server, second.id)).status_code == 204
    response = api.post(allocations_url(server), {"ip": "10.0.0.1", "port": 25566}, format="json")
    assert response.status_code == 200
    assert response.json()["attributes"]["id"] == second.id
    assert response.json()["attributes"]["notes"] is None


def test_deleting_twice_is_404(api, server, second):
    assert api.delete(allocations_url(server, second.id)).status_code == 204
    assert_error(api.delete(allocations_url(server, second.id)), 404, "NotFoundHttpException")


def test_delete_of_the_primary_is_refused(api, server, second):
    before = snapshot()
    assert_error(
        api.delete(allocations_url(server, _primary(server).id)),
        400,
        "CannotDeletePrimaryAllocationException",
        "Cannot remove the primary allocation. Set another allocation as primary first.",
    )
    assert snapshot() == before


@pytest.mark.parametrize("state", RUNNING_STATES)
def test_delete_needs_an_offline_server(api, server, second, state):
    Server.objects.filter(pk=server.pk).update(state=state)
    before = snapshot()
    assert_error(
        api.delete(allocations_url(server, second.id)),
        400,
        "ConflictingServerStateException",
        "Server must be stopped to remove allocations.",
    )
    assert snapshot() == before


@pytest.mark.parametrize("state", RUNNING_STATES)
def test_delete_primary_is_checked_before_the_state(api, server, state):
    Server.objects.filter(pk=server.pk).update(state=state)
    assert_error(
        api.delete(allocations_url(server, _primary(server).id)),
        400,
        "CannotDeletePrimaryAllocationException",
    )


def test_delete_the_old_primary_after_moving_it(api, server, second):
    old = _primary(server)
    assert api.post(allocations_url(server, second.id, "primary")).status_code == 200
    assert api.delete(allocations_url(server, old.id)).status_code == 204
    data = api.get(allocations_url(server)).json()["data"]
    assert [(a["attributes"]["id"], a["attributes"]["is_default"]) for a in data] == [
        (second.id, True)
    ]


def test_delete_frees_room_under_the_limit(api, owner):
    server = factories.make_server(owner, limit=2)
    created = api.post(allocations_url(server), {}, format="json").json()["attributes"]
    assert_error(
        api.post(allocations_url(server), {}, format="json"), 400, "TooManyAllocationsException"
    )
    assert api.delete(allocations_url(server, created["id"])).status_code == 204
    assert api.post(allocations_url(server), {}, format="json").status_code == 200
