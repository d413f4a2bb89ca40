"""`GET /api/client/servers/{server}` and `.../resources` (spec section 11): the list's item
with the caller's permissions, and the recorded power state; both answer for suspended and
installing servers."""

import json

import pytest

from allocations.models import Allocation
from tests import factories
from tests.api.conftest import NOT_FOUND, assert_error, bearer_client

pytestmark = pytest.mark.django_db


def detail_url(server_id: str) -> str:
    return f"/api/client/servers/{server_id}"


def resources_url(server_id: str) -> str:
    return f"/api/client/servers/{server_id}/resources"


def test_detail_for_the_owner_is_the_list_item_with_owner_meta(api, server):
    response = api.get(detail_url(server.identifier))

    assert response.status_code == 200
    body = response.json()
    listed = api.get("/api/client").json()["data"][0]
    assert {k: v for k, v in body.items() if k != "meta"} == listed
    assert body["meta"] == {"is_server_owner": True, "user_permissions": ["*"]}


def test_detail_for_a_superuser_on_anothers_server_grants_everything(server):
    admin = factories.make_user(is_superuser=True)

    body = bearer_client(factories.make_key(admin)).get(detail_url(server.identifier)).json()

    assert body["attributes"]["server_owner"] is False
    assert body["meta"] == {"is_server_owner": False, "user_permissions": ["*"]}


def test_detail_for_a_subuser_lists_their_permission_strings(server):
    user = factories.make_user()
    factories.make_subuser(server, user, ["control.stop", "allocation.read", "activity.read"])

    body = bearer_client(factories.make_key(user)).get(detail_url(server.identifier)).json()

    assert body["attributes"]["server_owner"] is False
    assert body["meta"] == {
        "is_server_owner": False,
        "user_permissions": ["activity.read", "allocation.read", "control.stop"],
    }


def test_detail_for_a_subuser_without_allocation_read_shows_only_the_primary_without_notes(
    server, second
):
    Allocation.objects.filter(server=server).update(notes="private")
    user = factories.make_user()
    factories.make_subuser(server, user, [])

    body = bearer_client(factories.make_key(user)).get(detail_url(server.identifier)).json()

    data = body["attributes"]["relationships"]["allocations"]["data"]
    assert [(a["attributes"]["port"], a["attributes"]["notes"]) for a in data] == [(25565, None)]
    assert body["meta"]["user_permissions"] == []


@pytest.mark.parametrize("form", ["identifier", "IDENTIFIER", "uuid", "UUID", "trailing/"])
def test_detail_by_identifier_or_uuid_in_any_case(api, server, form):
    value = {
        "identifier": server.identifier,
        "IDENTIFIER": server.identifier.upper(),
        "uuid": str(server.uuid),
        "UUID": str(server.uuid).upper(),
        "trailing/": server.identifier + "/",
    }[form]

    response = api.get(detail_url(value))

    assert response.status_code == 200, response.content
    assert response.json()["attributes"]["uuid"] == str(server.uuid)


@pytest.mark.parametrize("url", [detail_url, resources_url])
def test_another_users_server_is_the_same_404_as_none_at_all(stranger_api, server, url):
    theirs = stranger_api.get(url(server.identifier))
    nobody = stranger_api.get(url("ffffffff"))

    assert_error(theirs, 404, "NotFoundHttpException")
    assert theirs.content == nobody.content
    assert json.loads(theirs.content) == NOT_FOUND


@pytest.mark.parametrize("url", [detail_url, resources_url])
@pytest.mark.parametrize("value", ["abc", "ffffffff-ffff", "{" + "0" * 8 + "}", "0" * 9])
def test_a_malformed_server_id_is_404(api, server, url, value):
    assert_error(api.get(url(value)), 404, "NotFoundHttpException")


@pytest.mark.parametrize("status", ["suspended", "installing", "install_failed"])
def test_detail_answers_for_suspended_and_installing_servers(owner, api, status):
    server = factories.make_server(owner, status=status)

    response = api.get(detail_url(server.identifier))

    assert response.status_code == 200, response.content
    assert response.json()["attributes"]["status"] == status


@pytest.mark.parametrize("method", ["post", "delete", "put", "patch"])
def test_detail_serves_get_only(api, server, method):
    response = getattr(api, method)(detail_url(server.identifier))

    assert_error(response, 405, "MethodNotAllowedHttpException")


# --- resources --------------------------------------------------------------------------------


@pytest.mark.parametrize("state", ["offline", "starting", "running", "stopping"])
def test_resources_answers_the_recorded_power_state(owner, api, state):
    server = factories.make_server(owner, state=state)

    response = api.get(resources_url(server.identifier))

    assert response.status_code == 200
    assert response.json() == {
        "object": "stats",
        "attributes": {"current_state": state, "is_suspended": False},
    }


@pytest.mark.parametrize(
    ("status", "is_suspended"),
    [("suspended", True), ("installing", False), ("install_failed", False)],
)
def test_resources_answers_for_suspended_and_installing_servers(owner, api, status, is_suspended):
    server = factories.make_server(owner, status=status, state="running")

    response = api.get(resources_url(server.identifier))

    assert response.status_code == 200, response.content
    assert response.json()["attributes"] == {
        "current_state": "running",
        "is_suspended": is_suspended,
    }


def test_resources_is_open_to_any_subuser(server):
    user = factories.make_user()
    factories.make_subuser(server, user, [])

    response = bearer_client(factories.make_key(user)).get(resources_url(server.identifier))

    assert response.status_code == 200
    assert response.json()["attributes"]["current_state"] == "offline"
