"""Admin: per node, the allocations that are down now, and since when."""

from datetime import timedelta

import pytest
from django.test import Client

from allocations.models import Allocation
from monitoring.models import AllocationMonitor
from tests import factories
from tests.monitoring.conftest import make_loopback_server, state

pytestmark = pytest.mark.django_db

URL = "/admin/monitoring/downallocation/"


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(factories.make_user("root", is_staff=True, is_superuser=True))
    return client


@pytest.fixture
def nodes(owner):
    """Two nodes: on the first, 20001 down for 3 hours, 20002 up, 20003 down for 5 minutes;
    on the second, 20011 down for 2 days."""
    first = make_loopback_server(owner, [20001, 20002, 20003])
    second = make_loopback_server(owner, [20011])
    rows = {a.port: a for a in Allocation.objects.filter(server__in=[first, second])}
    state(rows[20001], down_for=timedelta(hours=3))
    state(rows[20002], down_for=None)
    state(rows[20003], down_for=timedelta(minutes=5))
    state(rows[20011], down_for=timedelta(days=2))
    return first.node, second.node


def test_the_down_list_shows_each_down_allocation_with_its_node_and_since_when(admin_client, nodes):
    first, second = nodes

    response = admin_client.get(URL)

    assert response.status_code == 200
    listed = [(m.allocation.port, m.allocation.node_id) for m in response.context["cl"].result_list]
    # Per node, longest down first; the one that is up is not listed.
    assert sorted(listed, key=lambda x: x[1]) == [
        (20001, first.pk),
        (20003, first.pk),
        (20011, second.pk),
    ]
    page = response.content.decode()
    assert "127.0.0.1:20001" in page and "127.0.0.1:20002" not in page
    assert "3\xa0hours" in page and "2\xa0days" in page
    assert "connection refused" in page


def test_the_down_list_filters_by_node(admin_client, nodes):
    first, _ = nodes

    response = admin_client.get(URL, {"allocation__node__id__exact": first.pk})

    assert response.status_code == 200
    assert [m.allocation.port for m in response.context["cl"].result_list] == [20001, 20003]


def test_the_down_list_leaves_out_what_was_recorded_for_a_previous_server(admin_client, owner):
    server = make_loopback_server(owner, [20021])
    row = Allocation.objects.get(server=server)
    Allocation.objects.create(node=server.node, ip=row.ip, port=20022)
    previous = factories.make_server(factories.make_user("earlier"), node=server.node)
    state(row, down_for=timedelta(hours=1), server=previous)

    response = admin_client.get(URL)

    assert list(response.context["cl"].result_list) == []


def test_the_down_list_is_read_only(admin_client, nodes):
    assert admin_client.get(URL + "add/").status_code == 403
    monitor = AllocationMonitor.objects.filter(down_since__isnull=False).first()
    assert admin_client.post(URL + f"{monitor.pk}/delete/", {"post": "yes"}).status_code == 403
    assert AllocationMonitor.objects.filter(pk=monitor.pk).exists()


def test_the_down_list_is_for_staff_only(nodes, owner):
    client = Client()
    client.force_login(owner)

    response = client.get(URL)

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
