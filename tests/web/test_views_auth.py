"""Sign in, sign out, password change, and the login every page but sign-in requires."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from tests import factories

pytestmark = pytest.mark.django_db

PAGES = [
    "/",
    "/server/{id}/",
    "/server/{id}/network/",
    "/account/api-keys/",
    "/account/password/",
    "/account/password/done/",
]


@pytest.mark.parametrize("page", PAGES)
def test_every_page_but_sign_in_requires_a_login(client, server, page):
    url = page.format(id=server.identifier)
    response = client.get(url)
    assert response.status_code == 302
    assert response["Location"].startswith("/login/?next=")


def test_sign_in_page_needs_no_login_and_labels_its_fields(client):
    response = client.get("/login/")
    body = response.content.decode()
    assert response.status_code == 200
    assert '<label for="id_username">Username</label>' in body
    assert '<label for="id_password">Password</label>' in body


def test_sign_in_with_the_right_password_goes_to_next(client, server):
    factories.make_user("alice", password="s3cret-pass")
    target = f"/server/{server.identifier}/"
    response = client.post(
        "/login/", {"username": "alice", "password": "s3cret-pass", "next": target}
    )
    assert response.status_code == 302
    assert response["Location"] == target


def test_sign_in_with_a_wrong_password_says_so(client):
    factories.make_user("alice", password="s3cret-pass")
    response = client.post("/login/", {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "Please enter a correct username and password." in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_sign_in_never_redirects_to_another_site(client):
    factories.make_user("alice", password="s3cret-pass")
    response = client.post(
        "/login/", {"username": "alice", "password": "s3cret-pass", "next": "https://evil.test/"}
    )
    assert response["Location"] == "/"


def test_sign_in_without_a_csrf_token_is_refused(db):
    factories.make_user("alice", password="s3cret-pass")
    client = Client(enforce_csrf_checks=True)
    response = client.post("/login/", {"username": "alice", "password": "s3cret-pass"})
    assert response.status_code == 403
    assert "CSRF verification failed. Reload the page and try again." in response.content.decode()


def test_sign_out_is_a_post(browser):
    assert browser.get("/logout/").status_code == 405
    response = browser.post("/logout/")
    assert response.status_code == 302
    assert response["Location"] == "/login/"
    assert browser.get("/").status_code == 302


def test_sign_out_without_a_csrf_token_is_refused(owner):
    client = Client(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.post("/logout/").status_code == 403
    assert client.get("/").status_code == 200


def test_every_page_offers_sign_out_as_a_form(browser):
    body = browser.get("/").content.decode()
    assert '<form method="post" action="/logout/">' in body


def test_password_change_changes_the_password_and_keeps_the_session(browser, owner):
    response = browser.post(
        "/account/password/",
        {
            "old_password": "pw-owner",
            "new_password1": "a-much-better-password-42",
            "new_password2": "a-much-better-password-42",
        },
    )
    assert response.status_code == 302
    assert response["Location"] == "/account/password/done/"
    assert get_user_model().objects.get(pk=owner.pk).check_password("a-much-better-password-42")
    assert browser.get("/").status_code == 200


def test_password_change_with_the_wrong_old_password_says_so(browser, owner):
    response = browser.post(
        "/account/password/",
        {
            "old_password": "wrong",
            "new_password1": "a-much-better-password-42",
            "new_password2": "a-much-better-password-42",
        },
    )
    assert response.status_code == 200
    assert "Your old password was entered incorrectly." in response.content.decode()
    assert get_user_model().objects.get(pk=owner.pk).check_password("pw-owner")


def test_the_pages_send_the_csrf_token_to_htmx(browser):
    body = browser.get("/").content.decode()
    assert '<body hx-headers=\'{"X-CSRFToken": "' in body


def test_the_pages_load_nothing_from_another_site(browser, server):
    body = browser.get(f"/server/{server.identifier}/network/").content.decode()
    assert 'src="/static/vendor/htmx.min.js"' in body
    assert "https://" not in body and "http://" not in body
