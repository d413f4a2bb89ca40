"""`POST /api/client/servers/{server}/power` (spec section 11): a signal changes the recorded
power state through `servers.services.server_set_power`; checks in the spec's order (server
visible 404, status 400, permission 403, body 422)."""

import pytest

from panel.models import ActivityEntry
from servers.models import Server
from tests import factories
from tests.api.conftest import NOT_FOUND, assert_error, bearer_client

pytestmark = pytest.mark.django_db

SUSPENDED = "This server is suspended."
NOT_INSTALLED = "This server has not completed its installation."
SIGNAL_INVALID = {
    "code": "ValidationException",
    "status": "422",
    "detail": "The selected signal is invalid.",
    "meta": {"source_field": "signal", "rule": "in"},
}


def power_url(server) -> str:
    return f"/api/client/servers/{server.identifier}/power"


def state_of(server) -> str:
    return Server.objects.values_list("state", flat=True).get(pk=server.pk)


def subuser_client(server, permissions):
    user = factories.make_user()
    factories.make_subuser(server, user, permissions)
    return bearer_client(factories.make_key(user))


@pytest.mark.parametrize(
    ("start", "signal", "end"),
    [
        ("offline", "start", "running"),
        ("running", "stop", "offline"),
        ("running", "restart", "running"),
        ("running", "kill", "offline"),
    ],
)
def test_signal_answers_204_and_records_the_state(owner, api, start, signal, end):
    server = factories.make_server(owner, state=start)

    response = api.post(power_url(server), {"signal": signal}, format="json")

    assert response.status_code == 204
    assert response.content == b""
    assert state_of(server) == end
    assert api.get(f"{power_url(server)[:-6]}/resources").json()["attributes"]["current_state"] == (
        end
    )


def test_signal_is_logged_with_the_key_and_address(api, server, owner_key, owner):
    api.post(power_url(server), {"signal": "start"}, format="json", REMOTE_ADDR="192.0.2.44")

    entry = ActivityEntry.objects.get()
    assert (entry.event, entry.server_id, entry.actor_id) == (
        "server:power.start",
        server.pk,
        owner.pk,
    )
    assert (entry.api_key_identifier, entry.ip) == (owner_key[:16], "192.0.2.44")


def test_signal_in_a_form_body_works(api, server):
    response = api.post(power_url(server), {"signal": "start"})  # multipart

    assert response.status_code == 204
    assert state_of(server) == "running"


@pytest.mark.parametrize(
    ("signal", "needs"),
    [
        ("start", "control.start"),
        ("stop", "control.stop"),
        ("restart", "control.restart"),
        ("kill", "control.stop"),
    ],
)
def test_subuser_needs_the_signals_own_permission(owner, signal, needs):
    server = factories.make_server(owner, state="stopping")
    others = sorted({"control.start", "control.stop", "control.restart"} - {needs})

    refused = subuser_client(server, others).post(
        power_url(server), {"signal": signal}, format="json"
    )

    assert_error(
        refused,
        403,
        "InsufficientPermissionsException",
        "You do not have permission to perform this action.",
    )
    assert state_of(server) == "stopping"
    assert not ActivityEntry.objects.exists()
    allowed = subuser_client(server, [needs]).post(
        power_url(server), {"signal": signal}, format="json"
    )
    assert allowed.status_code == 204


@pytest.mark.parametrize("signal", ["reboot", "", "START", None, 1, ["start"], {"x": 1}])
def test_an_invalid_signal_from_the_owner_is_422(api, server, signal):
    response = api.post(power_url(server), {"signal": signal}, format="json")

    body = assert_error(response, 422, "ValidationException")
    assert body == {"errors": [SIGNAL_INVALID]}
    assert state_of(server) == "offline"
    assert not ActivityEntry.objects.exists()


def test_a_missing_signal_is_422(api, server):
    body = assert_error(api.post(power_url(server), {}, format="json"), 422, "ValidationException")
    assert body == {"errors": [SIGNAL_INVALID]}


def test_a_body_that_is_not_an_object_is_422_on_body(api, server):
    body = assert_error(
        api.post(power_url(server), ["start"], format="json"), 422, "ValidationException"
    )
    assert body["errors"][0]["meta"] == {"source_field": "body", "rule": "object"}


def test_malformed_json_from_the_owner_is_400(api, server):
    response = api.post(power_url(server), "{signal", content_type="application/json")

    assert_error(response, 400, "BadRequestHttpException")


def test_an_invalid_signal_from_a_subuser_with_some_control_permission_is_422(server):
    client = subuser_client(server, ["control.start"])

    response = client.post(power_url(server), {"signal": "reboot"}, format="json")

    assert_error(response, 422, "ValidationException", "The selected signal is invalid.")


@pytest.mark.parametrize(
    ("body", "options"),
    [
        ({"signal": "reboot"}, {"format": "json"}),
        ({}, {"format": "json"}),
        (["start"], {"format": "json"}),
        ("{not json", {"content_type": "application/json"}),
        ("signal=start", {"content_type": "text/plain"}),
    ],
    ids=["invalid-signal", "no-signal", "not-an-object", "malformed-json", "other-media-type"],
)
def test_a_subuser_holding_no_control_permission_is_403_before_the_body_is_read(
    server, body, options
):
    client = subuser_client(server, ["allocation.read", "activity.read"])

    response = client.post(power_url(server), body, **options)

    assert_error(response, 403, "InsufficientPermissionsException")
    assert state_of(server) == "offline"


@pytest.mark.parametrize(
    ("status", "detail"),
    [("suspended", SUSPENDED), ("installing", NOT_INSTALLED), ("install_failed", NOT_INSTALLED)],
)
def test_power_on_a_suspended_or_installing_server_is_400(owner, api, status, detail):
    server = factories.make_server(owner, status=status)

    response = api.post(power_url(server), {"signal": "start"}, format="json")

    assert_error(response, 400, "ConflictingServerStateException", detail)
    assert state_of(server) == "offline"
    assert not ActivityEntry.objects.exists()


def test_server_status_is_checked_before_the_permission_and_the_body(owner):
    server = factories.make_server(owner, status="suspended")
    client = subuser_client(server, [])

    response = client.post(power_url(server), ["nonsense"], format="json")

    assert_error(response, 400, "ConflictingServerStateException", SUSPENDED)


def test_another_users_server_is_404_whatever_its_status(stranger_api, owner):
    server = factories.make_server(owner, status="suspended")

    response = stranger_api.post(power_url(server), {"signal": "start"}, format="json")

    assert_error(response, 404, "NotFoundHttpException")
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize("method", ["get", "delete", "put"])
def test_power_serves_post_only(api, server, method):
    assert_error(getattr(api, method)(power_url(server)), 405, "MethodNotAllowedHttpException")


def test_power_answers_without_a_trailing_slash_redirect(api, server):
    response = api.post(power_url(server) + "/", {"signal": "start"}, format="json")

    assert response.status_code == 204
    assert state_of(server) == "running"
