"""The real `py-dactyl` client (2.1.3) against `live_server` for the calls beyond the network
endpoints: `client.servers.list_servers()` (with its page-following `collect()`),
`get_server()`, `get_server_utilization()`, `send_power_action()`, `list_permissions()` and
the account key calls. Loopback only; every pool is data nothing connects to."""

import pytest
import requests
from pydactyl import PterodactylClient
from pydactyl.exceptions import PterodactylApiError
from pydactyl.responses import PaginatedResponse

from panel.models import ApiKey
from servers.models import Server
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def pydactyl(live_server):
    """Makes a py-dactyl client for a key. Each HTTP session is closed at teardown so no
    live-server thread keeps the database connection past the test."""
    clients = []

    def make(token: str) -> PterodactylClient:
        client = PterodactylClient(live_server.url, token)
        client._session.trust_env = False  # no proxy from the environment: loopback only
        clients.append(client)
        return client

    yield make
    for client in clients:
        client._session.close()


@pytest.fixture
def owner():
    return factories.make_user("pydactyl-servers-owner")


@pytest.fixture
def server(owner):
    return factories.make_server(owner, name="Live one", ports=range(25565, 25568))


@pytest.fixture
def owner_token(owner):
    return factories.make_key(owner, description="py-dactyl")


@pytest.fixture
def client(pydactyl, owner_token):
    return pydactyl(owner_token)


def _state(server) -> str:
    return Server.objects.values_list("state", flat=True).get(pk=server.pk)


def test_list_servers_answers_a_paginated_response_of_the_callers_servers(client, owner, server):
    shared = factories.make_server(factories.make_user(), name="Shared with me")
    factories.make_subuser(shared, owner, ["control.start"])
    factories.make_server(factories.make_user(), name="Not mine")

    listed = client.client.servers.list_servers()

    assert isinstance(listed, PaginatedResponse)
    assert len(listed) == 2  # py-dactyl reads meta.pagination.total
    assert [s["attributes"]["identifier"] for s in listed.data] == [
        server.identifier,
        shared.identifier,
    ]
    assert [s["attributes"]["server_owner"] for s in listed.data] == [True, False]
    assert listed.get_next_page_link() is None


def test_list_servers_collect_follows_the_next_links_across_pages(client, owner):
    # py-dactyl asks for the next page with `page` alone, so past the default 50 a page.
    made = [factories.make_server(owner, name=f"s{i:02}", ports=[25565]) for i in range(51)]

    listed = client.client.servers.list_servers()

    assert len(listed.data) == 50
    assert listed.get_next_page_link().endswith("page=2")
    collected = listed.collect()
    assert [s["attributes"]["identifier"] for s in collected] == [s.identifier for s in made]


def test_list_servers_with_a_filter_and_per_page(client, owner, server):
    factories.make_server(owner, name="Other", ports=[30000])

    listed = client.client.servers.list_servers(params={"filter[*]": "live", "per_page": 1})

    assert [s["attributes"]["name"] for s in listed.data] == ["Live one"]
    assert listed.meta["pagination"]["per_page"] == 1


def test_get_server_answers_the_attributes_and_with_detail_the_meta(client, server):
    attrs = client.client.servers.get_server(server.identifier)

    assert attrs["uuid"] == str(server.uuid)
    assert attrs["feature_limits"]["allocations"] == 5
    assert attrs["relationships"]["allocations"]["data"][0]["attributes"]["port"] == 25565
    detail = client.client.servers.get_server(str(server.uuid).upper(), detail=True)
    assert detail["meta"] == {"is_server_owner": True, "user_permissions": ["*"]}


def test_get_server_of_another_user_raises_http_error_404(client):
    theirs = factories.make_server(factories.make_user())

    with pytest.raises(requests.HTTPError) as raised:
        client.client.servers.get_server(theirs.identifier)

    assert raised.value.response.status_code == 404
    assert raised.value.response.json()["errors"][0]["code"] == "NotFoundHttpException"


def test_send_power_action_changes_the_recorded_state(client, server):
    servers = client.client.servers

    started = servers.send_power_action(server.identifier, "start")

    assert isinstance(started, requests.Response)
    assert started.status_code == 204
    assert _state(server) == "running"
    assert servers.get_server_utilization(server.identifier)["current_state"] == "running"
    assert servers.send_power_action(server.identifier, "kill").status_code == 204
    assert _state(server) == "offline"
    assert servers.get_server_utilization(server.identifier) == {
        "current_state": "offline",
        "is_suspended": False,
    }


def test_send_power_action_without_the_permission_raises_http_error_403(pydactyl, server):
    user = factories.make_user()
    factories.make_subuser(server, user, ["control.start"])
    servers = pydactyl(factories.make_key(user)).client.servers

    assert servers.send_power_action(server.identifier, "start").status_code == 204
    with pytest.raises(requests.HTTPError) as raised:
        servers.send_power_action(server.identifier, "stop")

    assert raised.value.response.status_code == 403
    assert raised.value.response.json()["errors"][0]["code"] == "InsufficientPermissionsException"
    assert _state(server) == "running"


def test_send_power_action_on_a_suspended_server_raises_the_api_error(client, owner):
    suspended = factories.make_server(owner, status="suspended")

    with pytest.raises(PterodactylApiError) as raised:
        client.client.servers.send_power_action(suspended.identifier, "start")

    assert str(raised.value) == "API Request resulted in errors: " + repr(
        [
            {
                "code": "ConflictingServerStateException",
                "status": "400",
                "detail": "This server is suspended.",
            }
        ]
    )
    assert _state(suspended) == "offline"


def test_list_permissions_answers_the_groups(client):
    permissions = client.client.servers.list_permissions()

    assert permissions["object"] == "system_permissions"
    assert "start" in permissions["attributes"]["permissions"]["control"]["keys"]


def test_account_key_round_trip(pydactyl, client, owner, owner_token, server):
    account = client.client.account

    listed = account.api_key_list()
    assert [k["identifier"] for k in listed] == [owner_token[:16]]

    created = account.api_key_create("made by py-dactyl", ["127.0.0.1"])
    identifier = created["attributes"]["identifier"]
    assert created["attributes"]["allowed_ips"] == ["127.0.0.1"]
    new_token = identifier + created["meta"]["secret_token"]
    assert ApiKey.objects.get(identifier=identifier).description == "made by py-dactyl"

    new_client = pydactyl(new_token)
    assert len(new_client.client.servers.list_servers()) == 1
    listed = account.api_key_list()
    assert [k["identifier"] for k in listed] == [owner_token[:16], identifier]
    assert all(created["meta"]["secret_token"] not in str(k) for k in listed)

    deleted = account.api_key_delete(identifier)
    assert isinstance(deleted, requests.Response)
    assert deleted.status_code == 204
    with pytest.raises(requests.HTTPError) as raised:
        new_client.client.servers.list_servers()
    assert raised.value.response.status_code == 401


def test_account_key_create_at_the_cap_raises_the_api_error(client, owner):
    for _ in range(24):
        factories.make_key(owner)

    with pytest.raises(PterodactylApiError) as raised:
        client.client.account.api_key_create("the 26th", [])

    assert "DisplayException" in str(raised.value)
    assert ApiKey.objects.filter(user=owner).count() == 25


def test_account_key_delete_of_an_unknown_key_raises_http_error_404(client):
    with pytest.raises(requests.HTTPError) as raised:
        client.client.account.api_key_delete("ptlc_AAAAAAAAAAA")

    assert raised.value.response.status_code == 404
