"""The README's screenshots of the network tab, made by the same browser as the tests.

Runs only when asked:
    PANEL_SCREENSHOTS=docs .venv/bin/python -m pytest tests/e2e/test_screenshots.py
writes docs/network-tab-desktop.png (1280 wide) and docs/network-tab-phone.png (390 wide)."""

import os
from pathlib import Path

import pytest

from allocations.models import Allocation
from allocations.services import allocation_assign, allocation_set_notes
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
    return owner, server


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
