"""GET .../allocations/{allocation}/health: status, last check, uptime over 24 hours and 7
days, and the last 24 hours of latency, from the recorded checks."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone

from allocations.models import Allocation
from monitoring.models import AllocationCheck, AllocationMonitor
from monitoring.selectors import uptime_percent
from servers.models import ServerStatus
from tests import factories
from tests.api.conftest import NOT_FOUND, assert_error, bearer_client
from tests.conftest import allocations_url
from tests.monitoring.conftest import allocation_on, make_loopback_server

# The allocation item keeps exactly the spec's keys.
ITEM_KEYS = ["id", "ip", "ip_alias", "port", "notes", "is_default"]


@pytest.fixture
def held(owner, closed_port):
    server = make_loopback_server(owner, [closed_port.port])
    return server, allocation_on(server, closed_port.port)


def health(client, server, row) -> dict:
    response = client.get(allocations_url(server, row.pk, "health"))
    assert response.status_code == 200, response.content
    body = json.loads(response.content)
    assert list(body) == ["object", "attributes"]
    assert body["object"] == "allocation_health"
    assert list(body["attributes"]) == [
        "status",
        "last_checked_at",
        "latency_ms",
        "uptime_24h",
        "uptime_7d",
        "latency_24h",
    ]
    return body["attributes"]


def add_checks(row, *, server=None, ago_and_latency):
    """Checks of `row`, each `(age, latency_ms or None for a failure)`."""
    now = timezone.now()
    AllocationCheck.objects.bulk_create(
        AllocationCheck(
            allocation_id=row.pk,
            server_id=(server or row.server).pk,
            checked_at=now - age,
            reachable=latency is not None,
            latency_ms=latency,
            error=None if latency is not None else "connection refused",
        )
        for age, latency in ago_and_latency
    )


def test_health_of_an_allocation_never_checked_is_unknown(api, held):
    server, row = held

    assert health(api, server, row) == {
        "status": "unknown",
        "last_checked_at": None,
        "latency_ms": None,
        "uptime_24h": None,
        "uptime_7d": None,
        "latency_24h": [],
    }


def test_health_after_a_test_of_a_listening_port_is_up(api, owner, listener):
    server = make_loopback_server(owner, [listener.port])
    row = allocation_on(server, listener.port)
    tested = json.loads(api.post(allocations_url(server, row.pk, "test")).content)["attributes"]

    attributes = health(api, server, row)

    assert attributes["status"] == "up"
    assert attributes["last_checked_at"] == tested["tested_at"]
    assert attributes["latency_ms"] == tested["latency_ms"] is not None
    assert attributes["uptime_24h"] == attributes["uptime_7d"] == 100.0
    assert attributes["latency_24h"] == [
        {"at": tested["tested_at"], "latency_ms": tested["latency_ms"]}
    ]


def test_health_after_the_listener_closes_is_down(api, owner, listener):
    server = make_loopback_server(owner, [listener.port])
    row = allocation_on(server, listener.port)
    api.post(allocations_url(server, row.pk, "test"))
    listener.close()
    api.post(allocations_url(server, row.pk, "test"))

    attributes = health(api, server, row)

    assert attributes["status"] == "down"
    assert attributes["latency_ms"] is None
    assert attributes["uptime_24h"] == 50.0
    assert [p["latency_ms"] is None for p in attributes["latency_24h"]] == [False, True]


def test_uptime_is_the_share_of_successful_checks_in_each_window(api, held):
    server, row = held
    hour, day = timedelta(hours=1), timedelta(days=1)
    add_checks(
        row,
        ago_and_latency=[
            # last 24 hours: 3 up, 1 down -> 75 %
            (1 * hour, 1.5),
            (2 * hour, None),
            (3 * hour, 2.25),
            (23 * hour, 0.5),
            # 1 to 7 days ago: 1 up, 2 down -> 7 days: 4 up of 7 -> 57.14 %
            (2 * day, None),
            (3 * day, 4.0),
            (6 * day, None),
            # older than 7 days: not counted
            (8 * day, None),
            (10 * day, None),
        ],
    )

    attributes = health(api, server, row)

    assert attributes["uptime_24h"] == 75.0
    assert attributes["uptime_7d"] == 57.14
    assert [p["latency_ms"] for p in attributes["latency_24h"]] == [0.5, 2.25, None, 1.5]
    times = [p["at"] for p in attributes["latency_24h"]]
    assert times == sorted(times)


@pytest.mark.parametrize(
    ("up", "total", "percent"),
    [(0, 0, None), (0, 3, 0.0), (3, 3, 100.0), (2, 3, 66.67), (1, 3, 33.33), (199, 200, 99.5)],
)
def test_uptime_percent_arithmetic(up, total, percent):
    assert uptime_percent(up, total) == percent


def test_health_never_shows_what_was_recorded_for_another_server(api, owner, held):
    server, row = held
    before = factories.make_user("before")
    Allocation.objects.create(node=server.node, ip=row.ip, port=row.port + 1)
    previous = factories.make_server(before, node=server.node)
    add_checks(row, server=previous, ago_and_latency=[(timedelta(hours=1), 3.0)])
    AllocationMonitor.objects.create(
        allocation_id=row.pk,
        server_id=previous.pk,
        next_due_at=timezone.now(),
        last_checked_at=timezone.now(),
        last_reachable=True,
        last_latency_ms=3.0,
    )

    attributes = health(api, server, row)

    assert attributes["status"] == "unknown"
    assert attributes["uptime_24h"] is None
    assert attributes["latency_24h"] == []


def test_health_of_another_servers_allocation_is_the_404(api, held):
    server, _ = held
    theirs = make_loopback_server(factories.make_user("stranger"), [1])
    row = Allocation.objects.get(server=theirs)

    response = api.get(allocations_url(server, row.pk, "health"))

    assert_error(response, 404, "NotFoundHttpException")
    assert json.loads(response.content) == NOT_FOUND
    response = api.get(allocations_url(theirs, row.pk, "health"))
    assert json.loads(response.content) == NOT_FOUND


def test_health_needs_allocation_read(held):
    server, row = held
    helper = factories.make_user("helper")
    factories.make_subuser(server, helper, ["allocation.update"])

    response = bearer_client(factories.make_key(helper)).get(
        allocations_url(server, row.pk, "health")
    )

    assert_error(response, 403, "InsufficientPermissionsException")


def test_health_of_a_suspended_server_is_400(api, held):
    server, row = held
    server.status = ServerStatus.SUSPENDED
    server.save()

    response = api.get(allocations_url(server, row.pk, "health"))

    assert_error(response, 400, "ConflictingServerStateException", "This server is suspended.")


@pytest.mark.parametrize("method", ["post", "put", "delete"])
def test_health_only_answers_get(api, held, method):
    server, row = held

    response = getattr(api, method)(allocations_url(server, row.pk, "health"))

    assert_error(response, 405, "MethodNotAllowedHttpException")
    assert {m.strip() for m in response["Allow"].split(",")} == {"GET", "HEAD"}


def test_health_answers_the_same_with_a_trailing_slash_and_to_head(api, held):
    server, row = held
    url = allocations_url(server, row.pk, "health")

    assert json.loads(api.get(url + "/").content) == json.loads(api.get(url).content)
    assert api.head(url).status_code == 200


def test_the_allocation_item_keeps_exactly_its_keys_once_monitored(api, held):
    server, row = held
    api.post(allocations_url(server, row.pk, "test"))
    add_checks(row, ago_and_latency=[(timedelta(minutes=5), 1.0)])

    listed = json.loads(api.get(allocations_url(server)).content)
    updated = json.loads(api.post(allocations_url(server, row.pk), {}, format="json").content)

    assert [list(item["attributes"]) for item in listed["data"]] == [ITEM_KEYS]
    assert list(updated["attributes"]) == ITEM_KEYS
