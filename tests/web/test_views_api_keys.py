"""The API keys page: list, create (the key shown once), delete."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from panel.api_keys import api_key_authenticate, api_key_create
from panel.models import ApiKey
from panel.web import INLINE_ERROR_HEADER
from tests.web.conftest import signed_in

pytestmark = pytest.mark.django_db

URL = "/account/api-keys/"


def text(response) -> str:
    return response.content.decode()


def test_page_lists_identifier_description_allowed_ips_and_last_used(browser, owner):
    used = api_key_create(user=owner, description="billing", allowed_ips=["198.51.100.0/24"])
    ApiKey.objects.filter(pk=used.api_key.pk).update(
        last_used_at=timezone.now() - timedelta(hours=3)
    )
    api_key_create(user=owner, description="")

    body = text(browser.get(URL))

    assert used.api_key.identifier in body
    assert "billing" in body
    assert "198.51.100.0/24" in body
    assert "3\xa0hours ago" in body
    assert "Never" in body  # the other key was never used
    assert used.token not in body and used.secret not in body
    assert used.api_key.key_hash not in body


def test_page_lists_only_the_users_own_keys(browser, stranger):
    theirs = api_key_create(user=stranger, description="not yours")
    body = text(browser.get(URL))
    assert theirs.api_key.identifier not in body
    assert "You have no API keys." in body


def test_htmx_get_answers_the_list_fragment(htmx):
    body = text(htmx.get(URL))
    assert body.lstrip().startswith('<section id="api-keys"')


def test_create_shows_the_key_once_with_copy_and_warning(browser, owner):
    response = browser.post(URL, {"description": "deploy bot", "allowed_ips": ""})

    assert response.status_code == 200
    body = text(response)
    token = re.search(r'<code id="new-key-token" class="mono">(ptlc_[A-Za-z0-9]{43})</code>', body)
    assert token, body
    assert f'data-copy="{token.group(1)}"' in body
    assert "it will not be shown again" in body
    assert "no-store" in response["Cache-Control"]
    key = api_key_authenticate(token.group(1))
    assert key is not None and key.user_id == owner.pk and key.description == "deploy bot"
    # Never again.
    assert token.group(1) not in text(browser.get(URL))


def test_create_with_htmx_swaps_the_form_and_the_list(htmx):
    response = htmx.post(URL, {"description": "ci", "allowed_ips": "203.0.113.5\n10.0.0.0/8"})
    body = text(response)
    assert response.status_code == 200
    assert body.lstrip().startswith('<section id="create-key"')
    assert 'id="api-keys" class="card" aria-labelledby="keys-title" hx-swap-oob="true"' in body
    key = ApiKey.objects.get()
    assert key.allowed_ips == ["203.0.113.5", "10.0.0.0/8"]
    assert key.identifier in body


def test_create_with_a_bad_allowed_ip_says_why_and_keeps_what_was_typed(htmx):
    response = htmx.post(URL, {"description": "ci", "allowed_ips": "999.1.1.1"})
    assert response.status_code == 422
    assert response[INLINE_ERROR_HEADER] == "1"
    assert response["HX-Retarget"] == "#create-key"
    body = text(response)
    assert "999.1.1.1 is not an IP address or range." in body
    assert 'value="ci"' in body
    assert not ApiKey.objects.exists()


def test_create_past_the_account_limit_is_refused(htmx, owner, settings):
    settings.PANEL_MAX_API_KEYS = 1
    api_key_create(user=owner)
    response = htmx.post(URL, {"description": "one too many"})
    assert response.status_code >= 400
    assert "limit" in text(response)
    assert ApiKey.objects.count() == 1


def test_create_without_javascript_shows_errors_on_the_page(browser):
    response = browser.post(URL, {"allowed_ips": "nonsense"})
    assert response.status_code == 422
    assert "nonsense is not an IP address or range." in text(response)


def test_create_without_a_csrf_token_is_refused(owner):
    client = signed_in(owner, hx=True, enforce_csrf=True)
    assert client.post(URL, {"description": "x"}).status_code == 403
    assert not ApiKey.objects.exists()


def test_delete_removes_the_key_and_swaps_the_list(htmx, owner):
    issued = api_key_create(user=owner, description="old")
    response = htmx.post(f"{URL}{issued.api_key.identifier}/delete/")
    assert response.status_code == 200
    assert text(response).lstrip().startswith('<section id="api-keys"')
    assert not ApiKey.objects.exists()
    assert api_key_authenticate(issued.token) is None


def test_delete_asks_to_confirm_first(browser, owner):
    issued = api_key_create(user=owner)
    body = text(browser.get(URL))
    assert f'Delete <strong class="mono">{issued.api_key.identifier}</strong>?' in body


def test_delete_of_another_users_key_is_not_found_and_keeps_it(owner, stranger):
    theirs = api_key_create(user=stranger)
    response = signed_in(owner, hx=True).post(f"{URL}{theirs.api_key.identifier}/delete/")
    assert response.status_code == 404
    assert "The requested resource could not be found." in text(response)
    assert ApiKey.objects.filter(pk=theirs.api_key.pk).exists()


def test_delete_without_javascript_comes_back_with_a_message(browser, owner):
    issued = api_key_create(user=owner)
    response = browser.post(f"{URL}{issued.api_key.identifier}/delete/", follow=True)
    assert f"Deleted the key {issued.api_key.identifier}." in text(response)


def test_delete_without_a_csrf_token_is_refused(owner):
    issued = api_key_create(user=owner)
    client = signed_in(owner, enforce_csrf=True)
    assert client.post(f"{URL}{issued.api_key.identifier}/delete/").status_code == 403
    assert ApiKey.objects.exists()


def test_delete_answers_405_to_get(browser, owner):
    issued = api_key_create(user=owner)
    assert browser.get(f"{URL}{issued.api_key.identifier}/delete/").status_code == 405
