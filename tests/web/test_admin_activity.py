"""The activity log in the admin: read-only, filterable by event, server and user."""

import pytest

from allocations.services import allocation_assign, allocation_set_notes
from panel.activity import Actor
from panel.models import ActivityEntry
from tests import factories

pytestmark = pytest.mark.django_db

LIST = "/admin/panel/activityentry/"


@pytest.fixture
def log(server, owner):
    other = factories.make_server(ip="10.0.0.2", name="Other")
    alice = factories.make_user("alice")
    row = allocation_assign(server=server, actor=Actor(user=owner, ip="192.0.2.1"))
    allocation_set_notes(allocation=row, actor=Actor(user=owner), notes="hi")
    allocation_assign(server=other, actor=Actor(user=alice, api_key_identifier="ptlc_abc"))
    return {"server": server, "other": other, "owner": owner, "alice": alice}


def _events(response) -> list[tuple[str, int]]:
    return [(e.event, e.server_id) for e in response.context["cl"].result_list]


def test_activity_list_shows_event_server_actor_key_ip_and_properties(admin_client, log):
    response = admin_client.get(LIST)
    html = response.content.decode()
    assert response.status_code == 200
    for text in ("server:allocation.create", "server:allocation.notes", "ptlc_abc", "192.0.2.1"):
        assert text in html
    assert "10.0.0.1:25566" in html and "alice" in html


def test_activity_is_filtered_by_event(admin_client, log):
    response = admin_client.get(LIST, {"event": "server:allocation.notes"})
    assert _events(response) == [("server:allocation.notes", log["server"].pk)]


def test_activity_is_filtered_by_server(admin_client, log):
    response = admin_client.get(LIST, {"server__id__exact": log["other"].pk})
    assert _events(response) == [("server:allocation.create", log["other"].pk)]


def test_activity_is_filtered_by_user(admin_client, log):
    response = admin_client.get(LIST, {"actor__id__exact": log["owner"].pk})
    assert {event for event, _ in _events(response)} == {
        "server:allocation.create",
        "server:allocation.notes",
    }
    html = response.content.decode()
    assert "By server" in html and "By actor" in html and "By event" in html


def test_activity_entries_cannot_be_added_changed_or_deleted(admin_client, log):
    entry = ActivityEntry.objects.first()
    page = admin_client.get(f"{LIST}{entry.pk}/change/")
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    assert admin_client.post(f"{LIST}{entry.pk}/change/", {"event": "x"}).status_code == 403
    assert admin_client.get(f"{LIST}add/").status_code == 403
    assert admin_client.post(f"{LIST}{entry.pk}/delete/", {"post": "yes"}).status_code == 403
    assert admin_client.get(LIST).context["action_form"] is None  # no bulk delete either
    entry.refresh_from_db()
    assert entry.event != "x"
    assert ActivityEntry.objects.count() == 3


def test_server_page_links_to_its_activity(admin_client, log):
    server = log["server"]
    html = admin_client.get(f"/admin/servers/server/{server.pk}/change/").content.decode()
    assert f"{LIST}?server__id__exact={server.pk}" in html
