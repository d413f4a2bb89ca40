"""The network tab's port test and health cells, through Django's test client: the "Test"
button's answers (reachable, refused, not permitted, rate limited), its refusals, the health
of each row with its server-drawn latency chart, the refresh that swaps only the health
cells, and the tab's fixed query budget.

Every connection made here goes to 127.0.0.1, on ports these tests open or hold closed."""

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from allocations.models import Allocation
from allocations.services import allocation_assign
from monitoring.models import AllocationCheck, AllocationMonitor
from panel.activity import Actor
from panel.web import INLINE_ERROR_HEADER
from tests import factories
from tests.api.conftest import frozen_window  # noqa: F401 - a fixture used here too
from tests.monitoring.conftest import (
    LOOPBACK,
    ClosedPort,
    Listener,
    allocation_on,
    make_loopback_server,
)
from tests.web.conftest import signed_in

pytestmark = pytest.mark.django_db


@pytest.fixture
def listener() -> Iterator[Listener]:
    opened = Listener()
    yield opened
    opened.close()


@pytest.fixture
def closed_port() -> Iterator[ClosedPort]:
    held = ClosedPort()
    yield held
    held.close()


@pytest.fixture
def loopback(owner, listener, closed_port):
    """The owner's server holding two loopback allocations: one listening, one closed."""
    server = make_loopback_server(owner, [listener.port, closed_port.port])
    return server, allocation_on(server, listener.port), allocation_on(server, closed_port.port)


def tab_url(server) -> str:
    return f"/server/{server.identifier}/network/"


def health_url(server) -> str:
    return f"/server/{server.identifier}/network/health/"


def port_test_url(server, allocation) -> str:
    return f"/server/{server.identifier}/network/allocations/{allocation.pk}/test/"


def text(response) -> str:
    return response.content.decode()


def health_cells(body: str, allocation) -> str:
    """The health cells of one row, as the page or a fragment has them."""
    match = re.search(rf'<div id="alloc-{allocation.pk}-health".*?</svg>', body, re.S)
    assert match, body
    return match.group(0)


def add_checks(allocation, *ago_and_latency, server=None):
    """Checks of `allocation`, each `(age, latency_ms or None for a failure)`."""
    now = timezone.now()
    AllocationCheck.objects.bulk_create(
        AllocationCheck(
            allocation_id=allocation.pk,
            server_id=(server or allocation.server).pk,
            checked_at=now - age,
            reachable=latency is not None,
            latency_ms=latency,
            error=None if latency is not None else "connection refused",
        )
        for age, latency in ago_and_latency
    )


def set_state(allocation, *, up: bool, latency=None, down_for=None, server=None):
    now = timezone.now()
    AllocationMonitor.objects.create(
        allocation_id=allocation.pk,
        server_id=(server or allocation.server).pk,
        next_due_at=now,
        last_checked_at=now - timedelta(minutes=2),
        last_reachable=up,
        last_latency_ms=latency,
        last_error=None if up else "connection refused",
        down_since=None if up else now - down_for,
    )


def assert_inline_error(response, status: int, detail: str, target: str):
    assert response.status_code == status, text(response)
    assert response[INLINE_ERROR_HEADER] == "1"
    assert response["HX-Retarget"] == target
    assert detail in text(response)


# --- the "Test" button --------------------------------------------------------------------------


def test_each_row_has_a_labelled_test_button_that_posts_to_its_own_allocation(browser, server):
    row = Allocation.objects.get(server=server)
    body = text(browser.get(tab_url(server)))
    assert f'hx-post="{port_test_url(server, row)}" hx-target="#alloc-{row.pk}-test"' in body
    assert f'action="{port_test_url(server, row)}"' in body  # also posts without JavaScript
    assert re.search(
        r'<button type="submit" class="btn btn-small" aria-label="Test 10\.0\.0\.1:25565"'
        rf' aria-describedby="alloc-{row.pk}-test">Test</button>',
        body,
    )


def test_a_read_only_subuser_may_test(server, stranger):
    factories.make_subuser(server, stranger, ["allocation.read"])
    body = text(signed_in(stranger).get(tab_url(server)))
    assert ">Test</button>" in body


def test_testing_a_listening_port_shows_reachable_with_its_latency_in_the_row(
    owner, loopback, listener
):
    server, up, _ = loopback

    response = signed_in(owner, hx=True).post(port_test_url(server, up))

    assert response.status_code == 200
    body = text(response)
    assert re.search(r'<span class="test-outcome test-ok">Reachable · \d+\.\d\d ms</span>', body)
    assert "<html" not in body
    assert listener.accept_peer()[0] == LOOPBACK  # a real connection, to the allocation itself
    # The row's health is brought up to date at once, out of band.
    cells = health_cells(body, up)
    assert 'hx-swap-oob="true"' in cells
    assert ">Up</span>" in cells and "checked just now" in cells
    assert AllocationCheck.objects.filter(allocation_id=up.pk, reachable=True).count() == 1


def test_testing_a_closed_port_shows_the_refusal_in_the_row(owner, loopback):
    server, _, down = loopback

    response = signed_in(owner, hx=True).post(port_test_url(server, down))

    assert response.status_code == 200
    body = text(response)
    assert '<span class="test-outcome test-fail">Not reachable: connection refused</span>' in body
    cells = health_cells(body, down)
    assert ">Down</span>" in cells and "for under a minute" in cells
    assert AllocationCheck.objects.get(allocation_id=down.pk).error == "connection refused"


def test_testing_an_address_outside_the_allowed_networks_says_not_permitted(htmx, server):
    row = Allocation.objects.get(server=server)  # 10.0.0.1: outside the test fence

    response = htmx.post(port_test_url(server, row))

    assert response.status_code == 200
    assert "Not tested: not permitted" in text(response)


def test_testing_past_the_servers_rate_says_so_with_the_time_to_wait(
    owner,
    loopback,
    settings,
    frozen_window,  # noqa: F811
):
    settings.PANEL_PORT_TEST_RATE = "1/min"
    server, up, down = loopback
    client = signed_in(owner, hx=True)
    assert client.post(port_test_url(server, up)).status_code == 200

    response = client.post(port_test_url(server, down))

    # 15.3 s into the frozen minute: 44.7 s of it are left.
    assert_inline_error(
        response,
        429,
        "Too many requests. Please slow down. Try again in 45 seconds.",
        f"#alloc-{down.pk}-test",
    )
    assert response["Retry-After"] == "45"
    assert 'class="test-outcome test-error"' in text(response)
    assert not AllocationCheck.objects.filter(allocation_id=down.pk).exists()


def test_testing_past_the_rate_without_javascript_comes_back_with_the_message(
    owner,
    loopback,
    settings,
    frozen_window,  # noqa: F811
):
    settings.PANEL_PORT_TEST_RATE = "1/min"
    server, up, _ = loopback
    client = signed_in(owner)
    client.post(port_test_url(server, up))

    response = client.post(port_test_url(server, up), follow=True)

    assert response.redirect_chain == [(tab_url(server), 302)]
    assert "Too many requests. Please slow down. Try again in 45 seconds." in text(response)


def test_testing_without_javascript_comes_back_to_the_tab_with_the_answer(
    owner, loopback, listener
):
    server, up, down = loopback
    client = signed_in(owner)

    response = client.post(port_test_url(server, up), follow=True)

    assert response.redirect_chain == [(tab_url(server), 302)]
    assert re.search(rf"127\.0\.0\.1:{listener.port} is reachable: \d+\.\d\d ms\.", text(response))

    response = client.post(port_test_url(server, down), follow=True)

    assert f"127.0.0.1:{down.port} is not reachable: connection refused." in text(response)
    assert 'role="alert"' in text(response)


def test_testing_is_refused_to_a_subuser_without_read(loopback, stranger):
    server, up, _ = loopback
    factories.make_subuser(server, stranger, ["allocation.update", "control.start"])

    response = signed_in(stranger, hx=True).post(port_test_url(server, up))

    assert_inline_error(
        response, 403, "You do not have permission to perform this action.", f"#alloc-{up.pk}-test"
    )
    assert not AllocationCheck.objects.exists()


def test_testing_another_users_server_is_not_found_and_connects_nowhere(loopback, stranger):
    server, up, _ = loopback
    response = signed_in(stranger, hx=True).post(port_test_url(server, up))
    assert response.status_code == 404
    assert not AllocationCheck.objects.exists()


def test_testing_another_servers_allocation_is_not_found(owner, htmx, server):
    other = factories.make_server(owner)
    foreign = Allocation.objects.get(server=other)
    response = htmx.post(port_test_url(server, foreign))
    assert_inline_error(
        response, 404, "The requested resource could not be found.", f"#alloc-{foreign.pk}-test"
    )


def test_testing_on_a_suspended_server_says_so(owner):
    server = factories.make_server(owner, status="suspended")
    row = Allocation.objects.get(server=server)
    response = signed_in(owner, hx=True).post(port_test_url(server, row))
    assert_inline_error(response, 400, "This server is suspended.", f"#alloc-{row.pk}-test")


def test_testing_without_a_csrf_token_is_refused(owner, loopback):
    server, up, _ = loopback
    client = signed_in(owner, hx=True, enforce_csrf=True)
    assert client.post(port_test_url(server, up)).status_code == 403
    assert not AllocationCheck.objects.exists()


def test_testing_answers_405_to_get(browser, server):
    row = Allocation.objects.get(server=server)
    assert browser.get(port_test_url(server, row)).status_code == 405


# --- health on the tab ----------------------------------------------------------------------------


def test_a_never_checked_allocation_shows_unknown_and_an_empty_chart(browser, server):
    row = Allocation.objects.get(server=server)

    cells = health_cells(text(browser.get(tab_url(server))), row)

    assert '<span class="health health-unknown">' in cells and ">Unknown</span>" in cells
    assert "not checked yet" in cells
    assert cells.count("—") == 2  # no latency, no uptime
    assert 'role="img" aria-label="Latency over the last 24 hours: no checks yet"' in cells
    assert "<polyline" not in cells
    assert 'stroke-dasharray="3 3"' in cells  # an empty chart, drawn as such


def test_an_allocation_up_shows_its_latency_uptime_and_chart(browser, server):
    row = Allocation.objects.get(server=server)
    set_state(row, up=True, latency=0.42)
    # Four checks an hour apart (four points), one of them failed, and an older one that
    # falls outside the 24 hours.
    add_checks(
        row,
        (timedelta(hours=4), 1.0),
        (timedelta(hours=3), 2.0),
        (timedelta(hours=2), None),
        (timedelta(hours=1), 4.0),
        (timedelta(hours=25), 9.0),
    )

    cells = health_cells(text(browser.get(tab_url(server))), row)

    assert '<span class="health health-up">' in cells and ">Up</span>" in cells
    assert "checked 2\xa0minutes ago" in cells
    assert "0.42 ms" in cells
    assert ">75%<" in cells
    label = "Latency over the last 24 hours: 1.00 to 4.00 ms over 4 checks, 1 failed"
    assert f'role="img" aria-label="{label}"' in cells
    assert f"<title>{label}</title>" in cells
    # Points an hour apart are not joined (nobody measured between them): one short stroke
    # each, the highest at the top of the chart; the failure is a tick at the bottom.
    points = re.findall(r'<polyline points="([^"]+)"', cells)
    assert len(points) == 3
    ys = [float(p.split()[0].split(",")[1]) for p in points]
    assert ys[2] == 2.0 and ys[0] > ys[1] > ys[2]
    assert len(re.findall(r'<line x1="[\d.]+" x2="[\d.]+" y1="27" y2="32"', cells)) == 1


def test_checks_a_monitor_interval_apart_are_drawn_as_one_line(browser, server):
    row = Allocation.objects.get(server=server)
    set_state(row, up=True, latency=0.5)
    add_checks(row, *[(timedelta(minutes=minutes), 0.5) for minutes in range(1, 120)])

    cells = health_cells(text(browser.get(tab_url(server))), row)

    points = re.findall(r'<polyline points="([^"]+)"', cells)
    assert len(points) == 1
    assert len(points[0].split()) in (8, 9)  # two hours in 15-minute buckets


def test_an_allocation_down_shows_since_when(browser, server):
    row = Allocation.objects.get(server=server)
    set_state(row, up=False, down_for=timedelta(hours=3, minutes=10))
    add_checks(row, (timedelta(hours=2), None))

    cells = health_cells(text(browser.get(tab_url(server))), row)

    assert '<span class="health health-down" title="Last check: connection refused">' in cells
    assert ">Down</span>" in cells and "for 3\xa0hours" in cells
    assert ">0%<" in cells
    assert "over 1 check, all failed" not in cells  # the label's wording for that case:
    assert "Latency over the last 24 hours: 1 check, all failed" in cells


def test_what_was_recorded_for_a_previous_server_is_not_shown(owner, browser, server):
    row = Allocation.objects.get(server=server)
    previous = factories.make_server(factories.make_user("earlier"))
    set_state(row, up=False, down_for=timedelta(hours=1), server=previous)
    add_checks(row, (timedelta(hours=1), None), server=previous)

    cells = health_cells(text(browser.get(tab_url(server))), row)

    assert ">Unknown</span>" in cells and "no checks yet" in cells


def test_the_tab_refreshes_health_once_a_monitor_interval(browser, server, settings):
    settings.PANEL_MONITOR_INTERVAL = 90
    body = text(browser.get(tab_url(server)))
    poller = re.search(r'<span hidden id="health-refresh"[^>]*>', body).group(0)
    assert f'hx-get="{health_url(server)}"' in poller
    assert "hx-trigger=\"every 90s [document.visibilityState === 'visible']\"" in poller
    assert 'hx-swap="none"' in poller  # the cells come out of band; nothing else is replaced


def test_the_refresh_answers_every_rows_health_cells_and_nothing_else(owner, htmx, server):
    second = allocation_assign(server=server, actor=Actor(user=owner))
    Allocation.objects.filter(pk=second.pk).update(notes="typed")
    set_state(second, up=True, latency=1.5)
    first = Allocation.objects.get(server=server, is_primary=True)

    response = htmx.get(health_url(server))

    assert response.status_code == 200
    assert "HX-Request" in response["Vary"]
    body = text(response)
    ids = re.findall(r'<div id="alloc-(\d+)-health" class="health-cells" hx-swap-oob="true">', body)
    assert ids == [str(first.pk), str(second.pk)]
    assert ">Up</span>" in health_cells(body, second)
    # No row, input or form: what is being typed into a note is never replaced.
    for absent in ("<li ", "<input", "<form", "typed", "<html"):
        assert absent not in body


def test_the_refresh_without_htmx_leads_to_the_tab(browser, server):
    response = browser.get(health_url(server))
    assert response.status_code == 302
    assert response["Location"] == tab_url(server)


def test_the_refresh_after_read_was_taken_away_shows_the_reason_instead(server, stranger):
    factories.make_subuser(server, stranger, ["control.start"])
    response = signed_in(stranger, hx=True).get(health_url(server))
    assert_inline_error(
        response, 403, "You do not have permission to perform this action.", "#network-region"
    )
    assert response["HX-Reswap"] == "outerHTML"
    assert "alloc-" not in text(response)


def test_the_refresh_of_a_server_suspended_meanwhile_shows_why(owner):
    server = factories.make_server(owner, status="suspended")
    response = signed_in(owner, hx=True).get(health_url(server))
    assert_inline_error(response, 400, "This server is suspended.", "#network-region")


def test_the_refresh_of_another_users_server_is_not_found(server, stranger):
    assert signed_in(stranger, hx=True).get(health_url(server)).status_code == 404


def test_a_row_added_by_htmx_comes_with_its_health(htmx, server):
    body = text(htmx.post(f"/server/{server.identifier}/network/allocations/"))
    added = Allocation.objects.filter(server=server).order_by("id").last()
    cells = health_cells(body, added)
    assert ">Unknown</span>" in cells
    assert "hx-swap-oob" not in cells  # inside its new row, not swapped elsewhere


# --- query budget ---------------------------------------------------------------------------


def _checked_server(owner, count: int):
    """A server holding `count` allocations, each with a state and a day of checks."""
    server = factories.make_server(owner, limit=count, ports=range(30000, 30000 + count))
    for _ in range(count - 1):
        allocation_assign(server=server, actor=Actor(user=owner))
    rows = list(Allocation.objects.filter(server=server))
    assert len(rows) == count
    for row in rows:
        set_state(row, up=True, latency=0.3)
        add_checks(row, *[(timedelta(minutes=m), 0.3) for m in range(5, 24 * 60, 10)])
    return server


@pytest.mark.parametrize("url", [tab_url, health_url])
def test_tab_and_refresh_run_the_same_queries_for_1_as_for_30_allocations(owner, url):
    one = _checked_server(owner, 1)
    thirty = _checked_server(owner, 30)
    client = signed_in(owner, hx=url is health_url)
    client.get(tab_url(one))  # warm the session

    with CaptureQueriesContext(connection) as few:
        response = client.get(url(one))
    assert response.status_code == 200
    assert text(response).count("<polyline") == 1
    with CaptureQueriesContext(connection) as many:
        response = client.get(url(thirty))
    assert response.status_code == 200
    assert text(response).count('class="health-cells"') == 30

    assert len(many) == len(few)
