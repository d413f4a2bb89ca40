"""End-to-end tests: Debian's Chromium driven by Playwright against a live server.

Playwright's sync API runs an event loop in this thread; the tests also build their data
with the ORM in this thread, which Django would refuse as "async-unsafe". Nothing here is
async: allow it, for these tests only."""

import os
import shutil

import pytest
from django.core.servers.basehttp import WSGIServer
from django.test.testcases import LiveServerThread

os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


class _OneRequestAtATimeServer(WSGIServer):
    """The live server, answering one request at a time (and closing each connection).

    On SQLite the test database lives in memory, and the live server shares the test
    thread's one connection with every thread that serves a request: two requests served at
    once (a note saved on blur while a click posts) would use it at the same time and fail
    with "database table is locked". A browser's few requests lose nothing by waiting."""

    def __init__(self, *args, connections_override=None, **kwargs):
        # The server thread already uses the overridden connections; this server never
        # starts another thread.
        super().__init__(*args, **kwargs)


LiveServerThread.server_class = _OneRequestAtATimeServer

# Debian's package; overridable only to try another build (or to see the skip).
CHROMIUM = os.environ.get("PANEL_E2E_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

try:
    from playwright.sync_api import expect, sync_playwright
except ImportError:  # depends on the machine: the modules are skipped, see below
    expect = sync_playwright = None


def _skip_reason() -> str | None:
    if sync_playwright is None:
        return "Playwright is not installed: pip install playwright (the test extras have it)"
    if not (os.path.exists(CHROMIUM) and shutil.which(CHROMIUM)):
        return f"no Chromium at {CHROMIUM}: apt-get install chromium (.ci/run does it)"
    return None


SKIP_REASON = _skip_reason()
# Every e2e module starts with `pytestmark = needs_browser`.
needs_browser = pytest.mark.skipif(SKIP_REASON is not None, reason=SKIP_REASON or "")

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    # The live server serves static files from the finders; no manifest is built.
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


# Per module, so that Playwright's event loop is gone before other tests run.
@pytest.fixture(scope="module")
def chromium():
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


def _new_page(chromium, live_server, **options):
    options.setdefault("viewport", {"width": 1280, "height": 900})
    context = chromium.new_context(base_url=live_server.url, **options)
    context.set_default_timeout(10_000)
    page = context.new_page()
    return context, page


@pytest.fixture
def page(chromium, live_server, transactional_db):
    context, page = _new_page(chromium, live_server)
    yield page
    context.close()


@pytest.fixture
def new_page(chromium, live_server, transactional_db):
    """Make more pages: another viewport, JavaScript off."""
    contexts = []

    def make(**options):
        context, page = _new_page(chromium, live_server, **options)
        contexts.append(context)
        return page

    yield make
    for context in contexts:
        context.close()


def sign_in(page, username: str, password: str = PASSWORD, *, next_path: str = "/"):
    page.goto(f"/login/?next={next_path}")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"**{next_path}")
