"""The network tab in a real browser: Debian's Chromium, driven by Playwright, against a
live server. Sign in, add, edit a note, stop, make primary, remove, test a port, watch its
health, and the error paths. The only address a port test reaches is 127.0.0.1."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from allocations.models import Allocation
from allocations.services import allocation_assign
from monitoring.probe import ProbeResult, Target
from monitoring.services import monitor_record, monitor_sync_schedules
from panel.activity import Actor
from servers.models import Server
from tests import factories
from tests.e2e.conftest import PASSWORD, expect, needs_browser, sign_in
from tests.monitoring.conftest import LOOPBACK, Listener

pytestmark = needs_browser


def make_owner(username="alice"):
    return factories.make_user(username, password=PASSWORD)


def tab(server) -> str:
    return f"/server/{server.identifier}/network/"


def row(page, allocation):
    return page.locator(f"#alloc-{allocation.pk}")


def allocation_at(server, port) -> Allocation:
    return Allocation.objects.get(node=server.node, port=port)


def add(server) -> Allocation:
    return allocation_assign(server=server, actor=Actor(user=server.owner))


def settled(page):
    """Reload the page: whatever it had sent has been answered by then (the live server
    answers one request at a time, in order), so the test may read the database."""

    def leave(dialog):  # "leave with a note that did not save?": yes
        dialog.accept()

    page.on("dialog", leave)
    page.reload()
    page.wait_for_load_state()
    page.remove_listener("dialog", leave)


def mark_page(page):
    """A flag that survives HTMX swaps but not a page load: proves nothing reloaded."""
    page.evaluate("window.__noReload = true")


def assert_not_reloaded(page):
    assert page.evaluate("window.__noReload === true")


def test_sign_in_list_server_page_and_sign_out(page):
    owner = make_owner()
    server = factories.make_server(owner, name="Survival", state="running")

    sign_in(page, "alice")

    card = page.get_by_role("link", name=re.compile("Survival"))
    expect(card).to_contain_text("10.0.0.1:25565")
    expect(card).to_contain_text("Running")
    card.click()
    expect(page.get_by_role("heading", name="Survival")).to_be_visible()
    expect(page.locator("#primary-address")).to_have_text("10.0.0.1:25565")
    page.get_by_role("link", name="Network", exact=True).click()
    page.wait_for_url(f"**{tab(server)}")

    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url("**/login/")
    page.goto("/")
    page.wait_for_url("**/login/?next=/")


def test_sign_in_with_a_wrong_password_says_so(page):
    make_owner()
    page.goto("/login/")
    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Please enter a correct username")


def test_add_edit_note_make_primary_and_remove_without_reloading(page):
    owner = make_owner()
    server = factories.make_server(owner, limit=3)
    # The database is read before the page acts and after it has settled, never while a
    # request may be under way (on SQLite the live server shares the test's connection).
    old, new = allocation_at(server, 25565), allocation_at(server, 25566)
    sign_in(page, "alice", next_path=tab(server))
    mark_page(page)

    # Add the next available allocation in one click.
    page.get_by_role("button", name="Add next available").click()
    expect(row(page, new)).to_contain_text("25566")
    expect(page.locator("#usage-text")).to_have_text("Using 2 of 3 allowed allocations")

    # Notes save after a pause in typing...
    notes = page.locator(f"#alloc-{new.pk}-notes")
    status = page.locator(f"#alloc-{new.pk}-notes-status")
    notes.press_sequentially("Query port")
    expect(status).to_have_text("Saved")
    # ...and at once on leaving the field, well before the pause would have.
    notes.fill("RCON")
    notes.press("Tab")
    expect(status).to_have_text("Saved", timeout=600)

    # Make it the primary: it moves first, takes the badge, and the header follows.
    row(page, new).get_by_role("button", name="Make primary").click()
    expect(page.locator("#allocation-list > li").first).to_have_id(f"alloc-{new.pk}")
    expect(row(page, new).locator(".badge-primary")).to_have_text("Primary")
    expect(page.locator("#primary-address")).to_have_text("10.0.0.1:25566")
    expect(page.locator(f"#alloc-{new.pk}-notes")).to_have_value("RCON")

    # Remove the old primary, after confirming.
    row(page, old).get_by_text("Remove", exact=True).click()
    expect(row(page, old).locator(".confirm-box")).to_contain_text("Remove 10.0.0.1:25565")
    row(page, old).get_by_role("button", name="Remove allocation").click()
    expect(row(page, old)).to_have_count(0)
    expect(page.locator("#usage-text")).to_have_text("Using 1 of 3 allowed allocations")

    assert_not_reloaded(page)
    settled(page)
    expect(page.locator(f"#alloc-{new.pk}-notes")).to_have_value("RCON")
    new.refresh_from_db()
    old.refresh_from_db()
    assert (new.server_id, new.is_primary, new.notes) == (server.pk, True, "RCON")
    assert (old.server_id, old.notes) == (None, None)


def test_a_running_server_must_be_stopped_first_with_the_stop_button_at_hand(page):
    owner = make_owner()
    server = factories.make_server(owner, state="running")
    second = add(server)
    old = allocation_at(server, 25565)
    sign_in(page, "alice", next_path=tab(server))
    mark_page(page)

    expect(page.locator("#stop-notice")).to_contain_text("This server is running.")
    row(page, second).get_by_role("button", name="Make primary").click()
    error = page.locator(f"#alloc-{second.pk}-error")
    expect(error).to_contain_text("Server must be stopped to change the primary allocation.")

    # A note that failed to save, left in its field...
    notes = page.locator(f"#alloc-{second.pk}-notes")
    notes.fill("y" * 300)
    notes.press("Tab")
    expect(page.locator(f"#alloc-{second.pk}-notes-status")).to_contain_text("Not saved.")

    # Stop it from right there: the header, the notice and the row's error all follow.
    error.get_by_role("button", name="Stop server").click()
    expect(page.locator("#server-state")).to_have_text("Offline")
    expect(page.locator("#stop-notice")).to_have_count(0)
    expect(error).to_be_empty()
    # ...and the list was redrawn around it without losing what was typed.
    expect(notes).to_have_value("y" * 300)

    row(page, second).get_by_role("button", name="Make primary").click()
    expect(page.locator("#primary-address")).to_have_text("10.0.0.1:25566")

    # Start again from the header: removing is refused while it runs.
    page.locator("#server-header").get_by_role("button", name="Start").click()
    expect(page.locator("#server-state")).to_have_text("Running")
    expect(page.locator("#stop-notice")).to_be_visible()
    row(page, old).get_by_text("Remove", exact=True).click()
    row(page, old).get_by_role("button", name="Remove allocation").click()
    expect(page.locator(f"#alloc-{old.pk}-error")).to_contain_text(
        "Server must be stopped to remove allocations."
    )
    assert_not_reloaded(page)

    settled(page)
    old.refresh_from_db()
    second.refresh_from_db()
    assert Server.objects.get(pk=server.pk).state == "running"
    assert old.server_id == server.pk
    assert second.is_primary and second.notes is None


def test_add_errors_are_shown_inline_in_the_words_of_the_spec(page):
    owner = make_owner()
    server = factories.make_server(owner, limit=2)
    sign_in(page, "alice", next_path=tab(server))
    add_error = page.locator("#add-error")

    page.get_by_text("Choose an address and port").click()
    page.get_by_label("Address").select_option("10.0.0.1")
    page.get_by_role("textbox", name="Port").fill("25565")  # this server's own primary
    page.get_by_role("button", name="Add", exact=True).click()
    expect(add_error).to_have_text("The requested allocation is not available or already in use.")
    expect(page.get_by_role("textbox", name="Port")).to_have_value("25565")  # what was typed stays

    page.get_by_role("textbox", name="Port").fill("twenty")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(add_error).to_have_text("The port must be an integer.")

    page.get_by_role("textbox", name="Port").fill("25570")
    page.get_by_role("button", name="Add", exact=True).click()
    expect(page.locator("#allocation-list > li").last).to_contain_text("25570")
    expect(add_error).to_be_empty()

    # At the limit: add is disabled, and the reason is given.
    expect(page.get_by_role("button", name="Add next available")).to_be_disabled()
    expect(page.locator("#limit-reason")).to_have_text(
        "This server has reached its allocation limit. Remove an allocation to add another one."
    )
    expect(page.locator("#usage-text")).to_have_text("Using 2 of 2 allowed allocations")


def test_a_note_that_fails_to_save_keeps_what_was_typed(page):
    owner = make_owner()
    server = factories.make_server(owner)
    primary = allocation_at(server, 25565)
    Allocation.objects.filter(pk=primary.pk).update(notes="Game port")
    sign_in(page, "alice", next_path=tab(server))

    too_long = "x" * 256
    notes = page.locator(f"#alloc-{primary.pk}-notes")
    notes.fill(too_long)
    notes.press("Tab")
    status = page.locator(f"#alloc-{primary.pk}-notes-status")
    expect(status).to_contain_text("The notes may not be greater than 255 characters.")
    expect(notes).to_have_value(too_long)
    # Leaving the page now would lose the text: the browser asks first.
    dialogs = []
    page.once("dialog", lambda dialog: (dialogs.append(dialog.type), dialog.dismiss()))
    page.get_by_role("link", name="Overview").click()
    expect(notes).to_have_value(too_long)
    assert dialogs == ["beforeunload"]

    # A later save of a shorter text works, from the same field.
    notes.fill("Game port (TCP+UDP)")
    notes.press("Tab")
    expect(status).to_have_text("Saved")

    settled(page)
    expect(notes).to_have_value("Game port (TCP+UDP)")
    primary.refresh_from_db()
    assert primary.notes == "Game port (TCP+UDP)"


def test_a_note_typed_before_htmx_was_ready_is_saved_without_leaving_the_field(page):
    owner = make_owner()
    server = factories.make_server(owner)
    primary = allocation_at(server, 25565)
    page.route("**/vendor/htmx.min.js", lambda route: route.abort())  # a slow network
    sign_in(page, "alice", next_path=tab(server))
    notes = page.locator(f"#alloc-{primary.pk}-notes")
    notes.fill("Typed early")

    page.unroute("**/vendor/htmx.min.js")
    page.add_script_tag(url="/static/vendor/htmx.min.js")  # ...that catches up

    expect(page.locator(f"#alloc-{primary.pk}-notes-status")).to_have_text("Saved")
    expect(notes).to_be_focused()
    settled(page)
    primary.refresh_from_db()
    assert primary.notes == "Typed early"


def test_a_refused_request_the_page_cannot_place_shows_a_toast(page, live_server):
    owner = make_owner()
    server = factories.make_server(owner)
    sign_in(page, "alice", next_path=tab(server))
    # A stale page: the CSRF cookie was replaced (another tab signed in again, say).
    page.context.add_cookies([{"name": "csrftoken", "value": "x" * 32, "url": live_server.url}])
    page.get_by_role("button", name="Add next available").click()
    expect(page.locator("#toast")).to_have_text(
        "CSRF verification failed. Reload the page and try again."
    )
    assert Allocation.objects.filter(server=server).count() == 1


def test_a_subuser_sees_only_the_controls_their_permissions_allow(page):
    owner = make_owner()
    server = factories.make_server(owner)
    second = add(server)
    helper = factories.make_user("bob", password=PASSWORD)
    factories.make_subuser(server, helper, ["allocation.read", "allocation.update"])
    sign_in(page, "bob", next_path=tab(server))

    expect(row(page, second).get_by_role("button", name="Make primary")).to_be_visible()
    expect(page.get_by_role("button", name="Add next available")).to_have_count(0)
    expect(page.get_by_text("Remove", exact=True)).to_have_count(0)
    expect(page.locator("#server-header").get_by_role("button", name="Start")).to_have_count(0)


def test_every_control_is_reachable_by_keyboard_and_visibly_labelled(page):
    owner = make_owner()
    server = factories.make_server(owner)
    second = add(server)
    sign_in(page, "alice", next_path=tab(server))

    unlabelled = page.evaluate(
        """() => [...document.querySelectorAll('input:not([type=hidden]), select, textarea')]
            .filter(el => el.offsetParent !== null)
            .filter(el => ![...el.labels].some(l => l.offsetParent !== null
                              && l.getBoundingClientRect().width > 1 && l.textContent.trim()))
            .map(el => el.id || el.name)"""
    )
    assert unlabelled == []
    nameless = page.evaluate(
        """() => [...document.querySelectorAll('button, summary, a[href]')]
            .filter(el => el.offsetParent !== null && !el.textContent.trim())
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert nameless == []

    # Walk the page with Tab alone and note what takes the focus.
    page.locator("body").focus()
    reached = []
    for _ in range(60):
        page.keyboard.press("Tab")
        reached.append(
            page.evaluate(
                """() => { const e = document.activeElement;
                   const name = e.getAttribute('aria-label')
                     || (e.tagName === 'INPUT' || e.tagName === 'SELECT' ? e.id : e.textContent);
                   return name.replace(/\\s+/g, ' ').trim(); }"""
            )
        )
    for control in (
        "Start",
        "Add next available",
        "Choose an address and port",
        f"alloc-{second.pk}-notes",
        "Make primary",
        "Remove",
        "Copy 10.0.0.1:25566",
        "Test 10.0.0.1:25566",
        "Sign out",
    ):
        assert any(control in name for name in reached), (control, reached)

    # Remove, confirmed, with the keyboard only.
    summary = row(page, second).locator("summary")
    summary.focus()
    page.keyboard.press("Enter")
    page.keyboard.press("Tab")
    expect(row(page, second).get_by_role("button", name="Remove allocation")).to_be_focused()
    page.keyboard.press("Enter")
    expect(row(page, second)).to_have_count(0)
    # The focus lands on the list, not back at the page's start.
    expect(page.locator("#allocation-list")).to_be_focused()


def test_the_tab_can_be_read_without_javascript(new_page):
    owner = make_owner()
    server = factories.make_server(owner)
    second = add(server)
    Allocation.objects.filter(pk=second.pk).update(notes="Query port")
    page = new_page(java_script_enabled=False)
    sign_in(page, "alice", next_path=tab(server))

    expect(row(page, second)).to_contain_text("25566")
    expect(page.locator(f"#alloc-{second.pk}-notes")).to_have_value("Query port")
    expect(page.locator("#primary-address")).to_have_text("10.0.0.1:25565")

    # And the forms still work: a plain POST, back to the tab with a message.
    page.get_by_role("button", name="Add next available").click()
    expect(page.get_by_role("status")).to_contain_text("Added 10.0.0.1:25567.")


def test_copy_puts_the_address_on_the_clipboard(new_page):
    owner = make_owner()
    server = factories.make_server(owner)
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    sign_in(page, "alice", next_path=tab(server))
    page.locator("#server-address").get_by_role("button", name="Copy 10.0.0.1:25565").click()
    expect(page.locator("#server-address .copy")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "10.0.0.1:25565"


@pytest.mark.parametrize("width", [360, 390])
def test_phone_width_has_no_sideways_scrolling(new_page, width):
    owner = make_owner()
    server = factories.make_server(owner, state="running")
    second = add(server)
    # The health cells at their widest: a slow latency checked long ago, a long outage.
    long_ago = timezone.now() - timedelta(minutes=59)
    monitor_sync_schedules()
    monitor_record(
        [
            ProbeResult(Target.of(allocation_at(server, 25565)), long_ago, True, 123.45, None),
            ProbeResult(Target.of(second), long_ago, False, None, "connection refused"),
        ]
    )
    page = new_page(viewport={"width": width, "height": 844})
    sign_in(page, "alice", next_path=tab(server))
    assert page.evaluate("document.documentElement.scrollWidth") <= width
    # Not even with a removal's confirmation open.
    page.get_by_text("Remove", exact=True).click()
    expect(page.get_by_role("button", name="Remove allocation")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= width


# --- port test and health ------------------------------------------------------------------------


def test_test_shows_reachable_then_the_refusal_once_the_listener_closes(page):
    owner = make_owner()
    server = factories.make_server(owner)
    listener = Listener()
    try:
        # An allocation of the server's node on a port of this machine's loopback that is
        # listening now.
        Allocation(node=server.node, ip=LOOPBACK, port=listener.port).save()
        tested = allocation_assign(
            server=server, actor=Actor(user=owner), ip=LOOPBACK, port=listener.port
        )
        sign_in(page, "alice", next_path=tab(server))
        mark_page(page)
        result = page.locator(f"#alloc-{tested.pk}-test")
        status = page.locator(f"#alloc-{tested.pk}-health .health")
        expect(status).to_have_text("Unknown")

        test = row(page, tested).get_by_role("button", name=f"Test {LOOPBACK}:{listener.port}")
        expect(test).to_have_text("Test")  # the visible label
        test.click()
        expect(result).to_have_text(re.compile(r"^Reachable · \d+\.\d\d ms$"))
        # The row's health follows at once: the test was recorded like a monitor check.
        expect(status).to_have_text("Up")
        expect(page.locator(f"#alloc-{tested.pk}-health")).to_contain_text("100%")

        listener.close()
        # Again, from the keyboard this time.
        test.focus()
        page.keyboard.press("Enter")
        expect(result).to_have_text("Not reachable: connection refused")
        expect(test).to_be_focused()  # still where the keyboard left it
        expect(status).to_have_text("Down")
        expect(page.locator(f"#alloc-{tested.pk}-health")).to_contain_text("50%")
        assert_not_reloaded(page)
    finally:
        listener.close()

    settled(page)
    expect(page.locator(f"#alloc-{tested.pk}-health .health")).to_have_text("Down")


def test_health_refreshes_itself_without_touching_a_note_being_typed(page, settings):
    settings.PANEL_MONITOR_INTERVAL = 2  # the page refreshes health every 2 seconds
    owner = make_owner()
    server = factories.make_server(owner)
    primary = allocation_at(server, 25565)
    sign_in(page, "alice", next_path=tab(server))
    mark_page(page)
    status = page.locator(f"#alloc-{primary.pk}-health .health")
    expect(status).to_have_text("Unknown")

    # Hold the refreshes back while the monitor records a check: on SQLite the live server
    # shares this thread's database connection, which must never be used by both at once.
    held = []
    page.route("**/network/health/", lambda route: (held.append(route), route.abort()))
    for _ in range(100):  # until a refresh was tried (and any earlier one was answered)
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "the page did not refresh its health within 10 seconds"
    monitor_sync_schedules()
    monitor_record([ProbeResult(Target.of(primary), timezone.now(), True, 0.37, None)])

    notes = page.locator(f"#alloc-{primary.pk}-notes")
    notes.click()
    notes.press_sequentially("Half-typed")
    page.unroute("**/network/health/")

    expect(status).to_have_text("Up")
    expect(page.locator(f"#alloc-{primary.pk}-health")).to_contain_text("0.37 ms")
    # Nothing but the health cells was replaced: the note and the focus are where they were,
    # and a refresh that could not be made showed no error.
    expect(notes).to_have_value("Half-typed")
    expect(notes).to_be_focused()
    expect(page.locator("#toast")).to_be_hidden()
    assert_not_reloaded(page)
    # Stop the refreshes before the database is cleared, and let the live server (one
    # request at a time) finish any it was answering.
    page.goto("about:blank")
    page.request.get("/static/css/panel.css")
