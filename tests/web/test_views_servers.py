"""The server list, a server's page and its power buttons, through Django's test client."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations.models import Allocation
from panel.models import ActivityEntry
from panel.web import INLINE_ERROR_HEADER
from servers.models import Server
from tests import factories
from tests.web.conftest import signed_in

pytestmark = pytest.mark.django_db


def text(response) -> str:
    return response.content.decode()


def power_url(server) -> str:
    return f"/server/{server.identifier}/power/"


def state_of(server) -> str:
    return Server.objects.values_list("state", flat=True).get(pk=server.pk)


# --- the list ---------------------------------------------------------------------------------


def test_list_shows_owned_and_subuser_servers_only(owner, server, stranger):
    shared = factories.make_server(stranger, name="Shared with owner")
    factories.make_subuser(shared, owner, ["allocation.read"])
    factories.make_server(stranger, name="Not for owner")

    body = text(signed_in(owner).get("/"))

    assert "Test server" in body
    assert "Shared with owner" in body
    assert "owner stranger" in body  # whose server it is, when not the user's own
    assert "Not for owner" not in body


def test_list_shows_primary_address_state_and_status(owner):
    node = factories.make_node()
    factories.make_pool(node, ip="10.5.0.1", ports=[27015, 27016], alias="cs.example.com")
    factories.make_server(owner, node, state="running", name="Counter")
    factories.make_server(owner, status="suspended", name="Frozen")

    body = text(signed_in(owner).get("/"))

    assert "cs.example.com:27015" in body
    assert "state-running" in body and "Running" in body
    assert "Suspended" in body


def test_list_runs_a_fixed_number_of_queries(owner):
    client = signed_in(owner)
    factories.make_server(owner)
    client.get("/")
    with CaptureQueriesContext(connection) as one:
        client.get("/")
    for _ in range(4):
        factories.make_server(owner)
    with CaptureQueriesContext(connection) as five:
        client.get("/")
    assert len(five) == len(one)


def test_superuser_lists_own_servers_unless_asking_for_all(server):
    admin = factories.make_user("admin", is_superuser=True, is_staff=True)
    client = signed_in(admin)
    assert "Test server" not in text(client.get("/"))
    assert "Test server" in text(client.get("/?type=admin"))


def test_type_admin_shows_nothing_more_to_a_normal_user(owner, stranger):
    factories.make_server(stranger, name="Not for owner")
    assert "Not for owner" not in text(signed_in(owner).get("/?type=admin"))


def test_list_search_htmx_answers_the_results_fragment(owner, server):
    factories.make_server(owner, name="Creative world")
    response = signed_in(owner, hx=True).get("/", {"q": "creative"})
    body = text(response)
    assert response.status_code == 200
    assert body.lstrip().startswith('<div id="server-results"')
    assert "Creative world" in body
    assert "Test server" not in body
    assert "<html" not in body


def test_list_search_matches_a_port(owner, server):
    body = text(signed_in(owner).get("/", {"q": "25565"}))
    assert "Test server" in body


def test_list_says_when_there_are_no_servers(stranger):
    body = text(signed_in(stranger).get("/"))
    assert "You have no servers yet." in body


def test_list_requires_login(client):
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=/"


# --- the server page ----------------------------------------------------------------------------


def test_server_page_header_has_name_address_copy_and_state(browser, server):
    response = browser.get(f"/server/{server.identifier}/")
    body = text(response)
    assert response.status_code == 200
    assert '<h1 id="server-name">Test server</h1>' in body
    assert 'data-copy="10.0.0.1:25565"' in body
    assert "Offline" in body
    assert "Owner: every permission" in body


def test_server_page_answers_for_the_uuid_too(browser, server):
    assert browser.get(f"/server/{server.uuid}/").status_code == 200


def test_server_page_is_404_for_a_stranger(server, stranger):
    assert signed_in(stranger).get(f"/server/{server.identifier}/").status_code == 404


def test_server_page_htmx_answers_the_header_fragment(htmx, server):
    response = htmx.get(f"/server/{server.identifier}/")
    assert text(response).lstrip().startswith('<section id="server-header"')


def test_offline_server_shows_start_only(browser, server):
    body = text(browser.get(f"/server/{server.identifier}/"))
    assert 'value="start"' in body
    assert 'value="stop"' not in body


def test_running_server_shows_restart_and_stop(owner):
    server = factories.make_server(owner, state="running")
    body = text(signed_in(owner).get(f"/server/{server.identifier}/"))
    assert 'value="restart"' in body and 'value="stop"' in body
    assert 'value="start"' not in body


def test_stopping_server_offers_kill(owner):
    server = factories.make_server(owner, state="stopping")
    body = text(signed_in(owner).get(f"/server/{server.identifier}/"))
    assert 'value="kill"' in body


def test_power_buttons_are_hidden_from_a_subuser_without_control(server, stranger):
    factories.make_subuser(server, stranger, ["allocation.read"])
    body = text(signed_in(stranger).get(f"/server/{server.identifier}/"))
    assert 'name="signal"' not in body
    assert "Subuser: allocation.read" in body


def test_suspended_server_has_no_power_buttons_and_says_suspended(owner):
    server = factories.make_server(owner, status="suspended")
    body = text(signed_in(owner).get(f"/server/{server.identifier}/"))
    assert 'name="signal"' not in body
    assert "Suspended" in body


# --- power ------------------------------------------------------------------------------------


def test_start_records_running_swaps_the_header_and_announces_the_change(htmx, server):
    response = htmx.post(power_url(server), {"signal": "start"})

    assert response.status_code == 200
    assert state_of(server) == "running"
    body = text(response)
    assert body.lstrip().startswith('<section id="server-header"')
    assert "Running" in body and 'value="stop"' in body
    assert json.loads(response["HX-Trigger"]) == {"server-state-changed": {"state": "running"}}
    entry = ActivityEntry.objects.get(event="server:power.start")
    assert entry.server_id == server.pk and entry.actor_id == server.owner_id


def test_stop_records_offline(owner):
    server = factories.make_server(owner, state="running")
    response = signed_in(owner, hx=True).post(power_url(server), {"signal": "stop"})
    assert response.status_code == 200
    assert state_of(server) == "offline"


def test_power_refused_to_a_subuser_without_the_signals_permission(server, stranger):
    factories.make_subuser(server, stranger, ["control.stop"])
    response = signed_in(stranger, hx=True).post(power_url(server), {"signal": "start"})
    assert response.status_code == 403
    assert response[INLINE_ERROR_HEADER] == "1"
    assert response["HX-Retarget"] == "#power-error"
    assert "You do not have permission to perform this action." in text(response)
    assert state_of(server) == "offline"
    assert not ActivityEntry.objects.filter(event__startswith="server:power").exists()


def test_power_allowed_to_a_subuser_with_the_signals_permission(server, stranger):
    factories.make_subuser(server, stranger, ["control.start"])
    response = signed_in(stranger, hx=True).post(power_url(server), {"signal": "start"})
    assert response.status_code == 200
    assert state_of(server) == "running"


def test_power_on_a_suspended_server_says_so(owner):
    server = factories.make_server(owner, status="suspended")
    response = signed_in(owner, hx=True).post(power_url(server), {"signal": "start"})
    assert response.status_code == 400
    assert "This server is suspended." in text(response)
    assert state_of(server) == "offline"


def test_power_with_an_unknown_signal_is_refused(htmx, server):
    response = htmx.post(power_url(server), {"signal": "explode"})
    assert response.status_code == 422
    assert "The selected signal is invalid." in text(response)


def test_power_by_a_stranger_is_not_found(server, stranger):
    response = signed_in(stranger, hx=True).post(power_url(server), {"signal": "start"})
    assert response.status_code == 404
    assert state_of(server) == "offline"
    assert signed_in(stranger).post(power_url(server), {"signal": "start"}).status_code == 404


def test_power_without_a_csrf_token_is_refused(owner, server):
    client = signed_in(owner, hx=True, enforce_csrf=True)
    assert client.post(power_url(server), {"signal": "start"}).status_code == 403
    assert state_of(server) == "offline"


def test_power_answers_405_to_get(browser, server):
    assert browser.get(power_url(server)).status_code == 405


def test_power_without_javascript_returns_to_the_page_it_came_from(browser, server):
    back = f"/server/{server.identifier}/network/"
    response = browser.post(power_url(server), {"signal": "start", "next": back}, follow=True)
    assert response.redirect_chain == [(back, 302)]
    assert "Test server started." in text(response)


def test_power_without_javascript_never_returns_to_another_site(browser, server):
    response = browser.post(power_url(server), {"signal": "start", "next": "https://evil.test/"})
    assert response["Location"] == f"/server/{server.identifier}/"


def test_network_tab_refreshes_itself_when_the_state_changes(browser, server):
    body = text(browser.get(f"/server/{server.identifier}/network/"))
    assert 'hx-trigger="server-state-changed from:body"' in body


def test_the_header_address_follows_the_primary(browser, server):
    Allocation.objects.filter(server=server).update(ip_alias="mc.example.com")
    body = text(browser.get(f"/server/{server.identifier}/"))
    assert 'data-copy="mc.example.com:25565"' in body


def test_pages_answer_head_like_get(browser, server):
    for url in ("/", f"/server/{server.identifier}/", f"/server/{server.identifier}/network/"):
        assert browser.head(url).status_code == 200
