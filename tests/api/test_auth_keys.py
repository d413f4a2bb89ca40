"""Sections 3 and 9: credentials and API keys."""

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.conf import settings as django_settings
from django.contrib.sessions.models import Session
from django.utils import timezone
from rest_framework.test import APIClient

from panel.api_keys import api_key_create, api_key_delete
from panel.models import ApiKey
from tests import factories
from tests.api.conftest import assert_error, bearer_client
from tests.conftest import allocations_url

KEY_SHAPE = re.compile(r"ptlc_[A-Za-z0-9]{11}[A-Za-z0-9]{32}")


def _assert_401(response):
    assert_error(
        response,
        401,
        "InvalidCredentialsException",
        "The API credentials provided are missing or invalid.",
    )
    assert response["WWW-Authenticate"] == "Bearer"


def test_key_shape(owner):
    issued = api_key_create(user=owner)
    assert KEY_SHAPE.fullmatch(issued.token)
    assert len(issued.token) == 48
    assert issued.api_key.identifier == issued.token[:16]
    assert len(issued.secret) == 32


def test_missing_credentials_are_401(server):
    _assert_401(APIClient().get(allocations_url(server)))


def test_unknown_identifier_and_wrong_secret_get_the_same_401(owner, server, owner_key):
    unknown = "ptlc_" + "Z" * 11 + owner_key[16:]
    wrong_secret = owner_key[:16] + ("a" if owner_key[16] != "a" else "b") + owner_key[17:]
    first = bearer_client(unknown).get(allocations_url(server))
    second = bearer_client(wrong_secret).get(allocations_url(server))
    _assert_401(first)
    _assert_401(second)
    assert first.content == second.content


def test_expired_key_is_401(owner, server):
    token = factories.make_key(owner, expires_at=timezone.now() - timedelta(seconds=1))
    _assert_401(bearer_client(token).get(allocations_url(server)))


def test_key_not_yet_expired_works(owner, server):
    token = factories.make_key(owner, expires_at=timezone.now() + timedelta(days=1))
    assert bearer_client(token).get(allocations_url(server)).status_code == 200


def test_inactive_user_is_401(owner, server, owner_key):
    owner.is_active = False
    owner.save()
    _assert_401(bearer_client(owner_key).get(allocations_url(server)))


def test_inactive_user_session_is_401(owner, server):
    client = APIClient()
    client.force_login(owner)
    owner.is_active = False
    owner.save()
    _assert_401(client.get(allocations_url(server)))


@pytest.mark.parametrize(
    "header",
    [
        "",
        "Bearer",
        "Bearer ",
        "Bearer  ",
        "ptlc_xxxxxxxxxxx",
        "Bearer ptlc_short",
        "Bearer {key}x",
        "Bearer {key} extra",
        "Bearer {short}",
        "Bearer {key_no_prefix}",
        "Bearer pTLC_{rest}",
        "Bearer {key_bad_char}",
        "Bearer \u00e9\u00e9",
    ],
)
def test_malformed_authorization_headers_are_401(owner, server, owner_key, header):
    header = header.format(
        key=owner_key,
        short=owner_key[:-1],
        key_no_prefix="xxxxx" + owner_key[5:],
        rest=owner_key[5:],
        key_bad_char=owner_key[:-1] + "-",
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    _assert_401(client.get(allocations_url(server)))


@pytest.mark.parametrize("scheme", ["Basic", "Token", "Bearer:", "Digest", "Api-Key"])
def test_non_bearer_schemes_are_401(server, owner_key, scheme):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {owner_key}")
    _assert_401(client.get(allocations_url(server)))


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer"])
def test_bearer_scheme_in_any_case_works(server, owner_key, scheme):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"{scheme} {owner_key}")
    assert client.get(allocations_url(server)).status_code == 200


def test_bad_key_never_falls_back_to_a_valid_session(owner, server):
    client = APIClient()
    client.force_login(owner)
    assert client.get(allocations_url(server)).status_code == 200
    for header in ("Bearer " + "ptlc_" + "A" * 43, "Basic Zm9vOmJhcg==", ""):
        client.credentials(HTTP_AUTHORIZATION=header)
        _assert_401(client.get(allocations_url(server)))
        _assert_401(client.post(allocations_url(server), {}, format="json"))


def test_a_valid_key_is_used_even_with_someone_elses_session(owner, server, stranger):
    client = APIClient()
    client.force_login(stranger)
    assert_error(client.get(allocations_url(server)), 404, "NotFoundHttpException")
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {factories.make_key(owner)}")
    assert client.get(allocations_url(server)).status_code == 200


def test_key_requests_set_no_session_cookie(api, server, second):
    responses = [
        api.get(allocations_url(server)),
        api.post(allocations_url(server), {}, format="json"),
        api.post(allocations_url(server, second.id), {"notes": "n"}, format="json"),
        api.get("/api/client/servers/ffffffff/network/allocations"),
    ]
    for response in responses:
        assert django_settings.SESSION_COOKIE_NAME not in response.cookies
        assert "Set-Cookie" not in response.headers
    assert Session.objects.count() == 0


def test_failed_key_requests_set_no_cookie_either(server):
    response = bearer_client("ptlc_" + "A" * 43).get(allocations_url(server))
    assert "Set-Cookie" not in response.headers


def test_allowed_ips_with_cidr(owner, server):
    token = factories.make_key(owner, allowed_ips=["10.1.0.0/16", "192.0.2.7"])
    client = bearer_client(token)
    assert client.get(allocations_url(server), REMOTE_ADDR="10.1.200.3").status_code == 200
    assert client.get(allocations_url(server), REMOTE_ADDR="192.0.2.7").status_code == 200
    for outside in ("10.2.0.1", "192.0.2.8", "127.0.0.1"):
        response = client.get(allocations_url(server), REMOTE_ADDR=outside)
        assert_error(
            response,
            403,
            "InsufficientPermissionsException",
            f"This IP address ({outside}) does not have permission to access the API using "
            "these credentials.",
        )


def test_allowed_ips_ipv6_range(owner, server):
    client = bearer_client(factories.make_key(owner, allowed_ips=["2001:db8::/32"]))
    assert client.get(allocations_url(server), REMOTE_ADDR="2001:db8::5").status_code == 200
    response = client.get(allocations_url(server), REMOTE_ADDR="2001:db9::5")
    body = assert_error(response, 403, "InsufficientPermissionsException")
    assert "(2001:db9::5)" in body["errors"][0]["detail"]
    assert "[" not in body["errors"][0]["detail"]


def test_allowed_ips_message_holds_the_callers_address_exactly(owner, server):
    client = bearer_client(factories.make_key(owner, allowed_ips=["192.0.2.0/24"]))
    body = assert_error(
        client.get(allocations_url(server), REMOTE_ADDR="127.0.0.1"),
        403,
        "InsufficientPermissionsException",
    )
    detail = body["errors"][0]["detail"]
    assert detail == (
        "This IP address (127.0.0.1) does not have permission to access the API using these "
        "credentials."
    )


def test_a_disallowed_address_does_not_count_as_a_failed_authentication(owner, server, settings):
    settings.PANEL_AUTH_FAILURE_RATE = "1/min"
    client = bearer_client(factories.make_key(owner, allowed_ips=["192.0.2.1"]))
    for _ in range(3):
        response = client.get(allocations_url(server), REMOTE_ADDR="127.0.0.1")
        assert_error(response, 403, "InsufficientPermissionsException")


def test_deleted_key_stops_working_at_once(owner, server, owner_key):
    client = bearer_client(owner_key)
    assert client.get(allocations_url(server)).status_code == 200
    assert api_key_delete(user=owner, identifier=owner_key[:16])
    _assert_401(client.get(allocations_url(server)))


def test_deleting_the_user_kills_the_key(owner, server, owner_key, api):
    assert api.get(allocations_url(server)).status_code == 200
    ApiKey.objects.filter(user=owner).delete()
    _assert_401(api.get(allocations_url(server)))


def test_last_used_at_is_written_at_most_once_a_minute(owner, server, owner_key, api):
    key = ApiKey.objects.get(identifier=owner_key[:16])
    assert key.last_used_at is None
    start = timezone.now()
    assert api.get(allocations_url(server)).status_code == 200
    key.refresh_from_db()
    first = key.last_used_at
    assert first is not None and first >= start

    later = first + timedelta(seconds=30)
    with mock.patch("django.utils.timezone.now", return_value=later):
        assert api.get(allocations_url(server)).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at == first

    much_later = first + timedelta(seconds=61)
    with mock.patch("django.utils.timezone.now", return_value=much_later):
        assert api.get(allocations_url(server)).status_code == 200
    key.refresh_from_db()
    assert key.last_used_at == much_later


def test_last_used_at_write_is_skipped_within_the_minute(owner, server, owner_key, api):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    assert api.get(allocations_url(server)).status_code == 200
    with CaptureQueriesContext(connection) as queries:
        assert api.get(allocations_url(server)).status_code == 200
    updates = [q["sql"] for q in queries if "last_used_at" in q["sql"] and "UPDATE" in q["sql"]]
    assert updates == []


def test_only_the_hash_is_stored(owner):
    issued = api_key_create(user=owner, description="ci")
    secret = issued.secret
    row = ApiKey.objects.filter(pk=issued.api_key.pk).values().get()
    for value in row.values():
        text = str(value)
        assert issued.token not in text
        assert secret not in text
    assert row["identifier"] == issued.token[:16]
    assert row["key_hash"] != issued.token


def test_the_token_appears_in_no_answer_or_activity(api, owner_key, server):
    from panel.models import ActivityEntry

    created = api.post(allocations_url(server), {}, format="json")
    assert owner_key[16:] not in created.content.decode()
    entry = ActivityEntry.objects.get()
    assert entry.api_key_identifier == owner_key[:16]
    assert owner_key[16:] not in str(entry.properties)


def test_key_acts_with_its_users_rights_only(server, stranger):
    stranger_key = factories.make_key(stranger)
    assert_error(
        bearer_client(stranger_key).get(allocations_url(server)), 404, "NotFoundHttpException"
    )


# --- key limits (section 9) ---------------------------------------------------------------------


def test_description_of_at_most_500_characters(owner):
    from panel.errors import PanelError

    api_key_create(user=owner, description="d" * 500)
    with pytest.raises(PanelError):
        api_key_create(user=owner, description="d" * 501)


def test_at_most_50_allowed_ips(owner):
    from panel.errors import PanelError

    api_key_create(user=owner, allowed_ips=[f"10.0.0.{i}" for i in range(50)])
    with pytest.raises(PanelError):
        api_key_create(user=owner, allowed_ips=[f"10.0.0.{i}" for i in range(51)])


@pytest.mark.parametrize("bad", ["nope", "10.0.0.300", "10.0.0.0/33", "fe80::1%eth0", ""])
def test_allowed_ips_must_be_addresses_or_ranges(owner, bad):
    from panel.errors import PanelError

    with pytest.raises(PanelError):
        api_key_create(user=owner, allowed_ips=[bad])


def test_at_most_25_keys_a_user(owner, settings):
    from panel.errors import PanelError

    for _ in range(25 - ApiKey.objects.filter(user=owner).count()):
        api_key_create(user=owner)
    with pytest.raises(PanelError):
        api_key_create(user=owner)
    assert ApiKey.objects.filter(user=owner).count() == 25


def test_unknown_identifier_still_compares_a_hash(server, owner_key):
    """Both failures run the same constant-time comparison, so timing tells them not apart."""
    import hmac

    calls = []
    real = hmac.compare_digest

    def spy(a, b):
        calls.append((len(a), len(b)))
        return real(a, b)

    with mock.patch("panel.api_keys.hmac.compare_digest", side_effect=spy):
        bearer_client("ptlc_" + "Z" * 11 + owner_key[16:]).get(allocations_url(server))
        bearer_client(owner_key[:16] + "Z" * 32).get(allocations_url(server))
    assert calls == [(64, 64), (64, 64)]
