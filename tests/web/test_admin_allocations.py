"""The allocation list: fixed queries whatever the row count, no full count of the table,
filters, search, the editable alias, and the bulk delete that refuses held allocations."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations.models import Allocation
from allocations.services import allocation_assign
from panel.activity import Actor
from panel.admin import LargeTablePaginator
from tests import factories
from tests.conftest import is_postgres

pytestmark = pytest.mark.django_db

LIST = "/admin/allocations/allocation/"


def _ids(response) -> set[int]:
    return {row.pk for row in response.context["cl"].result_list}


def _addresses(response) -> set[str]:
    return {row.address for row in response.context["cl"].result_list}


def _queries(client, url) -> list[str]:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url)
        assert response.status_code == 200, response.content[:500]
    return [q["sql"] for q in captured.captured_queries]


@pytest.mark.parametrize("query", ["", "?status=free", "?q=10.0.0.1"])
def test_allocation_list_runs_the_same_queries_for_ten_rows_as_for_hundreds(admin_client, query):
    server = factories.make_server()
    few = len(_queries(admin_client, LIST + query))
    factories.make_pool(server.node, ip="10.0.0.1", ports=range(1000, 1300))
    factories.make_pool(factories.make_node(), ip="10.0.0.2", ports=range(1000, 1100))
    assert len(_queries(admin_client, LIST + query)) == few


def test_allocation_list_filtered_by_node_runs_the_same_queries_however_big_the_pool(
    admin_client,
):
    node = factories.make_node()
    factories.make_pool(node, ip="10.0.0.1", ports=range(1000, 1005))
    url = f"{LIST}?node__id__exact={node.pk}"
    few = len(_queries(admin_client, url))
    for last in range(2, 40):
        factories.make_pool(node, ip=f"10.0.0.{last}", ports=range(1000, 1010))
    assert len(_queries(admin_client, url)) == few


def test_allocation_list_counts_through_a_capped_subquery_first(admin_client, monkeypatch):
    """Only PostgreSQL can estimate; there no count ever reads the whole table. Elsewhere
    (SQLite, for development) the exact count is taken only once the cap is passed."""
    monkeypatch.setattr(LargeTablePaginator, "exact_limit", 50)
    factories.make_pool(factories.make_node(), ports=range(1000, 1200))
    for url in (LIST, LIST + "?status=free", LIST + "?q=10.0.0.1"):
        counts = [sql for sql in _queries(admin_client, url) if "COUNT(" in sql.upper()]
        assert counts, url
        if is_postgres():
            uncapped = [sql for sql in counts if not re.search(r"LIMIT 51\b", sql)]
            assert not uncapped, uncapped
        else:
            assert re.search(r"LIMIT 51\b", counts[0]), counts[0]


@pytest.mark.postgres
def test_on_postgresql_a_big_unfiltered_list_shows_the_planner_estimate(admin_client, monkeypatch):
    monkeypatch.setattr(LargeTablePaginator, "exact_limit", 50)
    factories.make_pool(factories.make_node(), ports=range(1000, 1300))
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {Allocation._meta.db_table}")
    response = admin_client.get(LIST)
    paginator = response.context["cl"].paginator
    assert paginator.is_estimate
    assert "about 300 allocations" in response.content.decode()
    searched = admin_client.get(LIST + "?q=10.0.0")
    assert searched.context["cl"].paginator.is_estimate
    assert searched.context["cl"].paginator.count > 50
    assert re.search(r"about [0-9,]+ results", searched.content.decode())


def test_a_small_list_is_counted_exactly(admin_client):
    factories.make_pool(factories.make_node(), ports=range(1000, 1007))
    response = admin_client.get(LIST)
    assert response.context["cl"].paginator.count == 7
    assert not response.context["cl"].paginator.is_estimate
    assert "about" not in re.sub(r"\s+", " ", response.content.decode()).split("paginator")[-1]


def test_paginator_counts_a_filtered_list_exactly_below_the_cap():
    node = factories.make_node()
    factories.make_pool(node, ports=range(1, 31))
    paginator = LargeTablePaginator(Allocation.objects.filter(port__lte=12), 10)
    assert paginator.count == 12
    assert paginator.num_pages == 2


@pytest.fixture
def mixed(db):
    """Two nodes; a server holding two allocations (one with notes); aliases; IPv6."""
    server = factories.make_server(name="Survival", ip="10.0.0.1", ports=range(25565, 25570))
    node = server.node
    second = allocation_assign(server=server, actor=Actor(user=None))
    Allocation.objects.filter(pk=second.pk).update(notes="voice chat")
    factories.make_pool(node, ip="::1", ports=[25565], alias="v6.example.com")
    other = factories.make_node("other-node")
    factories.make_pool(other, ip="10.0.0.2", ports=[27015, 27016], alias="play.example.com")
    return {"server": server, "node": node, "other": other}


def test_filter_by_node(admin_client, mixed):
    response = admin_client.get(f"{LIST}?node__id__exact={mixed['other'].pk}")
    assert _addresses(response) == {"10.0.0.2:27015", "10.0.0.2:27016"}


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("assigned", {"10.0.0.1:25565", "10.0.0.1:25566"}),
        ("primary", {"10.0.0.1:25565"}),
        ("free", {"10.0.0.1:25567", "10.0.0.1:25568", "10.0.0.1:25569", "[::1]:25565"}),
    ],
)
def test_filter_by_assigned_or_free(admin_client, mixed, status, expected):
    response = admin_client.get(f"{LIST}?status={status}&node__id__exact={mixed['node'].pk}")
    assert _addresses(response) == expected


def test_filter_by_address_lists_the_chosen_nodes_addresses(admin_client, mixed):
    node = mixed["node"].pk
    response = admin_client.get(f"{LIST}?node__id__exact={node}")
    html = response.content.decode()
    assert f"?ip=10.0.0.1&amp;node__id__exact={node}" in html
    assert f"?ip=%3A%3A1&amp;node__id__exact={node}" in html
    assert "?ip=10.0.0.2" not in html  # the other node's address
    # Compared by value: the long form of ::1 finds it.
    response = admin_client.get(f"{LIST}?ip=0:0:0:0:0:0:0:1")
    assert _addresses(response) == {"[::1]:25565"}


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("10.0.0.2", {"10.0.0.2:27015", "10.0.0.2:27016"}),
        ("10.0.0.1:25566", {"10.0.0.1:25566"}),
        ("[0:0:0:0:0:0:0:1]:25565", {"[::1]:25565"}),
        ("::1", {"[::1]:25565"}),
        ("play.example", {"10.0.0.2:27015", "10.0.0.2:27016"}),
        ("VOICE", {"10.0.0.1:25566"}),
        ("survival", {"10.0.0.1:25565", "10.0.0.1:25566"}),
        ("27016", {"10.0.0.2:27016"}),
        ("other-node 27015", {"10.0.0.2:27015"}),
        ("10.0.0.", None),  # the start of an address: every IPv4 row
    ],
)
def test_search_by_address_port_alias_notes_and_server(admin_client, mixed, term, expected):
    response = admin_client.get(LIST, {"q": term})
    assert response.status_code == 200
    if expected is None:
        expected = set(Allocation.objects.exclude(ip="::1").values_list("ip", "port").distinct())
        expected = {f"{ip}:{port}" for ip, port in expected}
    assert _addresses(response) == expected


def test_search_by_server_identifier(admin_client, mixed):
    response = admin_client.get(LIST, {"q": mixed["server"].identifier.upper()})
    assert _addresses(response) == {"10.0.0.1:25565", "10.0.0.1:25566"}


def test_alias_is_editable_in_the_list_and_nothing_else_changes(admin_client, mixed):
    held = Allocation.objects.get(port=25566, ip="10.0.0.1")
    response = admin_client.post(
        f"{LIST}?node__id__exact={mixed['node'].pk}",
        {
            "form-TOTAL_FORMS": "1",
            "form-INITIAL_FORMS": "1",
            "form-0-id": str(held.pk),
            "form-0-ip_alias": "  mc.example.com ",
            "_save": "Save",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    held.refresh_from_db()
    assert held.ip_alias == "mc.example.com"
    assert held.server_id == mixed["server"].pk
    assert held.notes == "voice chat"
    html = admin_client.get(LIST).content.decode()
    assert 'name="form-0-ip_alias"' in html


def test_bulk_delete_removes_free_allocations_and_refuses_held_ones_by_name(admin_client, mixed):
    server = mixed["server"]
    chosen = list(Allocation.objects.filter(node=mixed["node"]).values_list("pk", flat=True))
    response = admin_client.post(
        LIST, {"action": "delete_free", "_selected_action": [str(pk) for pk in chosen]}, follow=True
    )
    messages = [str(m) for m in response.context["messages"]]
    assert any("Deleted 4 free allocations." in m for m in messages), messages
    refusal = next(m for m in messages if m.startswith("Not deleted"))
    assert f"10.0.0.1:25565 (held by {server})" in refusal
    assert f"10.0.0.1:25566 (held by {server})" in refusal
    remaining = set(Allocation.objects.filter(node=mixed["node"]).values_list("port", "server"))
    assert remaining == {(25565, server.pk), (25566, server.pk)}
    assert Allocation.objects.filter(node=mixed["other"]).count() == 2


def test_bulk_delete_across_all_pages_keeps_held_allocations(admin_client, mixed):
    response = admin_client.post(
        LIST,
        {"action": "delete_free", "select_across": "1", "_selected_action": ["1"]},
        follow=True,
    )
    assert response.status_code == 200
    assert set(Allocation.objects.values_list("server", flat=True)) == {mixed["server"].pk}
    assert Allocation.objects.count() == 2


def test_bulk_delete_of_only_held_allocations_deletes_nothing(admin_client, mixed):
    held = Allocation.objects.filter(server__isnull=False)
    response = admin_client.post(
        LIST,
        {"action": "delete_free", "_selected_action": [str(a.pk) for a in held]},
        follow=True,
    )
    messages = [str(m) for m in response.context["messages"]]
    assert len(messages) == 1 and messages[0].startswith("Not deleted")
    assert Allocation.objects.filter(server__isnull=False).count() == 2


def test_djangos_own_delete_action_is_not_offered(admin_client, mixed):
    response = admin_client.get(LIST)
    actions = [choice[0] for choice in response.context["action_form"].fields["action"].choices]
    assert "delete_selected" not in actions
    assert "delete_free" in actions


def test_a_held_allocation_cannot_be_deleted_from_its_page(admin_client, mixed):
    held = Allocation.objects.filter(server__isnull=False).first()
    assert admin_client.get(f"{LIST}{held.pk}/delete/").status_code == 403
    assert admin_client.post(f"{LIST}{held.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Allocation.objects.filter(pk=held.pk).exists()


def test_a_free_allocation_can_be_deleted_from_its_page(admin_client, mixed):
    free = Allocation.objects.filter(server__isnull=True).first()
    assert admin_client.get(f"{LIST}{free.pk}/delete/").status_code == 200
    admin_client.post(f"{LIST}{free.pk}/delete/", {"post": "yes"})
    assert not Allocation.objects.filter(pk=free.pk).exists()


def test_allocation_page_shows_its_server_and_edits_only_the_alias(admin_client, mixed):
    held = Allocation.objects.get(port=25566, ip="10.0.0.1")
    page = admin_client.get(f"{LIST}{held.pk}/change/")
    html = page.content.decode()
    assert f"/admin/servers/server/{mixed['server'].pk}/change/" in html
    assert 'name="ip_alias"' in html and 'name="port"' not in html
    admin_client.post(f"{LIST}{held.pk}/change/", {"ip_alias": "x.example.com", "port": "1"})
    held.refresh_from_db()
    assert (held.ip_alias, held.port, held.server_id) == (
        "x.example.com",
        25566,
        mixed["server"].pk,
    )


def test_allocations_are_not_added_one_by_one_but_from_a_nodes_pool_page(admin_client, mixed):
    assert admin_client.get(f"{LIST}add/").status_code == 403
    html = admin_client.get(f"{LIST}?node__id__exact={mixed['node'].pk}").content.decode()
    assert f"/admin/servers/node/{mixed['node'].pk}/pool/" in html


def test_set_alias_action_writes_the_alias_of_every_selected_allocation(admin_client, mixed):
    chosen = Allocation.objects.filter(node=mixed["node"], ip="10.0.0.1")
    response = admin_client.post(
        LIST,
        {
            "action": "set_alias",
            "ip_alias": " eu.example.com ",
            "_selected_action": [str(a.pk) for a in chosen],
        },
        follow=True,
    )
    assert "5 allocations now have “eu.example.com”." in [
        str(m) for m in response.context["messages"]
    ]
    assert set(chosen.values_list("ip_alias", flat=True)) == {"eu.example.com"}
    # Held rows keep their server and notes.
    assert chosen.filter(server=mixed["server"]).count() == 2
    assert chosen.filter(notes="voice chat").count() == 1
    assert Allocation.objects.get(ip="::1").ip_alias == "v6.example.com"


def test_set_alias_action_with_an_empty_alias_removes_it(admin_client, mixed):
    other = Allocation.objects.filter(node=mixed["other"])
    admin_client.post(
        LIST, {"action": "set_alias", "ip_alias": "", "_selected_action": [a.pk for a in other]}
    )
    assert set(other.values_list("ip_alias", flat=True)) == {None}
