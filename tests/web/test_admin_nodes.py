"""Nodes in the admin: the list with pool counts, creating, editing and deleting."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations.models import Allocation
from allocations.services import allocation_assign
from panel.activity import Actor
from servers.models import Node
from tests import factories

pytestmark = pytest.mark.django_db

LIST = "/admin/servers/node/"


def _node_with(free: int, assigned: int, name: str | None = None) -> Node:
    node = factories.make_node(name)
    factories.make_pool(node, ip="10.0.0.1", ports=range(20000, 20000 + free + assigned))
    if assigned:
        server = factories.make_server(node=node, limit=assigned)
        for _ in range(assigned - 1):
            allocation_assign(server=server, actor=Actor(user=None))
    return node


def _row(html: str, name: str) -> str:
    """The changelist row of the node called `name`."""
    return next(row for row in html.split("<tr") if f">{name}</a>" in row)


def test_node_list_shows_each_nodes_free_and_assigned_counts(admin_client):
    busy = _node_with(free=1500, assigned=3, name="busy")
    factories.make_node("empty")
    response = admin_client.get(LIST)
    assert response.status_code == 200
    html = response.content.decode()
    row = _row(html, "busy")
    assert '<td class="field-free">1,500</td>' in row
    assert '<td class="field-assigned">3</td>' in row
    assert '<td class="field-servers">1</td>' in row
    assert f"/admin/servers/node/{busy.pk}/pool/" in row
    row = _row(html, "empty")
    assert '<td class="field-free">0</td>' in row and '<td class="field-assigned">0</td>' in row


def _queries_for_list(client) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(LIST).status_code == 200
    return len(captured)


def test_node_list_runs_the_same_queries_for_one_node_as_for_many(admin_client):
    _node_with(free=2, assigned=1)
    one = _queries_for_list(admin_client)
    for _ in range(6):
        _node_with(free=5, assigned=2)
    assert _queries_for_list(admin_client) == one


def test_adding_a_node_leads_straight_to_its_pool_page(admin_client):
    response = admin_client.post(
        "/admin/servers/node/add/", {"name": "fra-1", "fqdn": "fra1.example.com"}
    )
    node = Node.objects.get(name="fra-1")
    assert node.fqdn == "fra1.example.com"
    assert response.status_code == 302
    assert response["Location"] == f"/admin/servers/node/{node.pk}/pool/"


def test_a_node_name_of_only_digits_is_refused(admin_client):
    response = admin_client.post("/admin/servers/node/add/", {"name": "123", "fqdn": "x.test"})
    assert response.status_code == 200
    assert "A node name cannot be all digits." in response.content.decode()
    assert not Node.objects.filter(name="123").exists()


def test_a_node_can_be_renamed(admin_client):
    node = factories.make_node("old-name")
    response = admin_client.post(
        f"/admin/servers/node/{node.pk}/change/", {"name": "new-name", "fqdn": "new.test"}
    )
    assert response.status_code == 302
    node.refresh_from_db()
    assert (node.name, node.fqdn) == ("new-name", "new.test")


def test_node_page_summarises_the_pool_by_address(admin_client):
    node = factories.make_node()
    factories.make_pool(node, ip="10.0.0.2", ports=range(30000, 30004))
    factories.make_pool(node, ip="10.0.0.1", ports=range(30000, 30002))
    response = admin_client.get(f"/admin/servers/node/{node.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200
    assert "6 free, 0 assigned" in html
    # Numeric address order, each with its port count and a link to its allocations.
    assert html.index(">10.0.0.1<") < html.index(">10.0.0.2<")
    assert f"?node__id__exact={node.pk}&amp;ip=10.0.0.2" in html


def test_deleting_a_node_without_servers_takes_its_pool_with_it(admin_client):
    node = factories.make_node()
    factories.make_pool(node, ports=range(1000, 1050))
    confirm = admin_client.get(f"/admin/servers/node/{node.pk}/delete/")
    assert confirm.status_code == 200
    assert "50 allocations of its IP pool" in confirm.content.decode()
    response = admin_client.post(f"/admin/servers/node/{node.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Node.objects.filter(pk=node.pk).exists()
    assert not Allocation.objects.filter(node_id=node.pk).exists()


def test_a_node_with_servers_cannot_be_deleted_and_the_servers_are_named(admin_client):
    server = factories.make_server(name="Survival")
    node = server.node
    confirm = admin_client.get(f"/admin/servers/node/{node.pk}/delete/")
    html = confirm.content.decode()
    assert "Cannot delete" in html
    assert "Survival" in html
    admin_client.post(f"/admin/servers/node/{node.pk}/delete/", {"post": "yes"})
    assert Node.objects.filter(pk=node.pk).exists()
    assert Allocation.objects.filter(node=node).count() == 10
