"""The network tab's views, through Django's test client: the whole page, the HTMX
fragments, the refusals in the words of the spec, CSRF and permissions."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations.models import Allocation
from allocations.services import allocation_assign
from panel.activity import Actor
from panel.models import ActivityEntry
from panel.web import INLINE_ERROR_HEADER
from tests import factories
from tests.web.conftest import signed_in

pytestmark = pytest.mark.django_db


def tab_url(server) -> str:
    return f"/server/{server.identifier}/network/"


def add_url(server) -> str:
    return f"/server/{server.identifier}/network/allocations/"


def row_url(server, allocation, action: str) -> str:
    return f"/server/{server.identifier}/network/allocations/{allocation.pk}/{action}/"


def held(server) -> list[Allocation]:
    return list(Allocation.objects.filter(server=server).order_by("id"))


def add(server, **kwargs) -> Allocation:
    return allocation_assign(server=server, actor=Actor(user=server.owner), **kwargs)


def text(response) -> str:
    return response.content.decode()


def assert_inline_error(response, status: int, detail: str, target: str):
    assert response.status_code == status, text(response)
    assert response[INLINE_ERROR_HEADER] == "1"
    assert response["HX-Retarget"] == target
    assert detail in text(response)


# --- reading -------------------------------------------------------------------------------


def test_tab_lists_allocations_primary_first_with_badge_port_and_notes(browser, server):
    second = add(server)
    Allocation.objects.filter(pk=second.pk).update(notes="Query port")
    Allocation.objects.filter(server=server).update(is_primary=False)
    Allocation.objects.filter(pk=second.pk).update(is_primary=True)

    response = browser.get(tab_url(server))

    assert response.status_code == 200
    body = text(response)
    rows = re.findall(r'<li id="alloc-(\d+)"', body)
    assert rows == [str(second.pk), str(held(server)[0].pk)]  # the primary first
    assert body.count(">Primary</span>") == 1
    assert 'value="Query port"' in body
    assert "25566" in body and "25565" in body
    assert "Using <strong>2</strong> of <strong>5</strong> allowed allocations" in body


def test_tab_shows_the_alias_with_the_address_beneath(owner):
    node = factories.make_node()
    factories.make_pool(node, ip="10.9.0.1", ports=[30000, 30001], alias="play.example.com")
    server = factories.make_server(owner, node)

    body = text(signed_in(owner).get(tab_url(server)))

    assert "play.example.com:30000" in body  # header address and copy button
    assert ">Hostname<" in body
    assert "10.9.0.1" in body


def test_tab_renders_every_allocation_without_javascript(browser, server):
    add(server)
    body = text(browser.get(tab_url(server)))
    # Server-rendered: the rows are in the HTML itself, no script needed to read them.
    assert len(re.findall(r'<li id="alloc-\d+"', body)) == 2
    assert "<noscript" not in body


def test_tab_htmx_get_answers_the_region_fragment_only(htmx, server):
    response = htmx.get(tab_url(server))
    assert response.status_code == 200
    body = text(response)
    assert body.lstrip().startswith('<div id="network-region"')
    assert "<html" not in body
    assert "HX-Request" in response["Vary"]


def test_tab_answers_404_for_a_server_the_user_may_not_see(server, stranger):
    response = signed_in(stranger).get(tab_url(server))
    assert response.status_code == 404
    assert "The requested resource could not be found." in text(response)


def test_tab_answers_404_for_an_unknown_server(browser):
    assert browser.get("/server/deadbeef/network/").status_code == 404


def test_tab_refuses_a_subuser_without_read_in_the_words_of_the_spec(server, stranger):
    factories.make_subuser(server, stranger, ["control.start"])
    response = signed_in(stranger).get(tab_url(server))
    assert response.status_code == 403
    body = text(response)
    assert "You do not have permission to perform this action." in body
    assert 'id="alloc-' not in body
    assert ">Network</a>" not in body  # the tab link itself is hidden


@pytest.mark.parametrize(
    ("status", "detail"),
    [
        ("suspended", "This server is suspended."),
        ("installing", "This server has not completed its installation."),
        ("install_failed", "This server has not completed its installation."),
    ],
)
def test_tab_of_an_unusable_server_says_why(owner, status, detail):
    server = factories.make_server(owner, status=status)
    response = signed_in(owner).get(tab_url(server))
    assert response.status_code == 400
    assert detail in text(response)
    assert 'id="alloc-' not in text(response)


def test_tab_htmx_refresh_of_an_unusable_server_swaps_the_reason_in(owner):
    server = factories.make_server(owner, status="suspended")
    response = signed_in(owner, hx=True).get(tab_url(server))
    assert_inline_error(response, 400, "This server is suspended.", "#network-region")
    assert response["HX-Reswap"] == "outerHTML"


def test_tab_runs_a_fixed_number_of_queries_however_many_allocations(owner):
    small = factories.make_server(owner, limit=10)
    large = factories.make_server(owner, limit=10)
    for _ in range(7):
        add(large)
    client = signed_in(owner)
    client.get(tab_url(small))  # warm the session

    with CaptureQueriesContext(connection) as few:
        assert client.get(tab_url(small)).status_code == 200
    with CaptureQueriesContext(connection) as many:
        assert client.get(tab_url(large)).status_code == 200

    assert len(many) == len(few)


def test_tab_requires_login(client, server):
    response = client.get(tab_url(server))
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_htmx_request_without_a_session_is_sent_to_sign_in_as_a_whole_page(client, server):
    response = client.post(
        add_url(server),
        headers={"HX-Request": "true", "HX-Current-URL": f"http://testserver{tab_url(server)}"},
    )
    assert response["HX-Redirect"] == f"/login/?next=%2Fserver%2F{server.identifier}%2Fnetwork%2F"
    assert len(held(server)) == 1


# --- controls follow permissions -------------------------------------------------------------


def test_owner_sees_every_control(browser, server):
    add(server)
    body = text(browser.get(tab_url(server)))
    assert "Add next available" in body
    assert "Choose an address and port" in body
    assert "Make primary" in body
    assert ">Remove</summary>" in body
    assert 'name="notes"' in body


def test_read_only_subuser_sees_the_allocations_but_no_control(server, stranger):
    second = add(server)
    Allocation.objects.filter(pk=second.pk).update(notes="Query port")
    factories.make_subuser(server, stranger, ["allocation.read"])

    body = text(signed_in(stranger).get(tab_url(server)))

    assert "Query port" in body
    for control in ("Add next available", "Choose an address", "Make primary", "</summary>"):
        assert control not in body
    assert 'name="notes"' not in body


@pytest.mark.parametrize(
    ("permission", "shown", "hidden"),
    [
        ("allocation.create", "Add next available", "Make primary"),
        ("allocation.update", "Make primary", "Add next available"),
        ("allocation.delete", ">Remove</summary>", "Make primary"),
    ],
)
def test_each_permission_shows_its_own_control_only(server, stranger, permission, shown, hidden):
    add(server)
    factories.make_subuser(server, stranger, ["allocation.read", permission])
    body = text(signed_in(stranger).get(tab_url(server)))
    assert shown in body
    assert hidden not in body


# --- add ------------------------------------------------------------------------------------


def test_add_next_available_appends_the_row_and_updates_the_toolbar(htmx, server):
    response = htmx.post(add_url(server))

    assert response.status_code == 200
    new = held(server)[-1]
    assert new.port == 25566
    body = text(response)
    assert body.lstrip().startswith(f'<li id="alloc-{new.pk}"')
    assert 'id="network-toolbar"' in body and 'hx-swap-oob="true"' in body
    assert "Using <strong>2</strong> of <strong>5</strong>" in body
    assert "<html" not in body
    assert ActivityEntry.objects.filter(event="server:allocation.create").count() == 1


def test_first_allocation_of_an_empty_server_becomes_primary_everywhere(htmx, server):
    Allocation.objects.filter(server=server).update(server=None, is_primary=False)
    assert "This server has no allocations yet." in text(htmx.get(tab_url(server)))

    response = htmx.post(add_url(server))

    body = text(response)
    assert '<li id="allocations-empty" hx-swap-oob="delete"></li>' in body
    assert 'id="server-address" class="address" hx-swap-oob="true"' in body
    assert ">Primary</span>" in body
    assert held(server)[0].is_primary


def test_a_later_allocation_leaves_the_header_alone(htmx, server):
    body = text(htmx.post(add_url(server)))
    assert 'id="server-address"' not in body
    assert "allocations-empty" not in body


def test_add_a_specific_address_and_port(htmx, server):
    response = htmx.post(add_url(server), {"ip": "10.0.0.1", "port": "25570"})
    assert response.status_code == 200
    assert [a.port for a in held(server)] == [25565, 25570]


def test_add_with_only_a_port_takes_it_on_any_address(htmx, server):
    response = htmx.post(add_url(server), {"ip": "", "port": " 25572 "})
    assert response.status_code == 200
    assert held(server)[-1].port == 25572


def test_after_adding_a_chosen_port_the_chooser_stays_open(htmx, server):
    body = text(htmx.post(add_url(server), {"ip": "", "port": "25570"}))
    assert '<details class="add-specific" open>' in body
    body = text(htmx.post(add_url(server)))
    assert '<details class="add-specific">' in body


def test_add_offers_the_nodes_addresses_with_their_free_ports(owner):
    node = factories.make_node()
    factories.make_pool(node, ip="10.1.0.1", ports=[1000, 1001, 1002], alias="eu.example.com")
    factories.make_pool(node, ip="10.1.0.2", ports=[2000])
    server = factories.make_server(owner, node)

    body = text(signed_in(owner).get(tab_url(server)))

    assert '<option value="10.1.0.1">eu.example.com (10.1.0.1) · 2 free</option>' in body
    assert '<option value="10.1.0.2">10.1.0.2 · 1 free</option>' in body


def test_add_of_a_taken_port_says_so_inline(owner, htmx, server):
    other = factories.make_server(owner, server.node)  # holds 25566 now
    assert held(other)[0].port == 25566
    response = htmx.post(add_url(server), {"ip": "10.0.0.1", "port": "25566"})
    assert_inline_error(
        response,
        409,
        "The requested allocation is not available or already in use.",
        "#add-error",
    )
    assert len(held(server)) == 1


def test_add_at_the_limit_says_so_inline(owner):
    server = factories.make_server(owner, limit=1)
    response = signed_in(owner, hx=True).post(add_url(server))
    assert_inline_error(
        response, 400, "This server has reached its allocation limit.", "#add-error"
    )


def test_at_the_limit_add_is_disabled_and_explained(owner):
    server = factories.make_server(owner, limit=1)
    body = text(signed_in(owner).get(tab_url(server)))
    assert re.search(r'id="add-next" class="btn btn-primary" disabled', body)
    assert "This server has reached its allocation limit." in body
    assert "<fieldset disabled>" in body
    assert "Using <strong>1</strong> of <strong>1</strong> allowed allocation" in body


def test_add_when_the_node_is_full_says_so_inline(owner):
    server = factories.make_server(owner, ports=[25565])
    response = signed_in(owner, hx=True).post(add_url(server))
    assert_inline_error(response, 503, "No available allocations found on this node.", "#add-error")


@pytest.mark.parametrize(
    ("data", "detail"),
    [
        ({"port": "abc"}, "The port must be an integer."),
        ({"port": "70000"}, "The port must be between 1 and 65535."),
        ({"ip": "not-an-ip"}, "The ip must be a valid IP address."),
    ],
)
def test_add_with_bad_input_says_why_inline(htmx, server, data, detail):
    response = htmx.post(add_url(server), data)
    assert_inline_error(response, 422, detail, "#add-error")
    assert len(held(server)) == 1


def test_add_refused_to_a_subuser_without_create(server, stranger):
    factories.make_subuser(server, stranger, ["allocation.read"])
    response = signed_in(stranger, hx=True).post(add_url(server))
    assert_inline_error(
        response, 403, "You do not have permission to perform this action.", "#add-error"
    )
    assert len(held(server)) == 1


def test_add_to_a_server_the_user_may_not_see_is_not_found(server, stranger):
    response = signed_in(stranger, hx=True).post(add_url(server))
    assert_inline_error(response, 404, "The requested resource could not be found.", "#add-error")
    assert len(held(server)) == 1


def test_add_to_a_suspended_server_says_so(owner):
    server = factories.make_server(owner, status="suspended")
    response = signed_in(owner, hx=True).post(add_url(server))
    assert_inline_error(response, 400, "This server is suspended.", "#add-error")


def test_add_without_javascript_comes_back_to_the_tab_with_a_message(browser, server):
    response = browser.post(add_url(server), follow=True)
    assert response.redirect_chain == [(tab_url(server), 302)]
    assert "Added 10.0.0.1:25566." in text(response)


def test_add_without_javascript_shows_the_refusal_on_the_tab(owner):
    server = factories.make_server(owner, limit=1)
    response = signed_in(owner).post(add_url(server), follow=True)
    assert "This server has reached its allocation limit." in text(response)


def test_add_without_a_csrf_token_is_refused(owner, server):
    client = signed_in(owner, hx=True, enforce_csrf=True)
    response = client.post(add_url(server))
    assert response.status_code == 403
    assert len(held(server)) == 1


def test_add_answers_405_to_get(browser, server):
    assert browser.get(add_url(server)).status_code == 405


# --- notes ------------------------------------------------------------------------------------


def test_notes_are_saved_trimmed_and_say_saved(htmx, server):
    row = held(server)[0]
    response = htmx.post(row_url(server, row, "notes"), {"notes": "  Game port  "})
    assert response.status_code == 200
    assert "Saved" in text(response)
    assert "<html" not in text(response)
    row.refresh_from_db()
    assert row.notes == "Game port"


def test_empty_notes_clear_them(htmx, server):
    row = held(server)[0]
    Allocation.objects.filter(pk=row.pk).update(notes="old")
    htmx.post(row_url(server, row, "notes"), {"notes": "   "})
    row.refresh_from_db()
    assert row.notes is None


def test_notes_too_long_are_refused_inline_and_nothing_changes(htmx, server):
    row = held(server)[0]
    Allocation.objects.filter(pk=row.pk).update(notes="kept")
    response = htmx.post(row_url(server, row, "notes"), {"notes": "x" * 256})
    assert_inline_error(
        response,
        422,
        "The notes may not be greater than 255 characters.",
        f"#alloc-{row.pk}-notes-status",
    )
    row.refresh_from_db()
    assert row.notes == "kept"


def test_notes_with_a_nul_character_are_refused(htmx, server):
    row = held(server)[0]
    response = htmx.post(row_url(server, row, "notes"), {"notes": "a\x00b"})
    assert_inline_error(
        response, 422, "The notes must be a string.", f"#alloc-{row.pk}-notes-status"
    )


def test_notes_refused_to_a_subuser_without_update(server, stranger):
    factories.make_subuser(server, stranger, ["allocation.read"])
    row = held(server)[0]
    response = signed_in(stranger, hx=True).post(row_url(server, row, "notes"), {"notes": "hi"})
    assert_inline_error(
        response,
        403,
        "You do not have permission to perform this action.",
        f"#alloc-{row.pk}-notes-status",
    )
    row.refresh_from_db()
    assert row.notes is None


def test_notes_of_another_servers_allocation_are_not_found(owner, htmx, server):
    other = factories.make_server(owner)
    foreign = held(other)[0]
    response = htmx.post(row_url(server, foreign, "notes"), {"notes": "hi"})
    assert_inline_error(
        response,
        404,
        "The requested resource could not be found.",
        f"#alloc-{foreign.pk}-notes-status",
    )
    foreign.refresh_from_db()
    assert foreign.notes is None


def test_notes_without_a_csrf_token_are_refused(owner, server):
    row = held(server)[0]
    client = signed_in(owner, hx=True, enforce_csrf=True)
    assert client.post(row_url(server, row, "notes"), {"notes": "hi"}).status_code == 403
    row.refresh_from_db()
    assert row.notes is None


def test_notes_without_javascript_come_back_to_the_tab(browser, server):
    row = held(server)[0]
    response = browser.post(row_url(server, row, "notes"), {"notes": "hello"}, follow=True)
    assert "Notes saved." in text(response)
    assert 'value="hello"' in text(response)


# --- make primary -------------------------------------------------------------------------------


def test_make_primary_swaps_the_region_and_the_header_address(htmx, server):
    second = add(server)
    response = htmx.post(row_url(server, second, "primary"))

    assert response.status_code == 200
    body = text(response)
    assert body.lstrip().startswith('<div id="network-region"')
    assert re.findall(r'<li id="alloc-(\d+)"', body)[0] == str(second.pk)
    assert 'id="server-address" class="address" hx-swap-oob="true"' in body
    assert "10.0.0.1:25566" in body
    second.refresh_from_db()
    assert second.is_primary


def test_make_primary_while_running_explains_with_the_stop_button_at_hand(owner):
    server = factories.make_server(owner, state="running")
    second = add(server)
    response = signed_in(owner, hx=True).post(row_url(server, second, "primary"))
    assert_inline_error(
        response,
        400,
        "Server must be stopped to change the primary allocation.",
        f"#alloc-{second.pk}-error",
    )
    assert 'name="signal" value="stop"' in text(response)
    second.refresh_from_db()
    assert not second.is_primary


def test_stop_first_explanation_omits_the_button_for_who_may_not_stop(owner, stranger):
    server = factories.make_server(owner, state="running")
    second = add(server)
    factories.make_subuser(server, stranger, ["allocation.read", "allocation.update"])
    response = signed_in(stranger, hx=True).post(row_url(server, second, "primary"))
    assert response.status_code == 400
    assert 'value="stop"' not in text(response)
    assert "Ask the server's owner to stop it." in text(response)


def test_running_server_tab_warns_before_anything_is_tried(owner):
    server = factories.make_server(owner, state="running")
    body = text(signed_in(owner).get(tab_url(server)))
    assert "This server is running." in body
    assert "Stop it to change the primary allocation or to remove allocations." in body
    assert "Stop server" in body


def test_stopped_server_tab_has_no_stop_first_warning(browser, server):
    assert "Stop it to change the primary" not in text(browser.get(tab_url(server)))


def test_make_primary_refused_to_a_subuser_without_update(server, stranger):
    second = add(server)
    factories.make_subuser(server, stranger, ["allocation.read", "allocation.delete"])
    response = signed_in(stranger, hx=True).post(row_url(server, second, "primary"))
    assert_inline_error(
        response,
        403,
        "You do not have permission to perform this action.",
        f"#alloc-{second.pk}-error",
    )


def test_make_primary_without_a_csrf_token_is_refused(owner, server):
    second = add(server)
    client = signed_in(owner, hx=True, enforce_csrf=True)
    assert client.post(row_url(server, second, "primary")).status_code == 403
    second.refresh_from_db()
    assert not second.is_primary


def test_make_primary_without_javascript_comes_back_with_a_message(browser, server):
    second = add(server)
    response = browser.post(row_url(server, second, "primary"), follow=True)
    assert "10.0.0.1:25566 is now the primary allocation." in text(response)


# --- remove -------------------------------------------------------------------------------------


def test_remove_takes_the_row_out_and_updates_the_toolbar(htmx, server):
    second = add(server)
    Allocation.objects.filter(pk=second.pk).update(notes="bye")

    response = htmx.post(row_url(server, second, "remove"))

    assert response.status_code == 200
    body = text(response)
    # Nothing but the out-of-band toolbar: the row (the target) is replaced by nothing.
    assert body.lstrip().startswith('<section id="network-toolbar"')
    assert 'hx-swap-oob="true"' in body
    assert "Using <strong>1</strong> of <strong>5</strong>" in body
    second.refresh_from_db()
    assert second.server_id is None and second.notes is None


def test_remove_asks_to_confirm_first(browser, server):
    second = add(server)
    body = text(browser.get(tab_url(server)))
    assert 'Remove <strong class="mono">10.0.0.1:25566</strong> from this server?' in body
    assert "Remove allocation" in body
    assert second.server_id == server.pk


def test_remove_of_the_primary_is_refused_inline(htmx, server):
    primary = held(server)[0]
    response = htmx.post(row_url(server, primary, "remove"))
    assert_inline_error(
        response,
        400,
        "Cannot remove the primary allocation. Set another allocation as primary first.",
        f"#alloc-{primary.pk}-error",
    )


def test_remove_while_running_explains_with_the_stop_button(owner):
    server = factories.make_server(owner, state="running")
    second = add(server)
    response = signed_in(owner, hx=True).post(row_url(server, second, "remove"))
    assert_inline_error(
        response, 400, "Server must be stopped to remove allocations.", f"#alloc-{second.pk}-error"
    )
    assert 'name="signal" value="stop"' in text(response)
    assert len(held(server)) == 2


def test_remove_refused_to_a_subuser_without_delete(server, stranger):
    second = add(server)
    factories.make_subuser(server, stranger, ["allocation.read", "allocation.update"])
    response = signed_in(stranger, hx=True).post(row_url(server, second, "remove"))
    assert response.status_code == 403
    assert len(held(server)) == 2


def test_remove_by_a_stranger_is_not_found_and_changes_nothing(server, stranger):
    second = add(server)
    response = signed_in(stranger, hx=True).post(row_url(server, second, "remove"))
    assert response.status_code == 404
    assert len(held(server)) == 2


def test_remove_without_a_csrf_token_is_refused(owner, server):
    second = add(server)
    client = signed_in(owner, hx=True, enforce_csrf=True)
    assert client.post(row_url(server, second, "remove")).status_code == 403
    assert len(held(server)) == 2


def test_remove_without_javascript_comes_back_with_a_message(browser, server):
    second = add(server)
    response = browser.post(row_url(server, second, "remove"), follow=True)
    assert "Removed 10.0.0.1:25566." in text(response)


def test_remove_of_a_stranger_without_javascript_is_a_404_page(server, stranger):
    second = add(server)
    assert signed_in(stranger).post(row_url(server, second, "remove")).status_code == 404
