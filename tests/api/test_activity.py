"""Section 8: one activity entry per successful change, none for a failed request."""

from unittest import mock

import pytest
from django.db import OperationalError
from rest_framework.test import APIClient

from allocations.models import Allocation
from panel.models import ActivityEntry
from servers.models import Server
from tests import factories
from tests.api.conftest import bearer_client
from tests.conftest import allocations_url


def _only_entry() -> ActivityEntry:
    entries = list(ActivityEntry.objects.all())
    assert len(entries) == 1, [e.event for e in entries]
    return entries[0]


def test_create_writes_one_entry(api, owner, owner_key, server):
    response = api.post(allocations_url(server), {}, format="json", REMOTE_ADDR="203.0.113.7")
    assert response.status_code == 200
    entry = _only_entry()
    assert entry.event == "server:allocation.create"
    assert entry.properties == {"allocation": "10.0.0.1:25566"}
    assert entry.server_id == server.pk
    assert entry.actor_id == owner.pk
    assert entry.api_key_identifier == owner_key[:16]
    assert entry.ip == "203.0.113.7"
    assert entry.created_at is not None


def test_notes_entry_carries_old_and_new(api, server, second):
    Allocation.objects.filter(pk=second.pk).update(notes="old text")
    response = api.post(allocations_url(server, second.id), {"notes": " new text "}, format="json")
    assert response.status_code == 200
    entry = _only_entry()
    assert entry.event == "server:allocation.notes"
    assert entry.properties == {
        "allocation": "10.0.0.1:25566",
        "old": "old text",
        "new": "new text",
    }


def test_notes_cleared_entry_has_null_new(api, server, second):
    Allocation.objects.filter(pk=second.pk).update(notes="old")
    api.post(allocations_url(server, second.id), {"notes": None}, format="json")
    assert _only_entry().properties == {"allocation": "10.0.0.1:25566", "old": "old", "new": None}


@pytest.mark.parametrize(
    "stored,sent",
    [("same", "same"), ("same", "  same\n"), (None, None), (None, ""), (None, "   ")],
)
def test_unchanged_notes_write_no_entry(api, server, second, stored, sent):
    Allocation.objects.filter(pk=second.pk).update(notes=stored)
    response = api.post(allocations_url(server, second.id), {"notes": sent}, format="json")
    assert response.status_code == 200
    assert not ActivityEntry.objects.exists()


def test_primary_writes_one_entry(api, server, second):
    assert api.post(allocations_url(server, second.id, "primary")).status_code == 200
    entry = _only_entry()
    assert entry.event == "server:allocation.primary"
    assert entry.properties == {"allocation": "10.0.0.1:25566"}


def test_already_primary_writes_no_entry(api, server):
    primary = Allocation.objects.get(server=server)
    assert api.post(allocations_url(server, primary.id, "primary")).status_code == 200
    assert not ActivityEntry.objects.exists()


def test_delete_writes_one_entry(api, server, second):
    assert api.delete(allocations_url(server, second.id)).status_code == 204
    entry = _only_entry()
    assert entry.event == "server:allocation.delete"
    assert entry.properties == {"allocation": "10.0.0.1:25566"}
    assert entry.server_id == server.pk


def test_the_real_address_is_logged_not_the_alias(api, owner):
    server = factories.make_server(owner)
    Allocation.objects.filter(node=server.node).update(ip_alias="play.example.com")
    api.post(allocations_url(server), {}, format="json")
    assert _only_entry().properties["allocation"] == "10.0.0.1:25566"


def test_ipv6_is_logged_in_brackets(api, owner):
    server = factories.make_server(owner, ip="0:0:0:0:0:0:0:1", ports=[25564, 25565])
    response = api.post(allocations_url(server), {"ip": "::1", "port": 25565}, format="json")
    assert response.status_code == 200
    assert _only_entry().properties == {"allocation": "[::1]:25565"}


def test_session_actor_has_no_key_identifier(owner, server):
    client = APIClient()
    client.force_login(owner)
    assert client.post(allocations_url(server), {}, format="json").status_code == 200
    entry = _only_entry()
    assert entry.actor_id == owner.pk
    assert entry.api_key_identifier == ""
    assert entry.ip == "127.0.0.1"


def test_subuser_is_the_actor(server):
    user = factories.make_user()
    factories.make_subuser(server, user, ["allocation.create"])
    token = factories.make_key(user)
    assert bearer_client(token).post(allocations_url(server), {}, format="json").status_code == 200
    entry = _only_entry()
    assert entry.actor_id == user.pk
    assert entry.api_key_identifier == token[:16]


def test_ipv6_caller_address_is_logged(api, server):
    api.post(allocations_url(server), {}, format="json", REMOTE_ADDR="2001:db8::7")
    assert _only_entry().ip == "2001:db8::7"


def test_a_full_round_trip_writes_one_entry_per_change(api, server):
    created = api.post(allocations_url(server), {}, format="json").json()["attributes"]
    api.post(allocations_url(server, created["id"]), {"notes": "n"}, format="json")
    api.post(allocations_url(server, created["id"]), {"notes": "n"}, format="json")  # unchanged
    api.post(allocations_url(server, created["id"], "primary"))
    first = Allocation.objects.get(server=server, port=25565)
    api.post(allocations_url(server, first.id, "primary"))
    api.delete(allocations_url(server, created["id"]))
    events = list(ActivityEntry.objects.order_by("id").values_list("event", flat=True))
    assert events == [
        "server:allocation.create",
        "server:allocation.notes",
        "server:allocation.primary",
        "server:allocation.primary",
        "server:allocation.delete",
    ]


def test_failed_requests_write_no_entry(api, owner, server, second, stranger_api):
    primary = Allocation.objects.get(server=server, is_primary=True)
    full = factories.make_server(owner, limit=1)
    failures = [
        api.post(allocations_url(server), {"port": "x"}, format="json"),
        api.post(allocations_url(server), {"ip": "10.0.0.1", "port": 25565}, format="json"),
        api.post(allocations_url(full), {}, format="json"),
        api.post(allocations_url(server, second.id), {"notes": 5}, format="json"),
        api.post(allocations_url(server, second.id), b"{", content_type="application/json"),
        api.delete(allocations_url(server, primary.id)),
        stranger_api.post(allocations_url(server), {}, format="json"),
        stranger_api.delete(allocations_url(server, second.id)),
        APIClient().post(allocations_url(server), {}, format="json"),
    ]
    Server.objects.filter(pk=server.pk).update(state="running")
    failures += [
        api.post(allocations_url(server, second.id, "primary")),
        api.delete(allocations_url(server, second.id)),
    ]
    assert all(400 <= r.status_code < 500 for r in failures), [r.status_code for r in failures]
    assert not ActivityEntry.objects.exists()


def test_a_change_that_fails_after_logging_leaves_neither_change_nor_entry(api, server, second):
    """The entry is written in the change's own transaction: if the log write fails, the
    change is rolled back too."""
    with mock.patch("allocations.services.activity_log", side_effect=OperationalError("disk full")):
        response = api.delete(allocations_url(server, second.id))
    assert response.status_code == 503
    assert Allocation.objects.get(pk=second.pk).server_id == server.pk
    assert not ActivityEntry.objects.exists()
