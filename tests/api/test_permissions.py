"""Section 6: the owner and superusers do everything; a subuser exactly what their strings
allow; anyone else gets the 404 of a server that does not exist."""

import pytest

from allocations.models import Allocation
from tests import factories
from tests.api.conftest import NOT_FOUND, assert_error, bearer_client, snapshot
from tests.conftest import allocations_url

ENDPOINTS = {
    "list": ("allocation.read", "get", ()),
    "create": ("allocation.create", "post", ()),
    "notes": ("allocation.update", "post", ("ALLOC",)),
    "primary": ("allocation.update", "post", ("ALLOC", "primary")),
    "delete": ("allocation.delete", "delete", ("ALLOC",)),
}
SUCCESS = {"list": 200, "create": 200, "notes": 200, "primary": 200, "delete": 204}


def _call(client, server, alloc, endpoint):
    _, method, parts = ENDPOINTS[endpoint]
    parts = [alloc.id if p == "ALLOC" else p for p in parts]
    kwargs = {"format": "json"} if method == "post" else {}
    data = {"notes": "by test"} if endpoint == "notes" else {}
    if method == "post":
        return client.post(allocations_url(server, *parts), data, **kwargs)
    return getattr(client, method)(allocations_url(server, *parts))


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_owner_may_do_everything(api, server, second, endpoint):
    response = _call(api, server, second, endpoint)
    assert response.status_code == SUCCESS[endpoint], response.content


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_superuser_may_do_everything_on_anyones_server(server, second, endpoint):
    admin = factories.make_user(is_superuser=True)
    client = bearer_client(factories.make_key(admin))
    response = _call(client, server, second, endpoint)
    assert response.status_code == SUCCESS[endpoint], response.content


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_subuser_with_the_permission_may(server, second, endpoint):
    user = factories.make_user()
    factories.make_subuser(server, user, [ENDPOINTS[endpoint][0]])
    response = _call(bearer_client(factories.make_key(user)), server, second, endpoint)
    assert response.status_code == SUCCESS[endpoint], response.content


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_subuser_with_every_other_permission_may_not(server, second, endpoint):
    needed = ENDPOINTS[endpoint][0]
    others = [
        "allocation.read",
        "allocation.create",
        "allocation.update",
        "allocation.delete",
        "control.start",
        "activity.read",
    ]
    user = factories.make_user()
    factories.make_subuser(server, user, [p for p in others if p != needed])
    before = snapshot()
    response = _call(bearer_client(factories.make_key(user)), server, second, endpoint)
    assert_error(
        response,
        403,
        "InsufficientPermissionsException",
        "You do not have permission to perform this action.",
    )
    assert snapshot() == before


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize(
    "wildcard", ["*", "allocation.*", "allocation", "ALLOCATION.READ", "allocation.read ", "admin"]
)
def test_no_wildcards_or_lookalikes(server, second, endpoint, wildcard):
    user = factories.make_user()
    factories.make_subuser(server, user, [wildcard])
    response = _call(bearer_client(factories.make_key(user)), server, second, endpoint)
    assert_error(response, 403, "InsufficientPermissionsException")


def test_subuser_with_no_permissions_sees_the_server_but_may_do_nothing(server, second):
    user = factories.make_user()
    factories.make_subuser(server, user, [])
    client = bearer_client(factories.make_key(user))
    for endpoint in ENDPOINTS:
        assert_error(
            _call(client, server, second, endpoint), 403, "InsufficientPermissionsException"
        )


def test_subuser_permissions_of_another_server_do_not_count(server, second, owner):
    user = factories.make_user()
    other = factories.make_server(owner)
    factories.make_subuser(other, user, list(p for p, _, _ in ENDPOINTS.values()))
    client = bearer_client(factories.make_key(user))
    for endpoint in ENDPOINTS:
        response = _call(client, server, second, endpoint)
        assert_error(response, 404, "NotFoundHttpException")
        assert response.json() == NOT_FOUND


def test_malformed_permission_data_grants_nothing(server, second):
    user = factories.make_user()
    sub = factories.make_subuser(server, user, [])
    sub.permissions = {"allocation.read": True}
    sub.save()
    response = _call(bearer_client(factories.make_key(user)), server, second, "list")
    assert_error(response, 403, "InsufficientPermissionsException")


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
def test_stranger_gets_404_for_everything(server, second, stranger_api, endpoint):
    before = snapshot()
    response = _call(stranger_api, server, second, endpoint)
    assert_error(response, 404, "NotFoundHttpException")
    assert response.json() == NOT_FOUND
    assert snapshot() == before


def test_stranger_404_is_the_same_as_for_a_missing_server(server, stranger_api):
    theirs = stranger_api.get(allocations_url(server))
    missing = stranger_api.get("/api/client/servers/ffffffff/network/allocations")
    assert theirs.status_code == missing.status_code == 404
    assert theirs.content == missing.content


def test_a_subuser_may_act_on_its_allocations_only(server, second, owner):
    user = factories.make_user()
    factories.make_subuser(server, user, ["allocation.update"])
    other = factories.make_server(owner)
    other_row = Allocation.objects.get(server=other)
    response = bearer_client(factories.make_key(user)).post(
        allocations_url(server, other_row.id), {"notes": "x"}, format="json"
    )
    assert_error(response, 404, "NotFoundHttpException")
    assert Allocation.objects.get(pk=other_row.pk).notes is None


def test_removed_subuser_loses_access_at_once(server, second):
    user = factories.make_user()
    sub = factories.make_subuser(server, user, ["allocation.read"])
    client = bearer_client(factories.make_key(user))
    assert client.get(allocations_url(server)).status_code == 200
    sub.delete()
    assert_error(client.get(allocations_url(server)), 404, "NotFoundHttpException")


def test_inactive_superuser_is_401(server):
    admin = factories.make_user(is_superuser=True, is_active=False)
    client = bearer_client(factories.make_key(admin))
    assert_error(client.get(allocations_url(server)), 401, "InvalidCredentialsException")
