"""Admin: from a node (its row in the node list, its change page) to the allocations of that
node that are down now, and since when."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from allocations.models import Allocation
from tests import factories
from tests.monitoring.conftest import make_loopback_server, state

pytestmark = pytest.mark.django_db

NODES = "/admin/servers/node/"
DOWN = "/admin/monitoring/downallocation/"


@pytest.fixture
def root():
    client = Client()
    client.force_login(factories.make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def nodes(owner):
    """ "busy": 20001 down for 3 hours, 20002 up, 20003 down for 5 minutes; "calm": 20011 up,
    and 20012 down, but as recorded for the server that held it before."""
    busy = make_loopback_server(owner, [20001, 20002, 20003])
    calm = make_loopback_server(owner, [20011, 20012])
    busy.node.name, calm.node.name = "busy", "calm"
    busy.node.save()
    calm.node.save()
    rows = {a.port: a for a in Allocation.objects.filter(server__in=[busy, calm])}
    state(rows[20001], down_for=timedelta(hours=3))
    state(rows[20002], down_for=None)
    state(rows[20003], down_for=timedelta(minutes=5))
    state(rows[20011], down_for=None)
    previous = factories.make_server(factories.make_user("earlier"))
    state(rows[20012], down_for=timedelta(days=1), server=previous)
    return busy.node, calm.node


def _row(html: str, name: str) -> str:
    return next(row for row in html.split("<tr") if f">{name}</a>" in row)


def test_the_node_list_counts_each_nodes_down_allocations_and_links_to_them(root, nodes):
    busy, calm = nodes

    html = root.get(NODES).content.decode()

    link = f"{DOWN}?allocation__node__id__exact={busy.pk}"
    assert f'<td class="field-down_now"><a href="{link}">2 down</a></td>' in _row(html, "busy")
    assert '<td class="field-down_now">—</td>' in _row(html, "calm")


def test_the_link_lists_that_nodes_down_allocations_and_since_when(root, nodes):
    busy, _ = nodes
    html = root.get(NODES).content.decode()
    link = next(part for part in html.split('"') if part.startswith(DOWN + "?"))

    response = root.get(link.replace("&amp;", "&"))

    assert response.status_code == 200
    assert sorted(m.allocation.port for m in response.context["cl"].result_list) == [20001, 20003]
    page = response.content.decode()
    assert "3\xa0hours" in page and "connection refused" in page


def test_the_node_page_says_how_many_are_down_with_the_link(root, nodes):
    busy, calm = nodes

    page = root.get(f"{NODES}{busy.pk}/change/").content.decode()

    assert (
        f'<a href="{DOWN}?allocation__node__id__exact={busy.pk}">2 allocations down now</a>' in page
    )
    page = root.get(f"{NODES}{calm.pk}/change/").content.decode()
    assert "No allocation of this node is down now." in page


def test_staff_who_may_not_see_the_down_list_get_no_link_to_it(nodes):
    busy, _ = nodes
    staff = factories.make_user("clerk", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_node", "change_node"])
    )
    client = Client()
    client.force_login(staff)

    listing = client.get(NODES)
    page = client.get(f"{NODES}{busy.pk}/change/")

    assert listing.status_code == page.status_code == 200
    for html in (listing.content.decode(), page.content.decode()):
        assert DOWN not in html
        assert "Down now" not in html and "down now" not in html
