"""Servers in the admin: the list, creating one on a free allocation picked by autocomplete,
and the allocation buttons, which call the API's services with the operator's overrides."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations.models import Allocation
from allocations.services import allocation_assign
from panel.activity import Actor
from panel.models import ActivityEntry
from servers.models import Server, ServerStatus
from tests import factories

pytestmark = pytest.mark.django_db

LIST = "/admin/servers/server/"
AUTOCOMPLETE = "/admin/allocations/allocation/free-autocomplete/"


def _change(server):
    return f"{LIST}{server.pk}/change/"


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _held(server) -> dict[int, bool]:
    return dict(Allocation.objects.filter(server=server).values_list("port", "is_primary"))


# --- The list ---------------------------------------------------------------------------------


def test_server_list_shows_owner_node_primary_usage_and_state(admin_client, server):
    response = admin_client.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    for text in (server.name, server.identifier, "owner", server.node.name, "10.0.0.1:25565"):
        assert text in html
    assert "1 of 5" in html


def test_server_list_runs_the_same_queries_for_one_server_as_for_many(admin_client, server):
    with CaptureQueriesContext(connection) as one:
        admin_client.get(LIST)
    for n in range(8):
        other = factories.make_server(ip=f"10.0.1.{n + 1}")
        allocation_assign(server=other, actor=Actor(user=None))
    with CaptureQueriesContext(connection) as many:
        response = admin_client.get(LIST)
    assert len(response.context["cl"].result_list) == 9
    assert len(many) == len(one)


def test_server_list_search_finds_by_identifier_and_owner(admin_client, server):
    factories.make_server(name="Other")
    response = admin_client.get(LIST, {"q": server.identifier})
    assert [s.pk for s in response.context["cl"].result_list] == [server.pk]
    response = admin_client.get(LIST, {"q": "owner"})
    assert [s.pk for s in response.context["cl"].result_list] == [server.pk]


# --- Creating a server ------------------------------------------------------------------------


def test_add_page_picks_the_primary_with_an_autocomplete_not_a_select_of_every_row(admin_client):
    node = factories.make_node()
    factories.make_pool(node, ports=range(1000, 1300))
    response = admin_client.get(f"{LIST}add/")
    html = response.content.decode()
    assert response.status_code == 200
    assert 'name="primary"' in html
    assert f'data-ajax--url="{AUTOCOMPLETE}"' in html
    assert html.count("<option") < 20  # the 300 free rows are not rendered
    # The owner is picked by autocomplete too.
    assert 'data-field-name="owner"' in html


def test_autocomplete_offers_only_free_allocations(admin_client, server):
    response = admin_client.get(AUTOCOMPLETE)
    assert response.status_code == 200
    offered = {int(r["id"]) for r in response.json()["results"]}
    held = set(Allocation.objects.filter(server=server).values_list("pk", flat=True))
    assert offered and not offered & held
    assert all(r["text"].startswith(server.node.name + " · ") for r in response.json()["results"])


def test_autocomplete_searches_and_can_be_limited_to_one_node(admin_client, server):
    other = factories.make_node("second")
    factories.make_pool(other, ip="10.0.0.9", ports=[25567])
    both = admin_client.get(AUTOCOMPLETE, {"term": "25567"}).json()["results"]
    assert {r["text"] for r in both} == {
        f"{server.node.name} · 10.0.0.1:25567",
        "second · 10.0.0.9:25567",
    }
    one = admin_client.get(AUTOCOMPLETE, {"term": "25567", "node": other.pk}).json()["results"]
    assert [r["text"] for r in one] == ["second · 10.0.0.9:25567"]
    by_node_name = admin_client.get(AUTOCOMPLETE, {"term": "second"}).json()["results"]
    assert [r["text"] for r in by_node_name] == ["second · 10.0.0.9:25567"]


def test_autocomplete_pages_through_a_big_pool(admin_client):
    node = factories.make_node()
    factories.make_pool(node, ports=range(1000, 1050))
    first = admin_client.get(AUTOCOMPLETE, {"node": node.pk}).json()
    assert len(first["results"]) == 20 and first["pagination"]["more"]
    assert first["results"][0]["text"].endswith("10.0.0.1:1000")


def test_creating_a_server_gives_it_the_chosen_primary_on_that_allocations_node(admin_client):
    owner = factories.make_user("alice")
    node = factories.make_node("fra-1")
    factories.make_pool(node, ip="203.0.113.5", ports=range(25565, 25570))
    chosen = Allocation.objects.get(node=node, port=25567)
    response = admin_client.post(
        f"{LIST}add/",
        {
            "name": "Survival",
            "owner": owner.pk,
            "primary": chosen.pk,
            "state": "offline",
            "status": "active",
            "allocation_limit": "3",
        },
    )
    server = Server.objects.get(name="Survival")
    assert response.status_code == 302, response.content[:3000]
    assert (server.node_id, server.owner_id, server.allocation_limit) == (node.pk, owner.pk, 3)
    assert server.identifier == str(server.uuid)[:8]
    assert _held(server) == {25567: True}


def test_creating_a_server_on_a_taken_allocation_is_refused(admin_client, server):
    taken = Allocation.objects.get(server=server)
    response = admin_client.post(
        f"{LIST}add/",
        {
            "name": "Thief",
            "owner": server.owner.pk,
            "primary": taken.pk,
            "state": "offline",
            "status": "active",
            "allocation_limit": "1",
        },
    )
    assert response.status_code == 200
    assert "That allocation is no longer free." in response.content.decode()
    assert not Server.objects.filter(name="Thief").exists()


# --- The change page and its allocation buttons -----------------------------------------------


def test_change_page_shows_the_servers_allocations_with_their_buttons(admin_client, server):
    second = allocation_assign(server=server, actor=Actor(user=None))
    response = admin_client.get(_change(server))
    html = response.content.decode()
    assert response.status_code == 200
    assert "10.0.0.1:25565" in html and second.address in html
    assert server.uuid.hex[:8] in html.replace("-", "")
    # The buttons belong to the separate actions form, so Enter in a field never fires them.
    assert (
        f'form="server-allocation-actions" formaction="{_change(server)[:-7]}'
        f'allocations/{second.pk}/remove/"'
    ) in html
    assert f"allocations/{second.pk}/primary/" in html
    primary = Allocation.objects.get(server=server, is_primary=True)
    assert f"allocations/{primary.pk}/remove/" not in html
    assert '<form id="server-allocation-actions"' in html
    assert f'data-ajax--url="{AUTOCOMPLETE}?node={server.node_id}"' in html
    # Held rows are never deleted from the inline.
    assert "allocations-0-DELETE" not in html


def _assign(client, server, **data):
    return client.post(f"{LIST}{server.pk}/allocations/assign/", data, follow=True)


def test_assign_next_available_goes_past_the_limit_and_logs_the_admin(admin_client, admin_user):
    server = factories.make_server(limit=1)
    response = _assign(admin_client, server, next="1")
    assert response.redirect_chain[-1][0] == _change(server)
    assert _held(server) == {25565: True, 25566: False}
    assert any("above its limit of 1" in m for m in _messages(response))
    entry = ActivityEntry.objects.get(event="server:allocation.create")
    assert (entry.server_id, entry.actor_id) == (server.pk, admin_user.pk)
    assert entry.properties == {"allocation": "10.0.0.1:25566"}
    assert entry.ip == "127.0.0.1" and entry.api_key_identifier == ""


def test_assign_a_chosen_free_allocation(admin_client, server):
    chosen = Allocation.objects.get(node=server.node, port=25570)
    response = _assign(admin_client, server, **{"assign-allocation": chosen.pk, "chosen": "1"})
    assert f"Assigned 10.0.0.1:25570 to {server}." in _messages(response)
    assert _held(server) == {25565: True, 25570: False}


def test_assigning_another_nodes_allocation_is_refused(admin_client, server):
    foreign = factories.make_pool(factories.make_node(), ip="10.0.0.1", ports=[25599])[0]
    response = _assign(admin_client, server, **{"assign-allocation": foreign.pk})
    assert any("not a free allocation of this node" in m for m in _messages(response))
    assert _held(server) == {25565: True}


def test_assign_without_a_choice_says_what_to_do(admin_client, server):
    response = _assign(admin_client, server, chosen="1")
    assert any("Choose a free allocation first" in m for m in _messages(response))
    assert _held(server) == {25565: True}


def test_assign_when_the_node_is_full_shows_the_services_refusal(admin_client):
    server = factories.make_server(ports=[25565])
    response = _assign(admin_client, server, next="1")
    assert "No available allocations found on this node." in _messages(response)


def test_remove_works_on_a_running_server_and_logs_the_admin(admin_client, admin_user):
    server = factories.make_server(state="running")
    second = allocation_assign(server=server, actor=Actor(user=None))
    response = admin_client.post(
        f"{LIST}{server.pk}/allocations/{second.pk}/remove/", {"notes": "x"}, follow=True
    )
    assert f"Removed 10.0.0.1:25566 from {server}; it is back in the pool." in _messages(response)
    assert _held(server) == {25565: True}
    second.refresh_from_db()
    assert (second.server_id, second.notes) == (None, None)
    entry = ActivityEntry.objects.get(event="server:allocation.delete")
    assert entry.actor_id == admin_user.pk


def test_the_primary_cannot_be_removed(admin_client, server):
    primary = Allocation.objects.get(server=server, is_primary=True)
    response = admin_client.post(f"{LIST}{server.pk}/allocations/{primary.pk}/remove/", follow=True)
    assert (
        "Cannot remove the primary allocation. Set another allocation as primary first."
        in _messages(response)
    )
    assert _held(server) == {25565: True}


def test_make_primary_works_on_a_running_server(admin_client, admin_user):
    server = factories.make_server(state="running")
    second = allocation_assign(server=server, actor=Actor(user=None))
    response = admin_client.post(f"{LIST}{server.pk}/allocations/{second.pk}/primary/", follow=True)
    assert f"10.0.0.1:25566 is now the primary allocation of {server}." in _messages(response)
    assert _held(server) == {25565: False, 25566: True}
    assert ActivityEntry.objects.get(event="server:allocation.primary").actor_id == admin_user.pk


def test_buttons_only_act_on_the_servers_own_allocations(admin_client, server):
    other = factories.make_server(ip="10.0.0.2")
    foreign = Allocation.objects.get(server=other)
    for action in ("primary", "remove"):
        response = admin_client.post(
            f"{LIST}{server.pk}/allocations/{foreign.pk}/{action}/", follow=True
        )
        assert "That allocation is not this server's." in _messages(response)
    assert _held(other) == {25565: True}


def test_allocation_buttons_answer_only_posts(admin_client, server):
    primary = Allocation.objects.get(server=server)
    for url in (
        f"{LIST}{server.pk}/allocations/assign/",
        f"{LIST}{server.pk}/allocations/{primary.pk}/primary/",
        f"{LIST}{server.pk}/allocations/{primary.pk}/remove/",
    ):
        assert admin_client.get(url).status_code == 405


def _change_data(server, **overrides):
    rows = list(Allocation.objects.filter(server=server).order_by("-is_primary", "ip_key", "port"))
    data = {
        "name": server.name,
        "owner": server.owner_id,
        "state": server.state,
        "status": server.status,
        "allocation_limit": server.allocation_limit,
        "allocations-TOTAL_FORMS": len(rows),
        "allocations-INITIAL_FORMS": len(rows),
        "allocations-MIN_NUM_FORMS": 0,
        "allocations-MAX_NUM_FORMS": 1000,
        "subusers-TOTAL_FORMS": 0,
        "subusers-INITIAL_FORMS": 0,
        "subusers-MIN_NUM_FORMS": 0,
        "subusers-MAX_NUM_FORMS": 1000,
    }
    for i, row in enumerate(rows):
        data[f"allocations-{i}-id"] = row.pk
        data[f"allocations-{i}-server"] = server.pk
        data[f"allocations-{i}-notes"] = row.notes or ""
    data.update(overrides)
    return data


def test_saving_the_server_edits_its_fields_but_not_its_node(admin_client, server):
    other_node = factories.make_node()
    response = admin_client.post(
        _change(server),
        _change_data(
            server, name="Renamed", state="running", allocation_limit=9, node=other_node.pk
        ),
    )
    assert response.status_code == 302, response.content[:3000]
    server.refresh_from_db()
    assert (server.name, server.state, server.allocation_limit) == ("Renamed", "running", 9)
    assert server.node_id != other_node.pk


def test_notes_edited_in_the_inline_go_through_the_notes_service(admin_client, admin_user, server):
    response = admin_client.post(
        _change(server), _change_data(server, **{"allocations-0-notes": "  main port  "})
    )
    assert response.status_code == 302, response.content[:3000]
    primary = Allocation.objects.get(server=server)
    assert primary.notes == "main port"
    entry = ActivityEntry.objects.get(event="server:allocation.notes")
    assert entry.properties == {"allocation": "10.0.0.1:25565", "old": None, "new": "main port"}
    assert entry.actor_id == admin_user.pk


def test_the_inline_cannot_add_or_delete_allocation_rows(admin_client, server):
    data = _change_data(server)
    data.update(
        {
            "allocations-0-DELETE": "on",
            "allocations-TOTAL_FORMS": 2,
            "allocations-1-notes": "sneaky",
            "allocations-1-server": server.pk,
        }
    )
    admin_client.post(_change(server), data)
    assert _held(server) == {25565: True}
    assert Allocation.objects.count() == 10


def test_deleting_a_server_returns_its_allocations_to_the_pool(admin_client, server):
    allocation_assign(server=server, actor=Actor(user=None))
    confirm = admin_client.get(f"{LIST}{server.pk}/delete/")
    assert "2 allocations go back to the node&#x27;s pool" in confirm.content.decode()
    admin_client.post(f"{LIST}{server.pk}/delete/", {"post": "yes"})
    assert not Server.objects.filter(pk=server.pk).exists()
    rows = Allocation.objects.filter(node=server.node)
    assert rows.count() == 10
    assert not rows.filter(server__isnull=False).exists()
    assert not rows.filter(is_primary=True).exists()


def test_bulk_deleting_servers_returns_their_allocations(admin_client, server):
    other = factories.make_server(ip="10.0.0.2")
    admin_client.post(
        LIST,
        {"action": "delete_selected", "_selected_action": [server.pk, other.pk], "post": "yes"},
    )
    assert not Server.objects.exists()
    assert not Allocation.objects.filter(server__isnull=False).exists()


def test_suspend_and_unsuspend_actions(admin_client, server):
    admin_client.post(LIST, {"action": "suspend", "_selected_action": [server.pk]})
    server.refresh_from_db()
    assert server.status == ServerStatus.SUSPENDED
    admin_client.post(LIST, {"action": "unsuspend", "_selected_action": [server.pk]})
    server.refresh_from_db()
    assert server.status == ServerStatus.ACTIVE
