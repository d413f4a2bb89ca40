"""Only staff reach the admin: whatever anyone else tries there ends at the login page, and
changes nothing."""

import pytest
from django.test import Client

from allocations.models import Allocation
from panel.models import ActivityEntry
from tests import factories

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/"


@pytest.fixture
def world(server):
    spare = Allocation.objects.filter(node=server.node, server__isnull=True).order_by("port")
    allocation_id = spare.first().pk
    factories.make_key(server.owner)
    return {"server": server, "node": server.node, "allocation": allocation_id}


def _get_urls(world):
    server, node, allocation = world["server"].pk, world["node"].pk, world["allocation"]
    return [
        "/admin/",
        "/admin/servers/",
        "/admin/servers/node/",
        "/admin/servers/node/add/",
        f"/admin/servers/node/{node}/change/",
        f"/admin/servers/node/{node}/delete/",
        f"/admin/servers/node/{node}/pool/",
        "/admin/servers/server/",
        "/admin/servers/server/add/",
        f"/admin/servers/server/{server}/change/",
        f"/admin/servers/server/{server}/delete/",
        "/admin/servers/subuser/",
        "/admin/allocations/allocation/",
        f"/admin/allocations/allocation/{allocation}/change/",
        "/admin/allocations/allocation/free-autocomplete/?term=10",
        "/admin/panel/apikey/",
        "/admin/panel/activityentry/",
        "/admin/auth/user/",
        "/admin/no/such/page/",
    ]


def _post_requests(world):
    server, node, allocation = world["server"].pk, world["node"].pk, world["allocation"]
    return [
        (f"/admin/servers/node/{node}/pool/", {"ip": "10.9.9.9", "ports": "1000-1010"}),
        (f"/admin/servers/server/{server}/allocations/assign/", {"next": "1"}),
        (f"/admin/servers/server/{server}/allocations/{allocation}/primary/", {}),
        (f"/admin/servers/server/{server}/allocations/{allocation}/remove/", {}),
        ("/admin/servers/node/add/", {"name": "sneaky", "fqdn": "x.test"}),
        (
            "/admin/allocations/allocation/",
            {"action": "delete_free", "_selected_action": [str(allocation)]},
        ),
    ]


def _assert_sent_to_login(response, url):
    assert response.status_code == 302, (url, response.status_code)
    assert response["Location"].startswith(LOGIN), (url, response["Location"])


def _snapshot():
    return (
        Allocation.objects.filter(server__isnull=False).count(),
        Allocation.objects.count(),
        ActivityEntry.objects.count(),
    )


@pytest.mark.parametrize("who", ["anonymous", "not staff"])
def test_every_admin_page_sends_a_non_staff_visitor_to_the_login_page(world, who):
    client = Client()
    if who == "not staff":
        client.force_login(factories.make_user("customer"))
    for url in _get_urls(world):
        _assert_sent_to_login(client.get(url), url)


@pytest.mark.parametrize("who", ["anonymous", "not staff"])
def test_every_admin_write_by_a_non_staff_visitor_ends_at_login_and_changes_nothing(world, who):
    client = Client()
    if who == "not staff":
        client.force_login(factories.make_user("customer"))
    before = _snapshot()
    for url, data in _post_requests(world):
        response = client.post(url, data, follow=True)
        assert response.redirect_chain, url
        assert response.redirect_chain[-1][0].startswith(LOGIN), url
        assert "admin/login.html" in [t.name for t in response.templates], url
    assert _snapshot() == before


def test_the_login_page_tells_a_signed_in_customer_they_are_not_authorised(world):
    client = Client()
    client.force_login(factories.make_user("customer"))
    response = client.get("/admin/servers/server/", follow=True)
    assert response.redirect_chain[-1][0].startswith(LOGIN)
    assert b"not authorized to access this page" in response.content


def test_an_inactive_staff_user_is_sent_to_the_login_page(world):
    client = Client()
    client.force_login(factories.make_user("former", is_staff=True, is_active=False))
    _assert_sent_to_login(client.get("/admin/servers/node/"), "/admin/servers/node/")


def test_staff_without_permissions_cannot_use_the_pool_page_or_allocation_buttons(world):
    client = Client()
    client.force_login(factories.make_user("intern", is_staff=True))
    before = _snapshot()
    for url, data in _post_requests(world)[:4]:
        assert client.post(url, data).status_code == 403, url
    assert client.get(f"/admin/servers/node/{world['node'].pk}/pool/").status_code == 403
    assert client.get("/admin/allocations/allocation/free-autocomplete/").status_code == 403
    assert _snapshot() == before


def test_a_superuser_reaches_every_admin_page(world, admin_client):
    for url in _get_urls(world)[:-1]:
        response = admin_client.get(url)
        assert response.status_code == 200, (url, response.status_code)


def test_admin_writes_need_the_csrf_token(world, admin_user):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    before = _snapshot()
    for url, data in _post_requests(world):
        assert client.post(url, data).status_code == 403, url
    assert _snapshot() == before
