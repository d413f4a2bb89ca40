"""The API keys page in a real browser: the key is shown once, copied, then deleted."""

import re

from panel.api_keys import api_key_authenticate
from panel.models import ApiKey
from tests import factories
from tests.e2e.conftest import PASSWORD, expect, needs_browser, sign_in

pytestmark = needs_browser


def test_create_copy_once_then_delete_a_key(new_page):
    owner = factories.make_user("alice", password=PASSWORD)
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    sign_in(page, "alice", next_path="/account/api-keys/")

    page.get_by_label("Description").fill("billing module")
    page.get_by_label("Allowed IPs").fill("198.51.100.0/24")
    page.get_by_role("button", name="Create key").click()

    token = page.locator("#new-key-token")
    expect(token).to_have_text(re.compile(r"^ptlc_[A-Za-z0-9]{43}$"))
    expect(page.get_by_text("Copy it now: it will not be shown again.")).to_be_visible()
    page.get_by_role("button", name="Copy the new API key").click()
    assert page.evaluate("navigator.clipboard.readText()") == token.inner_text()
    key = api_key_authenticate(token.inner_text())
    assert key is not None and key.user_id == owner.pk
    listed = page.locator(f"#key-{key.identifier}")
    expect(listed).to_contain_text("billing module")
    expect(listed).to_contain_text("198.51.100.0/24")
    expect(listed).to_contain_text("Never")

    page.reload()
    expect(page.locator("#new-key-token")).to_have_count(0)

    listed.get_by_text("Delete", exact=True).click()
    listed.get_by_role("button", name="Delete key").click()
    expect(page.locator(f"#key-{key.identifier}")).to_have_count(0)
    expect(page.get_by_text("You have no API keys.")).to_be_visible()
    assert not ApiKey.objects.exists()


def test_a_bad_allowed_ip_is_explained_and_the_form_keeps_its_text(page):
    factories.make_user("alice", password=PASSWORD)
    sign_in(page, "alice", next_path="/account/api-keys/")
    page.get_by_label("Description").fill("ci")
    page.get_by_label("Allowed IPs").fill("10.0.0.300")
    page.get_by_role("button", name="Create key").click()
    expect(page.get_by_role("alert").filter(has_text="not an IP")).to_have_text(
        "10.0.0.300 is not an IP address or range."
    )
    expect(page.get_by_label("Description")).to_have_value("ci")
    expect(page.get_by_label("Allowed IPs")).to_have_value("10.0.0.300")
    assert not ApiKey.objects.exists()
