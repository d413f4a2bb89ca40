"""Section 5, order of checks: each adjacent pair proven by a request that fails both, the
earlier check answering."""

import pytest
from rest_framework.test import APIClient

from allocations.models import Allocation
from servers.models import Server
from tests import factories
from tests.api.conftest import NOT_FOUND, assert_error, bearer_client, snapshot
from tests.conftest import allocations_url

pytestmark = pytest.mark.usefixtures("frozen_window")

BAD_KEY = "ptlc_" + "A" * 11 + "B" * 32
UNKNOWN = "/api/client/servers/ffffffff/network/allocations"


def _exhaust_auth_failures(settings, remote="127.0.0.1", limit=2):
    settings.PANEL_AUTH_FAILURE_RATE = f"{limit}/min"
    for _ in range(limit):
        response = bearer_client(BAD_KEY).get(UNKNOWN, REMOTE_ADDR=remote)
        assert_error(response, 401, "InvalidCredentialsException")


def _csrf_session_client(user) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(user)
    return client


# --- method -> failed-auth limit -> credentials -----------------------------------------------


def test_405_beats_401(server):
    for client in (APIClient(), bearer_client(BAD_KEY)):
        response = client.put(allocations_url(server), {}, format="json")
        assert_error(response, 405, "MethodNotAllowedHttpException")
        response = client.patch(UNKNOWN)
        assert_error(response, 405, "MethodNotAllowedHttpException")


def test_405_beats_the_failed_auth_limit(server, settings):
    _exhaust_auth_failures(settings)
    response = bearer_client(BAD_KEY).put(allocations_url(server), REMOTE_ADDR="127.0.0.1")
    assert_error(response, 405, "MethodNotAllowedHttpException")


def test_failed_auth_limit_beats_401(server, settings):
    _exhaust_auth_failures(settings)
    response = bearer_client(BAD_KEY).get(allocations_url(server), REMOTE_ADDR="127.0.0.1")
    assert_error(response, 429, "TooManyRequestsHttpException")


def test_failed_auth_limit_only_for_requests_that_carry_credentials(server, settings):
    _exhaust_auth_failures(settings)
    response = APIClient().get(allocations_url(server), REMOTE_ADDR="127.0.0.1")
    assert_error(response, 401, "InvalidCredentialsException")


def test_failed_auth_limit_applies_to_a_session_too(owner, server, settings):
    _exhaust_auth_failures(settings)
    client = APIClient()
    client.force_login(owner)
    response = client.get(allocations_url(server), REMOTE_ADDR="127.0.0.1")
    assert_error(response, 429, "TooManyRequestsHttpException")


def test_401_beats_404(server):
    for client in (APIClient(), bearer_client(BAD_KEY)):
        assert_error(client.get(UNKNOWN), 401, "InvalidCredentialsException")
        assert_error(
            client.delete(allocations_url(server, 987654)), 401, "InvalidCredentialsException"
        )


def test_401_beats_the_allowed_ips(owner, server):
    """An expired key whose allowed IPs also exclude the caller: the key is judged first."""
    from datetime import timedelta

    from django.utils import timezone

    token = factories.make_key(
        owner, allowed_ips=["192.0.2.1"], expires_at=timezone.now() - timedelta(seconds=1)
    )
    response = bearer_client(token).get(allocations_url(server), REMOTE_ADDR="127.0.0.1")
    assert_error(response, 401, "InvalidCredentialsException")


# --- allowed IPs -> CSRF -> user rate -> server -------------------------------------------------


def test_allowed_ips_403_beats_404(owner):
    client = bearer_client(factories.make_key(owner, allowed_ips=["192.0.2.0/24"]))
    response = client.get(UNKNOWN, REMOTE_ADDR="127.0.0.1")
    body = assert_error(response, 403, "InsufficientPermissionsException")
    assert "(127.0.0.1)" in body["errors"][0]["detail"]


def test_allowed_ips_403_beats_csrf(owner, server, second):
    """A session that would fail CSRF plus a key from a refused address: the key decides."""
    client = _csrf_session_client(owner)
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {factories.make_key(owner, allowed_ips=['192.0.2.1'])}"
    )
    response = client.post(
        allocations_url(server, second.id), {"notes": "x"}, format="json", REMOTE_ADDR="127.0.0.1"
    )
    body = assert_error(response, 403, "InsufficientPermissionsException")
    assert body["errors"][0]["detail"].startswith("This IP address (127.0.0.1)")


def test_allowed_ips_403_beats_the_user_rate(owner, server, settings):
    settings.PANEL_API_RATE = "1/min"
    assert bearer_client(factories.make_key(owner)).get(allocations_url(server)).status_code == 200
    client = bearer_client(factories.make_key(owner, allowed_ips=["192.0.2.1"]))
    response = client.get(allocations_url(server), REMOTE_ADDR="127.0.0.1")
    assert_error(response, 403, "InsufficientPermissionsException")


def test_csrf_403_beats_404(owner):
    client = _csrf_session_client(owner)
    for method in ("post", "delete"):
        response = getattr(client, method)(UNKNOWN + "/1")
        assert_error(
            response,
            403,
            "InsufficientPermissionsException",
            "CSRF verification failed. Reload the page and try again.",
        )
    response = client.post(UNKNOWN, {}, format="json")
    assert_error(response, 403, "InsufficientPermissionsException")


def test_csrf_403_beats_the_user_rate(owner, server, settings):
    settings.PANEL_API_RATE = "1/min"
    client = _csrf_session_client(owner)
    assert client.get(allocations_url(server)).status_code == 200
    assert_error(client.get(allocations_url(server)), 429, "TooManyRequestsHttpException")
    response = client.post(allocations_url(server), {}, format="json")
    assert_error(
        response,
        403,
        "InsufficientPermissionsException",
        "CSRF verification failed. Reload the page and try again.",
    )


def test_csrf_is_not_checked_for_safe_methods_or_keys(owner, server, owner_key):
    client = _csrf_session_client(owner)
    assert client.get(allocations_url(server)).status_code == 200
    keyed = bearer_client(owner_key, enforce_csrf_checks=True)
    assert keyed.post(allocations_url(server), {}, format="json").status_code == 200


def test_user_rate_429_beats_404(api, server, settings):
    settings.PANEL_API_RATE = "1/min"
    assert api.get(allocations_url(server)).status_code == 200
    assert_error(api.get(UNKNOWN), 429, "TooManyRequestsHttpException")


# --- server -> allocation -> status -> permission -> body -> endpoint rules -----------------


def test_404_bodies_are_byte_identical(api, owner, server, stranger):
    mine_elsewhere = factories.make_server(owner, node=server.node)
    others = factories.make_server(stranger)
    other_alloc = Allocation.objects.get(server=mine_elsewhere)
    foreign_alloc = Allocation.objects.get(server=others)
    free_alloc = Allocation.objects.filter(node=server.node, server__isnull=True).first()
    responses = [
        api.get(UNKNOWN),  # unknown server
        api.get(allocations_url(others)),  # someone else's server
        api.post(allocations_url(server, 987654), {}, format="json"),  # unknown allocation
        api.post(allocations_url(server, other_alloc.id)),  # another server's allocation
        api.post(allocations_url(server, foreign_alloc.id, "primary")),
        api.delete(allocations_url(server, free_alloc.id)),  # a free allocation of the node
    ]
    bodies = {r.content for r in responses}
    assert len(bodies) == 1
    for response in responses:
        assert_error(response, 404, "NotFoundHttpException")
        assert response.json() == NOT_FOUND


def test_server_404_beats_status_400(api, stranger):
    others = factories.make_server(stranger, status="suspended")
    assert_error(api.get(allocations_url(others)), 404, "NotFoundHttpException")
    installing = factories.make_server(stranger, status="installing")
    assert_error(api.post(allocations_url(installing)), 404, "NotFoundHttpException")


def test_allocation_404_beats_status_400(api, server):
    Server.objects.filter(pk=server.pk).update(status="suspended")
    for method, parts in (("post", (987654,)), ("delete", (987654,)), ("post", (98765, "primary"))):
        response = getattr(api, method)(allocations_url(server, *parts))
        assert_error(response, 404, "NotFoundHttpException")
        assert response.json() == NOT_FOUND


def test_status_400_beats_permission_403(server):
    user = factories.make_user()
    factories.make_subuser(server, user, [])
    Server.objects.filter(pk=server.pk).update(status="suspended")
    client = bearer_client(factories.make_key(user))
    assert_error(
        client.get(allocations_url(server)),
        400,
        "ConflictingServerStateException",
        "This server is suspended.",
    )
    primary = Allocation.objects.get(server=server)
    assert_error(
        client.delete(allocations_url(server, primary.id)), 400, "ConflictingServerStateException"
    )


@pytest.mark.parametrize(
    "raw,content_type",
    [
        (b'{"port": "x"}', "application/json"),
        (b"[]", "application/json"),
        (b"{oops", "application/json"),
        (b"port=1", "text/plain"),
    ],
)
def test_permission_403_beats_the_body(server, second, raw, content_type):
    user = factories.make_user()
    factories.make_subuser(server, user, ["allocation.read", "allocation.delete"])
    client = bearer_client(factories.make_key(user))
    before = snapshot()
    for url in (allocations_url(server), allocations_url(server, second.id)):
        response = client.post(url, raw, content_type=content_type)
        assert_error(
            response,
            403,
            "InsufficientPermissionsException",
            "You do not have permission to perform this action.",
        )
    assert snapshot() == before


@pytest.mark.parametrize(
    "raw,content_type,status,code",
    [
        (b'{"port": "25570"}', "application/json", 422, "ValidationException"),
        (b'{"ip": 5}', "application/json", 422, "ValidationException"),
        (b"[1]", "application/json", 422, "ValidationException"),
        (b'{"port":', "application/json", 400, "BadRequestHttpException"),
        (b"port=25570", "text/plain", 415, "UnsupportedMediaTypeHttpException"),
    ],
)
def test_body_beats_too_many_allocations(api, owner, raw, content_type, status, code):
    full = factories.make_server(owner, limit=1)
    response = api.post(allocations_url(full), raw, content_type=content_type)
    assert_error(response, status, code)


def test_body_beats_allocation_not_available(api, server):
    response = api.post(allocations_url(server), {"ip": "192.0.2.1", "port": 0}, format="json")
    body = assert_error(response, 422, "ValidationException")
    assert body["errors"][0]["meta"] == {"source_field": "port", "rule": "between"}


def test_too_many_allocations_beats_allocation_not_available(api, owner):
    full = factories.make_server(owner, limit=1)
    response = api.post(allocations_url(full), {"ip": "192.0.2.1", "port": 1}, format="json")
    assert_error(response, 400, "TooManyAllocationsException")


def test_primary_state_is_checked_before_already_primary(api, server):
    Server.objects.filter(pk=server.pk).update(state="running")
    primary = Allocation.objects.get(server=server, is_primary=True)
    response = api.post(allocations_url(server, primary.id, "primary"))
    assert_error(
        response,
        400,
        "ConflictingServerStateException",
        "Server must be stopped to change the primary allocation.",
    )


def test_delete_primary_is_checked_before_the_state(api, server):
    Server.objects.filter(pk=server.pk).update(state="running")
    primary = Allocation.objects.get(server=server, is_primary=True)
    assert_error(
        api.delete(allocations_url(server, primary.id)),
        400,
        "CannotDeletePrimaryAllocationException",
    )
