"""The real `py-dactyl` client (2.1.3) against the real API, served over HTTP by
`live_server`: the five network calls, their answers, the database after each, and how our
error envelope reaches a py-dactyl user.

py-dactyl turns a 400 or 422 into `PterodactylApiError("API Request resulted in errors:
<errors list>")` and any other error status into `requests.HTTPError` (via
`raise_for_status`); a 204 (empty JSON) comes back as the `requests.Response` itself.

Every pool here is on 10.0.0.1: it is only data, nothing ever connects to it."""

import pytest
import requests
from pydactyl import PterodactylClient
from pydactyl.exceptions import PterodactylApiError, PydactylError

from allocations.models import Allocation
from panel.models import ActivityEntry
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


def _errors_message(code: str, status: str, detail: str) -> str:
    """py-dactyl's exception text for our envelope: the `errors` list's repr, so this also
    pins the key order of the entry (code, status, detail)."""
    return "API Request resulted in errors: " + repr(
        [{"code": code, "status": status, "detail": detail}]
    )


@pytest.fixture
def owner():
    return factories.make_user("pydactyl-owner")


@pytest.fixture
def server(owner):
    """Offline, active, limit 3; primary 10.0.0.1:25565 of a pool of 25565-25569."""
    return factories.make_server(owner, limit=3, ports=range(25565, 25570))


@pytest.fixture
def pydactyl_network(live_server):
    """Makes py-dactyl's client network API for a key, as its users reach it. Each client's
    HTTP session is closed at teardown: a kept-alive connection would leave a live-server
    thread holding the (shared, in-memory SQLite) database connection past the test."""
    clients = []

    def make(token: str):
        client = PterodactylClient(live_server.url, token)
        client._session.trust_env = False  # no proxy from the environment: loopback only
        clients.append(client)
        return client.client.servers.network

    yield make
    for client in clients:
        client._session.close()


@pytest.fixture
def owner_token(owner):
    return factories.make_key(owner)


@pytest.fixture
def network(pydactyl_network, owner_token):
    """The owner's py-dactyl network API."""
    return pydactyl_network(owner_token)


def _held(server) -> list[tuple[int, bool, str | None]]:
    return list(
        Allocation.objects.filter(server=server)
        .order_by("port")
        .values_list("port", "is_primary", "notes")
    )


def test_the_live_server_listens_on_loopback_only(live_server):
    assert live_server.thread.host in ("localhost", "127.0.0.1")
    assert live_server.thread.httpd.server_address[0] == "127.0.0.1"


def test_pydactyl_round_trip_of_the_five_network_calls(network, server, owner, owner_token):
    primary = Allocation.objects.get(server=server, is_primary=True)

    listed = network.list_allocations(server.identifier)
    assert listed == {
        "object": "list",
        "data": [
            {
                "object": "allocation",
                "attributes": {
                    "id": primary.id,
                    "ip": "10.0.0.1",
                    "ip_alias": None,
                    "port": 25565,
                    "notes": None,
                    "is_default": True,
                },
            }
        ],
    }

    # py-dactyl POSTs no body at all (Content-Type: application/json): the next available.
    assigned = network.assign_allocation(server.identifier)
    assert assigned["object"] == "allocation"
    attrs = assigned["attributes"]
    assert list(attrs) == ["id", "ip", "ip_alias", "port", "notes", "is_default"]
    assert (attrs["ip"], attrs["port"], attrs["notes"], attrs["is_default"]) == (
        "10.0.0.1",
        25566,
        None,
        False,
    )
    new_id = attrs["id"]
    assert _held(server) == [(25565, True, None), (25566, False, None)]

    noted = network.set_allocation_note(server.identifier, new_id, "  Query port  ")
    assert noted["attributes"] == {**attrs, "notes": "Query port"}
    assert Allocation.objects.get(pk=new_id).notes == "Query port"

    made_primary = network.set_primary_allocation(server.identifier, new_id)
    assert made_primary["attributes"] == {**attrs, "notes": "Query port", "is_default": True}
    assert _held(server) == [(25565, False, None), (25566, True, "Query port")]

    removed = network.unassign_allocation(server.identifier, primary.id)
    assert isinstance(removed, requests.Response)
    assert removed.status_code == 204
    assert removed.content == b""
    assert _held(server) == [(25566, True, "Query port")]
    primary.refresh_from_db()
    assert (primary.server_id, primary.notes, primary.is_primary) == (None, None, False)

    listed = network.list_allocations(server.identifier)
    assert [a["attributes"]["id"] for a in listed["data"]] == [new_id]
    entries = ActivityEntry.objects.filter(server=server).order_by("id")
    assert [(e.event, e.properties["allocation"]) for e in entries] == [
        ("server:allocation.create", "10.0.0.1:25566"),
        ("server:allocation.notes", "10.0.0.1:25566"),
        ("server:allocation.primary", "10.0.0.1:25566"),
        ("server:allocation.delete", "10.0.0.1:25565"),
    ]
    # Each written by the owner, through this key (its public identifier), from loopback.
    assert {(e.actor_id, e.api_key_identifier, e.ip) for e in entries} == {
        (owner.pk, owner_token[:16], "127.0.0.1")
    }


@pytest.mark.parametrize("case", ["lower", "upper"])
def test_pydactyl_reaches_the_server_by_its_full_uuid(network, server, case):
    server_uuid = str(server.uuid).upper() if case == "upper" else str(server.uuid)

    assigned = network.assign_allocation(server_uuid)
    new_id = assigned["attributes"]["id"]
    assert network.list_allocations(server_uuid)["data"][1]["attributes"]["id"] == new_id
    noted = network.set_allocation_note(server_uuid, new_id, "by uuid")
    assert noted["attributes"]["notes"] == "by uuid"
    assert network.set_primary_allocation(server_uuid, new_id)["attributes"]["is_default"]
    old_primary = Allocation.objects.get(server=server, port=25565)
    assert network.unassign_allocation(server_uuid, old_primary.id).status_code == 204
    assert _held(server) == [(25566, True, "by uuid")]


def test_pydactyl_raises_its_api_error_carrying_our_envelope_at_the_allocation_limit(
    network, server
):
    network.assign_allocation(server.identifier)
    network.assign_allocation(server.identifier)
    assert len(_held(server)) == 3  # the limit

    with pytest.raises(PterodactylApiError) as raised:
        network.assign_allocation(server.identifier)

    assert isinstance(raised.value, PydactylError)
    assert str(raised.value) == _errors_message(
        "TooManyAllocationsException", "400", "This server has reached its allocation limit."
    )
    assert len(_held(server)) == 3


def test_pydactyl_raises_its_api_error_carrying_our_envelope_on_delete_of_the_primary(
    network, server
):
    primary = Allocation.objects.get(server=server, is_primary=True)

    with pytest.raises(PterodactylApiError) as raised:
        network.unassign_allocation(server.identifier, primary.id)

    assert str(raised.value) == _errors_message(
        "CannotDeletePrimaryAllocationException",
        "400",
        "Cannot remove the primary allocation. Set another allocation as primary first.",
    )
    assert _held(server) == [(25565, True, None)]


def test_pydactyl_raises_its_api_error_carrying_our_envelope_for_a_too_long_note(network, server):
    primary = Allocation.objects.get(server=server, is_primary=True)

    with pytest.raises(PterodactylApiError) as raised:
        network.set_allocation_note(server.identifier, primary.id, "x" * 256)

    assert str(raised.value) == "API Request resulted in errors: " + repr(
        [
            {
                "code": "ValidationException",
                "status": "422",
                "detail": "The notes may not be greater than 255 characters.",
                "meta": {"source_field": "notes", "rule": "max"},
            }
        ]
    )
    primary.refresh_from_db()
    assert primary.notes is None


def test_pydactyl_raises_its_api_error_when_the_running_server_changes_primary(network, server):
    assigned = network.assign_allocation(server.identifier)["attributes"]
    server.state = "running"
    server.save(update_fields=["state"])

    with pytest.raises(PterodactylApiError) as raised:
        network.set_primary_allocation(server.identifier, assigned["id"])

    assert str(raised.value) == _errors_message(
        "ConflictingServerStateException",
        "400",
        "Server must be stopped to change the primary allocation.",
    )
    assert _held(server) == [(25565, True, None), (25566, False, None)]


def test_pydactyl_raises_http_error_carrying_our_envelope_when_the_pool_is_empty(network, owner):
    # Limit 5 but a pool of one port: the next assign finds nothing free on the node.
    lonely = factories.make_server(owner, limit=5, ports=[25565])

    with pytest.raises(requests.HTTPError) as raised:
        network.assign_allocation(lonely.identifier)

    response = raised.value.response
    assert response.status_code == 503
    assert response.json() == {
        "errors": [
            {
                "code": "NoAvailableAllocationsException",
                "status": "503",
                "detail": "No available allocations found on this node.",
            }
        ]
    }
    assert _held(lonely) == [(25565, True, None)]


def test_pydactyl_raises_http_error_with_the_404_envelope_for_another_users_server(network, server):
    stranger_server = factories.make_server(factories.make_user("stranger"))

    with pytest.raises(requests.HTTPError) as raised:
        network.list_allocations(stranger_server.identifier)

    response = raised.value.response
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NotFoundHttpException"


def test_pydactyl_with_a_bad_key_raises_http_error_with_the_401_envelope(pydactyl_network, server):
    network = pydactyl_network("ptlc_" + "x" * 43)

    with pytest.raises(requests.HTTPError) as raised:
        network.list_allocations(server.identifier)

    response = raised.value.response
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert response.json()["errors"][0]["code"] == "InvalidCredentialsException"
