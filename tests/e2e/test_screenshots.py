"""The README's screenshots of the network tab, made by the same browser as the tests.

Runs only when asked:
    PANEL_SCREENSHOTS=docs .venv/bin/python -m pytest tests/e2e/test_screenshots.py
writes docs/network-tab-desktop.png (1280 wide) and docs/network-tab-phone.png (390 wide)."""

import os
import random
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from allocations.models import Allocation
from allocations.services import allocation_assign, allocation_set_notes
from monitoring.probe import REFUSED, TIMED_OUT, ProbeResult, Target
from monitoring.services import monitor_record, monitor_sync_schedules
from panel.activity import Actor
from tests import factories
from tests.e2e.conftest import PASSWORD, needs_browser, sign_in

OUT = os.environ.get("PANEL_SCREENSHOTS", "")

pytestmark = [
    needs_browser,
    pytest.mark.skipif(not OUT, reason="set PANEL_SCREENSHOTS=<folder> to make the screenshots"),
]


def _demo_server():
    owner = factories.make_user("alex", password=PASSWORD)
    node = factories.make_node("fra-1")
    alias = "play.example.com"
    factories.make_pool(node, ip="203.0.113.10", ports=range(25565, 25580), alias=alias)
    factories.make_pool(node, ip="203.0.113.11", ports=range(27015, 27020))
    server = factories.make_server(owner, node, limit=6, state="running", name="Survival SMP")
    actor = Actor(user=owner)
    notes = {25566: "Query port", 25575: "RCON (admins only)", 27015: "Voice chat plugin"}
    for port, note in notes.items():
        ip = "203.0.113.11" if port == 27015 else "203.0.113.10"
        row = allocation_assign(server=server, actor=actor, ip=ip, port=port)
        allocation_set_notes(allocation=row, actor=actor, notes=note)
    Allocation.objects.filter(server=server, is_primary=True).update(notes="Game port")
    _monitor_history(server)
    return owner, server


def _monitor_history(server):
    """A day of checks every 5 minutes, recorded as the monitor records them: the game and
    query ports up (with a short outage in the night), RCON refusing connections for the
    last 40 minutes, and the voice chat port, just added, not checked yet."""
    rng = random.Random(7)
    now = timezone.now()
    monitor_sync_schedules()
    rows = {a.port: a for a in Allocation.objects.filter(server=server)}
    results = []
    for step in range(288, 0, -1):
        at = now - timedelta(minutes=5 * step) + timedelta(seconds=rng.uniform(0, 20))
        for port, base in ((25565, 18.0), (25566, 19.5), (25575, 18.5)):
            outage = port != 25575 and 150 <= step <= 152
            refused = port == 25575 and step <= 8
            if outage or refused:
                error = TIMED_OUT if outage else REFUSED
                results.append(ProbeResult(Target.of(rows[port]), at, False, None, error))
                continue
            evening = 4.0 if 40 <= step <= 90 else 0.0  # busier hours, a little slower
            latency = round(base + evening + rng.gauss(0, 1.2), 2)
            results.append(ProbeResult(Target.of(rows[port]), at, True, latency, None))
    monitor_record(results)
    # Just added: the monitor has not been round to it yet.
    rows[27015].monitor.delete()


@pytest.mark.parametrize(
    ("name", "viewport"),
    [("desktop", {"width": 1280, "height": 900}), ("phone", {"width": 390, "height": 844})],
)
def test_network_tab_screenshot(new_page, name, viewport):
    owner, server = _demo_server()
    page = new_page(viewport=viewport, device_scale_factor=1 if name == "desktop" else 2)
    url = f"/server/{server.identifier}/network/"
    sign_in(page, owner.username, next_path=url)
    page.get_by_role("button", name="Add next available").wait_for()
    # Show a saved note, as a user sees it right after typing.
    notes = page.get_by_label("Notes").nth(1)
    notes.fill("Query port (GameSpy4)")
    page.locator(".status-ok").first.wait_for()
    notes.blur()
    page.evaluate("window.scrollTo(0, 0)")
    page.wait_for_function("window.scrollY === 0")
    page.wait_for_timeout(200)
    target = Path(OUT) / f"network-tab-{name}.png"
    target.parent.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(target), full_page=True)
    assert target.stat().st_size > 10_000
