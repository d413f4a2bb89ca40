"""POST .../allocations/{allocation}/test: one connection to that allocation's own address,
never one the caller names, at most PANEL_PORT_TEST_RATE a server."""

import json
import re
from datetime import datetime
from unittest import mock

import pytest
from django.urls import get_resolver
from rest_framework.test import APIClient

from allocations.models import Allocation
from monitoring import services
from monitoring.models import AllocationCheck, AllocationMonitor
from servers.models import ServerStatus
from tests import factories
from tests.api.conftest import NOT_FOUND, assert_error, bearer_client
from tests.conftest import allocations_url
from tests.monitoring.conftest import LOOPBACK, ClosedPort, allocation_on, make_loopback_server

pytestmark = pytest.mark.usefixtures("frozen_window")


@pytest.fixture
def loopback(owner, listener, closed_port):
    """The owner's server holding two loopback allocations: one listening, one closed."""
    server = make_loopback_server(owner, [listener.port, closed_port.port])
    return server, allocation_on(server, listener.port), allocation_on(server, closed_port.port)


def url_of(server, allocation) -> str:
    return allocations_url(server, allocation.pk, "test")


@pytest.fixture
def probed_targets():
    """Every target the endpoint hands to the probe (the probe still runs)."""
    seen = []
    real = services.probe

    def spy(target, *, timeout):
        seen.append(target)
        return real(target, timeout=timeout)

    with mock.patch.object(services, "probe", spy):
        yield seen


def _attributes(response) -> dict:
    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    assert list(body) == ["object", "attributes"]
    assert body["object"] == "allocation_test"
    assert list(body["attributes"]) == ["reachable", "latency_ms", "error", "tested_at"]
    return body["attributes"]


def test_test_of_a_listening_port_answers_reachable_with_latency(api, loopback, listener):
    server, up, _ = loopback

    attributes = _attributes(api.post(url_of(server, up)))

    assert attributes["reachable"] is True
    assert attributes["error"] is None
    assert isinstance(attributes["latency_ms"], float)
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", attributes["tested_at"])
    datetime.fromisoformat(attributes["tested_at"])
    assert listener.accept_peer()[0] == LOOPBACK


def test_test_of_a_closed_port_answers_unreachable_with_the_reason(api, loopback):
    server, _, down = loopback

    attributes = _attributes(api.post(url_of(server, down)))

    assert attributes["reachable"] is False
    assert attributes["latency_ms"] is None
    assert attributes["error"] == "connection refused"


def test_test_sees_a_listener_the_test_closes_go_down(api, owner, listener):
    server = make_loopback_server(owner, [listener.port])
    row = allocation_on(server, listener.port)
    assert _attributes(api.post(url_of(server, row)))["reachable"] is True

    listener.close()

    assert _attributes(api.post(url_of(server, row)))["error"] == "connection refused"


def test_test_result_is_recorded_like_a_monitor_check(api, loopback):
    server, up, down = loopback

    api.post(url_of(server, up))
    api.post(url_of(server, down))

    checks = {c.allocation_id: c for c in AllocationCheck.objects.all()}
    assert set(checks) == {up.pk, down.pk}
    assert checks[up.pk].reachable is True and checks[up.pk].latency_ms is not None
    assert (checks[down.pk].reachable, checks[down.pk].error) == (False, "connection refused")
    assert {c.server_id for c in checks.values()} == {server.pk}
    states = {m.pk: m for m in AllocationMonitor.objects.all()}
    assert states[up.pk].last_reachable is True and states[up.pk].down_since is None
    assert states[down.pk].last_reachable is False
    assert states[down.pk].down_since == checks[down.pk].checked_at


@pytest.mark.parametrize(
    "send",
    [
        lambda c, url: c.post(url, {"ip": "10.9.8.7", "port": 22}, format="json"),
        lambda c, url: c.post(url, {"ip": "10.9.8.7", "port": "22", "host": "example.com"}),
        lambda c, url: c.post(url + "?ip=10.9.8.7&port=22&address=10.9.8.7:22"),
        lambda c, url: c.post(url, "10.9.8.7:22", content_type="text/plain"),
        lambda c, url: c.post(url, b"{not json", content_type="application/json"),
    ],
    ids=["json", "form", "query", "text", "malformed"],
)
def test_test_ignores_any_address_the_caller_sends(api, loopback, probed_targets, send):
    server, _, down = loopback

    attributes = _attributes(send(api, url_of(server, down)))

    assert attributes["error"] == "connection refused"
    assert [(t.ip, t.port, t.allocation_id) for t in probed_targets] == [
        (LOOPBACK, down.port, down.pk)
    ]


def test_no_route_lets_a_caller_name_the_address_to_connect_to():
    """The two monitoring routes capture a server and an allocation id, nothing else."""
    from monitoring.api import urls

    assert len(urls.urlpatterns) == 2
    for pattern in urls.urlpatterns:
        assert set(pattern.pattern.regex.groupindex) == {"server", "allocation"}
    # And they are mounted where the API serves them.
    match = get_resolver().resolve("/api/client/servers/abcd1234/network/allocations/5/test")
    assert match.kwargs == {"server": "abcd1234", "allocation": "5"}


def test_test_of_another_servers_allocation_is_404_and_connects_nowhere(
    api, loopback, probed_targets, stranger_api_pair
):
    server, _, _ = loopback
    theirs, their_row = stranger_api_pair

    response = api.post(allocations_url(server, their_row.pk, "test"))

    assert_error(response, 404, "NotFoundHttpException")
    assert json.loads(response.content) == NOT_FOUND
    assert probed_targets == []
    assert not AllocationCheck.objects.exists()


@pytest.fixture
def stranger_api_pair(db):
    """Another user's loopback server and its allocation."""
    stranger = factories.make_user("other-owner")
    port = ClosedPort()
    theirs = make_loopback_server(stranger, [port.port])
    yield theirs, allocation_on(theirs, port.port)
    port.close()


def test_test_of_another_users_server_is_the_same_404(api, stranger_api_pair, probed_targets):
    theirs, row = stranger_api_pair

    response = api.post(allocations_url(theirs, row.pk, "test"))

    assert json.loads(response.content) == NOT_FOUND
    assert probed_targets == []


def test_test_of_a_free_allocation_of_the_servers_node_is_404(api, owner, probed_targets):
    port = ClosedPort()
    try:
        server = make_loopback_server(owner, [port.port])
        free = Allocation.objects.create(node=server.node, ip=LOOPBACK, port=port.port + 1)
        response = api.post(allocations_url(server, free.pk, "test"))
    finally:
        port.close()

    assert_error(response, 404, "NotFoundHttpException")
    assert probed_targets == []


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        (ServerStatus.SUSPENDED, "This server is suspended."),
        (ServerStatus.INSTALLING, "This server has not completed its installation."),
    ],
)
def test_test_on_a_server_that_is_not_usable_is_400(api, loopback, probed_targets, status, detail):
    server, up, _ = loopback
    server.status = status
    server.save()

    response = api.post(url_of(server, up))

    assert_error(response, 400, "ConflictingServerStateException", detail)
    assert probed_targets == []


def test_test_needs_allocation_read(loopback, probed_targets):
    server, up, _ = loopback
    helper = factories.make_user("helper")
    factories.make_subuser(server, helper, ["allocation.update", "allocation.create"])
    client = bearer_client(factories.make_key(helper))

    response = client.post(url_of(server, up))

    assert_error(response, 403, "InsufficientPermissionsException")
    assert probed_targets == []


def test_test_allowed_to_a_subuser_with_allocation_read(loopback):
    server, _, down = loopback
    helper = factories.make_user("reader")
    factories.make_subuser(server, helper, ["allocation.read"])

    response = bearer_client(factories.make_key(helper)).post(url_of(server, down))

    assert _attributes(response)["error"] == "connection refused"


def test_the_400_status_check_comes_before_the_403_permission_check(loopback):
    server, up, _ = loopback
    helper = factories.make_user("helper")
    factories.make_subuser(server, helper, [])
    server.status = ServerStatus.SUSPENDED
    server.save()

    response = bearer_client(factories.make_key(helper)).post(url_of(server, up))

    assert_error(response, 400, "ConflictingServerStateException")


def test_test_without_credentials_is_401(loopback, probed_targets):
    server, up, _ = loopback

    assert_error(APIClient().post(url_of(server, up)), 401, "InvalidCredentialsException")
    assert probed_targets == []


@pytest.mark.parametrize("method", ["get", "put", "patch", "delete"])
def test_test_only_answers_post(api, loopback, method):
    server, up, _ = loopback

    response = getattr(api, method)(url_of(server, up))

    assert_error(response, 405, "MethodNotAllowedHttpException")
    assert response["Allow"] == "POST"


def test_test_answers_the_same_with_a_trailing_slash(api, loopback):
    server, _, down = loopback

    response = api.post(url_of(server, down) + "/")

    assert _attributes(response)["error"] == "connection refused"


# --- the per-server rate ------------------------------------------------------------------


def _assert_429(response) -> int:
    assert_error(
        response, 429, "TooManyRequestsHttpException", "Too many requests. Please slow down."
    )
    assert response["Retry-After"].isdigit()
    assert 1 <= int(response["Retry-After"]) <= 60
    return int(response["Retry-After"])


def test_test_past_the_per_server_rate_is_429_with_retry_after(
    api, loopback, settings, probed_targets
):
    settings.PANEL_PORT_TEST_RATE = "3/min"
    server, up, down = loopback
    for row in (up, down, up):
        assert api.post(url_of(server, row)).status_code == 200

    _assert_429(api.post(url_of(server, down)))
    assert len(probed_targets) == 3
    assert AllocationCheck.objects.count() == 3


def test_the_default_rate_is_ten_tests_a_minute(api, loopback):
    server, _, down = loopback
    for _ in range(10):
        assert api.post(url_of(server, down)).status_code == 200

    _assert_429(api.post(url_of(server, down)))


def test_the_rate_is_per_server_whoever_asks(owner, loopback, settings, stranger_api_pair):
    settings.PANEL_PORT_TEST_RATE = "2/min"
    server, _, down = loopback
    reader = factories.make_user("reader")
    factories.make_subuser(server, reader, ["allocation.read"])
    owner_keys = [bearer_client(factories.make_key(owner)) for _ in range(2)]
    reader_client = bearer_client(factories.make_key(reader))

    assert owner_keys[0].post(url_of(server, down)).status_code == 200
    assert reader_client.post(url_of(server, down)).status_code == 200
    _assert_429(owner_keys[1].post(url_of(server, down)))
    _assert_429(reader_client.post(url_of(server, down)))

    # Another server has its own budget.
    theirs, row = stranger_api_pair
    their_owner = bearer_client(factories.make_key(theirs.owner))
    assert their_owner.post(allocations_url(theirs, row.pk, "test")).status_code == 200


def test_refused_requests_do_not_spend_the_servers_test_budget(loopback, settings):
    settings.PANEL_PORT_TEST_RATE = "1/min"
    server, up, _ = loopback
    helper = factories.make_user("helper")
    factories.make_subuser(server, helper, ["allocation.update"])
    helper_client = bearer_client(factories.make_key(helper))
    for _ in range(3):
        assert_error(
            helper_client.post(url_of(server, up)), 403, "InsufficientPermissionsException"
        )

    owner_client = bearer_client(factories.make_key(server.owner))
    assert owner_client.post(url_of(server, up)).status_code == 200


def test_the_permission_403_comes_before_the_rate_429(loopback, settings, api):
    settings.PANEL_PORT_TEST_RATE = "1/min"
    server, up, _ = loopback
    assert api.post(url_of(server, up)).status_code == 200
    helper = factories.make_user("helper")
    factories.make_subuser(server, helper, [])

    response = bearer_client(factories.make_key(helper)).post(url_of(server, up))

    assert_error(response, 403, "InsufficientPermissionsException")


def test_a_test_past_the_rate_connects_nowhere(api, loopback, settings, probed_targets):
    settings.PANEL_PORT_TEST_RATE = "1/min"
    server, up, _ = loopback
    api.post(url_of(server, up))
    probed_targets.clear()

    _assert_429(api.post(url_of(server, up)))

    assert probed_targets == []
