"""`GET /api/client/servers/{server}/activity` (spec section 11): the server's entries of
section 8, newest first, paginated, in Pterodactyl's `activity_log` item shape."""

import hashlib
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from panel.activity import Actor, activity_log
from panel.models import ActivityEntry
from tests import factories
from tests.api.conftest import NOT_FOUND, assert_error, bearer_client
from tests.conftest import allocations_url

pytestmark = pytest.mark.django_db


def activity_url(server) -> str:
    return f"/api/client/servers/{server.identifier}/activity"


def _events(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["attributes"]["event"] for item in response.json()["data"]]


def _log(server, user, event, *, minutes_ago=0, **extra):
    entry = activity_log(event=event, server=server, actor=Actor(user=user, **extra), properties={})
    when = timezone.now() - timedelta(minutes=minutes_ago)
    ActivityEntry.objects.filter(pk=entry.pk).update(created_at=when)
    return entry


def test_activity_lists_the_servers_changes_newest_first(api, server):
    created = api.post(allocations_url(server), {}, format="json").json()["attributes"]
    api.post(allocations_url(server, created["id"]), {"notes": "query"}, format="json")
    api.post(f"/api/client/servers/{server.identifier}/power", {"signal": "start"}, format="json")

    assert _events(api.get(activity_url(server))) == [
        "server:power.start",
        "server:allocation.notes",
        "server:allocation.create",
    ]


def test_activity_item_has_pterodactyls_shape(api, server, owner, owner_key):
    api.post(allocations_url(server), {}, format="json", REMOTE_ADDR="192.0.2.9")
    entry = ActivityEntry.objects.get()

    item = api.get(activity_url(server)).json()["data"][0]

    assert item["object"] == "activity_log"
    assert list(item["attributes"]) == [
        "id",
        "batch",
        "event",
        "is_api",
        "ip",
        "description",
        "properties",
        "has_additional_metadata",
        "timestamp",
    ]
    attrs = item["attributes"]
    assert attrs["id"] == hashlib.sha1(str(entry.pk).encode()).hexdigest()
    assert (attrs["event"], attrs["is_api"], attrs["ip"]) == (
        "server:allocation.create",
        True,
        "192.0.2.9",
    )
    assert attrs["properties"] == {"allocation": "10.0.0.1:25566"}
    assert (attrs["batch"], attrs["description"], attrs["has_additional_metadata"]) == (
        None,
        None,
        False,
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", attrs["timestamp"])


def test_an_entry_made_without_a_key_is_not_api(api, server, owner):
    _log(server, owner, "server:power.start")

    assert api.get(activity_url(server)).json()["data"][0]["attributes"]["is_api"] is False


def test_the_ip_is_shown_to_the_actor_and_superusers_only(server, owner, api):
    _log(server, owner, "server:power.start", ip="192.0.2.50")
    viewer = factories.make_user()
    factories.make_subuser(server, viewer, ["activity.read"])
    admin = factories.make_user(is_superuser=True)

    def ip_seen_by(client):
        return client.get(activity_url(server)).json()["data"][0]["attributes"]["ip"]

    assert ip_seen_by(api) == "192.0.2.50"
    assert ip_seen_by(bearer_client(factories.make_key(admin))) == "192.0.2.50"
    assert ip_seen_by(bearer_client(factories.make_key(viewer))) is None


def test_activity_holds_only_this_servers_entries(api, owner, server):
    other = factories.make_server(owner)
    _log(other, owner, "server:power.start")
    _log(server, owner, "server:power.stop")

    assert _events(api.get(activity_url(server))) == ["server:power.stop"]


# --- pagination, filter, sort -----------------------------------------------------------------


@pytest.fixture
def thirty(server, owner):
    """30 entries, `event.0` the oldest and `event.29` the newest."""
    for i in range(30):
        _log(server, owner, f"event.{i}", minutes_ago=30 - i)


def test_activity_pages_hold_25_by_default(api, server, thirty):
    body = api.get(activity_url(server)).json()

    assert len(body["data"]) == 25
    assert body["data"][0]["attributes"]["event"] == "event.29"
    pagination = body["meta"]["pagination"]
    assert {k: v for k, v in pagination.items() if k != "links"} == {
        "total": 30,
        "count": 25,
        "per_page": 25,
        "current_page": 1,
        "total_pages": 2,
    }
    assert list(pagination["links"]) == ["next"]


def test_activity_per_page_and_page(api, server, thirty):
    response = api.get(activity_url(server), {"per_page": 10, "page": 3})

    assert _events(response) == [f"event.{i}" for i in range(9, -1, -1)]
    assert response.json()["meta"]["pagination"]["total_pages"] == 3


def test_activity_per_page_above_100_is_cut_to_100(api, server, thirty):
    response = api.get(activity_url(server), {"per_page": 1000})

    assert response.json()["meta"]["pagination"]["per_page"] == 100
    assert len(response.json()["data"]) == 30


def test_activity_sort_timestamp_is_oldest_first(api, server, thirty):
    assert _events(api.get(activity_url(server), {"sort": "timestamp", "per_page": 3})) == [
        "event.0",
        "event.1",
        "event.2",
    ]


def test_activity_filter_event_matches_part_of_the_event(api, server, owner):
    _log(server, owner, "server:allocation.create", minutes_ago=2)
    _log(server, owner, "server:power.start", minutes_ago=1)
    _log(server, owner, "server:allocation.delete")

    assert _events(api.get(activity_url(server), {"filter[event]": "ALLOCATION"})) == [
        "server:allocation.delete",
        "server:allocation.create",
    ]
    assert _events(api.get(activity_url(server), {"filter[event]": "nul\x00"})) == []


# --- who may see it ---------------------------------------------------------------------------


def test_a_subuser_needs_activity_read(server, owner):
    _log(server, owner, "server:power.start")
    without = factories.make_user()
    factories.make_subuser(server, without, ["control.start", "allocation.read"])
    with_it = factories.make_user()
    factories.make_subuser(server, with_it, ["activity.read"])

    refused = bearer_client(factories.make_key(without)).get(activity_url(server))

    assert_error(refused, 403, "InsufficientPermissionsException")
    assert _events(bearer_client(factories.make_key(with_it)).get(activity_url(server))) == [
        "server:power.start"
    ]


def test_another_users_server_is_404(stranger_api, server, owner):
    _log(server, owner, "server:power.start")

    response = stranger_api.get(activity_url(server))

    assert_error(response, 404, "NotFoundHttpException")
    assert response.json() == NOT_FOUND


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        ("suspended", "This server is suspended."),
        ("installing", "This server has not completed its installation."),
    ],
)
def test_activity_of_a_suspended_or_installing_server_is_400_as_in_pterodactyl(
    owner, api, status, detail
):
    server = factories.make_server(owner, status=status)

    assert_error(api.get(activity_url(server)), 400, "ConflictingServerStateException", detail)


def test_activity_serves_get_only(api, server):
    response = api.post(activity_url(server), {}, format="json")

    assert_error(response, 405, "MethodNotAllowedHttpException")
