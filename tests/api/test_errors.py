"""Section 5: every error of the table, with its exact code, status and text."""

import json
from unittest import mock

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from allocations.models import Allocation
from servers.models import Server
from tests import factories
from tests.api.conftest import NOT_FOUND, assert_error, bearer_client
from tests.conftest import allocations_url


def test_too_many_allocations(api, owner):
    server = factories.make_server(owner, limit=1)
    response = api.post(allocations_url(server), {}, format="json")
    assert_error(
        response,
        400,
        "TooManyAllocationsException",
        "This server has reached its allocation limit.",
    )


def test_cannot_delete_primary(api, server):
    primary = Allocation.objects.get(server=server, is_primary=True)
    assert_error(
        api.delete(allocations_url(server, primary.id)),
        400,
        "CannotDeletePrimaryAllocationException",
        "Cannot remove the primary allocation. Set another allocation as primary first.",
    )


def test_primary_needs_a_stopped_server(api, server, second):
    Server.objects.filter(pk=server.pk).update(state="running")
    assert_error(
        api.post(allocations_url(server, second.id, "primary")),
        400,
        "ConflictingServerStateException",
        "Server must be stopped to change the primary allocation.",
    )


def test_delete_needs_a_stopped_server(api, server, second):
    Server.objects.filter(pk=server.pk).update(state="starting")
    assert_error(
        api.delete(allocations_url(server, second.id)),
        400,
        "ConflictingServerStateException",
        "Server must be stopped to remove allocations.",
    )


def test_suspended_server(api, server):
    Server.objects.filter(pk=server.pk).update(status="suspended")
    assert_error(
        api.get(allocations_url(server)),
        400,
        "ConflictingServerStateException",
        "This server is suspended.",
    )


@pytest.mark.parametrize("status", ["installing", "install_failed"])
def test_not_installed_server(api, server, status):
    Server.objects.filter(pk=server.pk).update(status=status)
    assert_error(
        api.get(allocations_url(server)),
        400,
        "ConflictingServerStateException",
        "This server has not completed its installation.",
    )


@pytest.mark.parametrize(
    "method,parts",
    [
        ("get", ()),
        ("post", ()),
        ("post", ("ID",)),
        ("post", ("ID", "primary")),
        ("delete", ("ID",)),
    ],
)
@pytest.mark.parametrize("status", ["suspended", "installing", "install_failed"])
def test_every_network_endpoint_refuses_an_unusable_server(
    api, server, second, method, parts, status
):
    Server.objects.filter(pk=server.pk).update(status=status)
    parts = [second.id if p == "ID" else p for p in parts]
    response = getattr(api, method)(allocations_url(server, *parts))
    assert_error(response, 400, "ConflictingServerStateException")


def test_malformed_json(api, server):
    response = api.post(allocations_url(server), b'{"ip": ', content_type="application/json")
    assert_error(
        response,
        400,
        "BadRequestHttpException",
        "The JSON data passed in the request appears to be malformed.",
    )


def test_missing_credentials(server):
    response = APIClient().get(allocations_url(server))
    assert_error(
        response,
        401,
        "InvalidCredentialsException",
        "The API credentials provided are missing or invalid.",
    )
    assert response["WWW-Authenticate"] == "Bearer"


def test_subuser_without_permission(server):
    user = factories.make_user()
    factories.make_subuser(server, user, ["allocation.create"])
    response = bearer_client(factories.make_key(user)).get(allocations_url(server))
    assert_error(
        response,
        403,
        "InsufficientPermissionsException",
        "You do not have permission to perform this action.",
    )


def test_ip_not_allowed(owner, server):
    client = bearer_client(factories.make_key(owner, allowed_ips=["192.0.2.0/24"]))
    response = client.get(allocations_url(server), REMOTE_ADDR="127.0.0.1")
    assert_error(
        response,
        403,
        "InsufficientPermissionsException",
        "This IP address (127.0.0.1) does not have permission to access the API using these "
        "credentials.",
    )


def test_ip_not_allowed_names_an_ipv6_caller_without_brackets(owner, server):
    client = bearer_client(factories.make_key(owner, allowed_ips=["192.0.2.1"]))
    response = client.get(allocations_url(server), REMOTE_ADDR="::1")
    assert_error(
        response,
        403,
        "InsufficientPermissionsException",
        "This IP address (::1) does not have permission to access the API using these credentials.",
    )


def test_csrf_failure(owner, server, second):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    response = client.post(allocations_url(server, second.id), {"notes": "x"}, format="json")
    assert_error(
        response,
        403,
        "InsufficientPermissionsException",
        "CSRF verification failed. Reload the page and try again.",
    )


def test_not_found(api):
    response = api.get("/api/client/servers/abcdef12/network/allocations")
    assert_error(
        response, 404, "NotFoundHttpException", "The requested resource could not be found."
    )
    assert json.loads(response.content) == NOT_FOUND


def test_method_not_allowed(api, server):
    assert_error(
        api.put(allocations_url(server), {}, format="json"),
        405,
        "MethodNotAllowedHttpException",
        "The requested method is not allowed on this resource.",
    )


def test_allocation_not_available(api, server):
    response = api.post(allocations_url(server), {"ip": "10.0.0.1", "port": 25565}, format="json")
    assert_error(
        response,
        409,
        "AllocationNotAvailableException",
        "The requested allocation is not available or already in use.",
    )


def test_unsupported_media_type(api, server):
    response = api.post(allocations_url(server), b"ip=1", content_type="text/plain")
    assert_error(
        response,
        415,
        "UnsupportedMediaTypeHttpException",
        "The request body must be JSON or a form.",
    )


def test_too_many_requests(api, server, settings, frozen_window):
    settings.PANEL_API_RATE = "1/min"
    assert api.get(allocations_url(server)).status_code == 200
    response = api.get(allocations_url(server))
    assert_error(
        response, 429, "TooManyRequestsHttpException", "Too many requests. Please slow down."
    )
    assert int(response["Retry-After"]) >= 1


def test_no_available_allocations(api, owner):
    server = factories.make_server(owner, ports=[25565])
    assert_error(
        api.post(allocations_url(server), {}, format="json"),
        503,
        "NoAvailableAllocationsException",
        "No available allocations found on this node.",
    )


SERVICE_UNAVAILABLE = "The service is temporarily unavailable, please try again."
SERVER_ERROR = (
    "An unexpected error was encountered while processing this request, please try again."
)


def test_database_unreachable_is_503(api, server):
    with mock.patch(
        "allocations.services.allocation_assign",
        side_effect=OperationalError("could not connect to server: password=hunter2"),
    ):
        response = api.post(allocations_url(server), {}, format="json")
    body = assert_error(response, 503, "ServiceUnavailableHttpException", SERVICE_UNAVAILABLE)
    assert "hunter2" not in json.dumps(body)


def test_database_error_during_a_read_is_503(api, server):
    with mock.patch(
        "allocations.api.views.allocation_rows_for_server",
        side_effect=OperationalError("canceling statement due to lock timeout"),
    ):
        response = api.get(allocations_url(server))
    assert_error(response, 503, "ServiceUnavailableHttpException", SERVICE_UNAVAILABLE)


@pytest.mark.parametrize("debug", [False, True])
def test_unexpected_exception_is_a_500_envelope_without_a_traceback(api, server, settings, debug):
    settings.DEBUG = debug
    with mock.patch(
        "allocations.services.allocation_set_primary",
        side_effect=RuntimeError("SELECT secret FROM panel_apikey"),
    ):
        response = api.post(
            allocations_url(server, Allocation.objects.get(server=server).id, "primary")
        )
    body = assert_error(response, 500, "ServerErrorException", SERVER_ERROR)
    text = response.content.decode()
    assert body == {
        "errors": [{"code": "ServerErrorException", "status": "500", "detail": SERVER_ERROR}]
    }
    for leak in ("Traceback", "SELECT", "RuntimeError", 'File "'):
        assert leak not in text


@pytest.mark.parametrize("debug", [False, True])
def test_unexpected_exception_in_authentication_is_a_500_envelope(server, settings, owner, debug):
    settings.DEBUG = debug
    client = bearer_client(factories.make_key(owner))
    with mock.patch("panel.api.authentication.api_key_authenticate", side_effect=KeyError("boom")):
        response = client.get(allocations_url(server))
    assert_error(response, 500, "ServerErrorException", SERVER_ERROR)
    assert b"boom" not in response.content


# --- never HTML under /api/ -------------------------------------------------------------------


@pytest.mark.parametrize("debug", [False, True])
def test_a_disallowed_host_is_answered_in_json(api, server, settings, debug):
    settings.DEBUG = debug
    response = api.get(allocations_url(server), HTTP_HOST="evil.example")
    assert response.status_code == 400
    assert response["Content-Type"].startswith("application/json")
    assert_error(response, 400, "BadRequestHttpException")
    assert b"<html" not in response.content.lower()


@pytest.mark.parametrize("debug", [False, True])
def test_an_error_in_a_middleware_is_answered_in_json(api, server, settings, debug):
    settings.DEBUG = debug
    with mock.patch(
        "django.contrib.sessions.middleware.SessionMiddleware.process_request",
        side_effect=RuntimeError("session store exploded: password=hunter2"),
    ):
        api.raise_request_exception = False  # answer as in production, do not re-raise
        response = api.get(allocations_url(server))
    assert_error(response, 500, "ServerErrorException", SERVER_ERROR)
    assert b"hunter2" not in response.content
    assert b"<html" not in response.content.lower()


@pytest.mark.parametrize("debug", [False, True])
def test_a_database_outage_in_a_middleware_is_503(server, owner, settings, debug):
    settings.DEBUG = debug
    client = APIClient(raise_request_exception=False)
    client.force_login(owner)
    with mock.patch(
        "django.contrib.auth.middleware.AuthenticationMiddleware.process_request",
        side_effect=OperationalError("could not connect"),
    ):
        response = client.get(allocations_url(server))
    assert_error(response, 503, "ServiceUnavailableHttpException", SERVICE_UNAVAILABLE)


def test_an_integrity_error_is_a_plain_500(api, server):
    from django.db import IntegrityError

    with mock.patch(
        "allocations.services.allocation_assign",
        side_effect=IntegrityError('duplicate key value violates "allocation_one_primary"'),
    ):
        response = api.post(allocations_url(server), {}, format="json")
    assert_error(response, 500, "ServerErrorException", SERVER_ERROR)
    assert b"allocation_one_primary" not in response.content
