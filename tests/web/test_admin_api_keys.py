"""API keys in the admin: shown without secret or hash, edited, revoked, never issued."""

import pytest

from panel.api_keys import api_key_authenticate, api_key_create
from panel.models import ApiKey
from tests import factories

pytestmark = pytest.mark.django_db

LIST = "/admin/panel/apikey/"


@pytest.fixture
def issued(owner):
    return api_key_create(user=owner, description="billing module", allowed_ips=["198.51.100.0/24"])


def _assert_no_secret(html: str, issued) -> None:
    assert issued.secret not in html
    assert issued.token not in html
    assert issued.api_key.key_hash not in html


def test_key_list_shows_identifier_owner_description_ips_and_dates_but_no_secret(
    admin_client, issued
):
    response = admin_client.get(LIST)
    html = response.content.decode()
    assert response.status_code == 200
    for text in (issued.api_key.identifier, "owner", "billing module", "198.51.100.0/24"):
        assert text in html
    for column in ("Last used at", "Created at", "Expires at"):
        assert column in html
    _assert_no_secret(html, issued)


def test_key_page_shows_no_secret_or_hash(admin_client, issued):
    response = admin_client.get(f"{LIST}{issued.api_key.pk}/change/")
    html = response.content.decode()
    assert response.status_code == 200
    assert issued.api_key.identifier in html
    assert "key_hash" not in html
    _assert_no_secret(html, issued)


def test_the_admin_cannot_issue_a_key(admin_client, issued):
    assert admin_client.get(f"{LIST}add/").status_code == 403
    assert admin_client.post(f"{LIST}add/", {"description": "x"}).status_code == 403
    assert f'href="{LIST}add/"' not in admin_client.get(LIST).content.decode()
    assert ApiKey.objects.count() == 1


def test_revoking_keys_stops_them_working_at_once(admin_client, issued, owner):
    other = api_key_create(user=owner)
    keep = api_key_create(user=owner)
    confirm = admin_client.post(
        LIST,
        {"action": "delete_selected", "_selected_action": [issued.api_key.pk, other.api_key.pk]},
    )
    assert confirm.status_code == 200  # Django's confirmation page first
    assert "Revoke selected API keys" in admin_client.get(LIST).content.decode()
    admin_client.post(
        LIST,
        {
            "action": "delete_selected",
            "_selected_action": [issued.api_key.pk, other.api_key.pk],
            "post": "yes",
        },
    )
    assert api_key_authenticate(issued.token) is None
    assert api_key_authenticate(other.token) is None
    assert api_key_authenticate(keep.token) is not None


def test_revoking_one_key_from_its_page(admin_client, issued):
    admin_client.post(f"{LIST}{issued.api_key.pk}/delete/", {"post": "yes"})
    assert api_key_authenticate(issued.token) is None


def test_allowed_ips_are_edited_one_a_line_and_checked(admin_client, issued):
    url = f"{LIST}{issued.api_key.pk}/change/"
    response = admin_client.post(
        url, {"description": "new", "allowed_ips": "10.0.0.1\n192.0.2.0/24, 2001:db8::/64"}
    )
    assert response.status_code == 302, response.content[:2000]
    issued.api_key.refresh_from_db()
    assert issued.api_key.allowed_ips == ["10.0.0.1", "192.0.2.0/24", "2001:db8::/64"]
    assert issued.api_key.description == "new"
    bad = admin_client.post(url, {"description": "new", "allowed_ips": "10.0.0.1\nnonsense"})
    assert "nonsense is not an IP address or range." in bad.content.decode()
    issued.api_key.refresh_from_db()
    assert issued.api_key.allowed_ips == ["10.0.0.1", "192.0.2.0/24", "2001:db8::/64"]


def test_the_key_cannot_be_moved_to_another_user(admin_client, issued, owner):
    thief = factories.make_user("thief")
    admin_client.post(f"{LIST}{issued.api_key.pk}/change/", {"description": "x", "user": thief.pk})
    issued.api_key.refresh_from_db()
    assert issued.api_key.user_id == owner.pk


def test_expired_keys_can_be_filtered(admin_client, owner):
    from datetime import timedelta

    from django.utils import timezone

    old = api_key_create(user=owner, expires_at=timezone.now() - timedelta(days=1))
    live = api_key_create(user=owner)
    expired = admin_client.get(LIST, {"expiry": "expired"}).context["cl"].result_list
    assert [k.pk for k in expired] == [old.api_key.pk]
    active = admin_client.get(LIST, {"expiry": "active"}).context["cl"].result_list
    assert [k.pk for k in active] == [live.api_key.pk]
