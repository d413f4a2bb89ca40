"""Section 10: the per-user rate, the failed-authentication rate per address, the client
address behind trusted proxies, and Retry-After."""

import pytest
from rest_framework.test import APIClient

from panel.models import ActivityEntry
from tests import factories
from tests.api.conftest import assert_error, bearer_client
from tests.conftest import allocations_url

pytestmark = pytest.mark.usefixtures("frozen_window")

BAD_KEY = "ptlc_" + "Q" * 43


def _assert_429(response):
    assert_error(
        response, 429, "TooManyRequestsHttpException", "Too many requests. Please slow down."
    )
    retry = response["Retry-After"]
    assert retry.isdigit(), retry
    assert 1 <= int(retry) <= 60
    return int(retry)


# --- per user -------------------------------------------------------------------------------


def test_user_rate_past_the_limit_is_429(api, server, settings):
    settings.PANEL_API_RATE = "3/min"
    for _ in range(3):
        assert api.get(allocations_url(server)).status_code == 200
    _assert_429(api.get(allocations_url(server)))
    _assert_429(api.post(allocations_url(server), {}, format="json"))


def test_user_rate_counts_every_request_past_authentication(api, server, settings):
    settings.PANEL_API_RATE = "3/min"
    assert_error(
        api.get("/api/client/servers/ffffffff/network/allocations"), 404, "NotFoundHttpException"
    )
    assert_error(
        api.post(allocations_url(server), {"port": 0}, format="json"), 422, "ValidationException"
    )
    assert api.get(allocations_url(server)).status_code == 200
    _assert_429(api.get(allocations_url(server)))


def test_user_rate_spans_all_keys_and_sessions(owner, server, settings):
    settings.PANEL_API_RATE = "3/min"
    session = APIClient()
    session.force_login(owner)
    clients = [
        bearer_client(factories.make_key(owner)),
        bearer_client(factories.make_key(owner)),
        session,
    ]
    for client in clients:
        assert client.get(allocations_url(server)).status_code == 200
    for client in clients:
        _assert_429(client.get(allocations_url(server)))


def test_another_user_is_unaffected(api, server, settings):
    settings.PANEL_API_RATE = "2/min"
    for _ in range(2):
        api.get(allocations_url(server))
    _assert_429(api.get(allocations_url(server)))
    user = factories.make_user()
    factories.make_subuser(server, user, ["allocation.read"])
    assert bearer_client(factories.make_key(user)).get(allocations_url(server)).status_code == 200


def test_refused_requests_change_nothing(api, server, settings):
    settings.PANEL_API_RATE = "1/min"
    api.get(allocations_url(server))
    _assert_429(api.post(allocations_url(server), {}, format="json"))
    assert server.allocations.count() == 1
    assert not ActivityEntry.objects.exists()


@pytest.mark.parametrize("rate", ["2/sec", "2/s", "2/minute", "2/hour", "2/day", "2/h", "2/d"])
def test_rates_in_drf_notation(api, server, settings, rate):
    settings.PANEL_API_RATE = rate
    for _ in range(2):
        assert api.get(allocations_url(server)).status_code == 200
    retry = _assert_429_any(api.get(allocations_url(server)))
    period = {"s": 1, "m": 60, "h": 3600, "d": 86400}[rate.split("/")[1][0]]
    assert 1 <= retry <= period


def _assert_429_any(response) -> int:
    assert_error(response, 429, "TooManyRequestsHttpException")
    assert response["Retry-After"].isdigit()
    return int(response["Retry-After"])


def test_unauthenticated_requests_do_not_use_a_users_budget(api, server, settings):
    settings.PANEL_API_RATE = "1/min"
    for _ in range(3):
        assert_error(APIClient().get(allocations_url(server)), 401, "InvalidCredentialsException")
    assert api.get(allocations_url(server)).status_code == 200


@pytest.mark.parametrize(
    "rate,retry", [("1/sec", 1), ("1/min", 45), ("1/hour", 3585), ("1/day", 43185)]
)
def test_retry_after_is_the_whole_seconds_until_the_window_allows(
    api, server, settings, rate, retry
):
    settings.PANEL_API_RATE = rate
    assert api.get(allocations_url(server)).status_code == 200
    response = api.get(allocations_url(server))
    assert_error(response, 429, "TooManyRequestsHttpException")
    assert response["Retry-After"] == str(retry)


def test_failed_auth_429_carries_retry_after(server, settings):
    settings.PANEL_AUTH_FAILURE_RATE = "1/min"
    bearer_client(BAD_KEY).get(allocations_url(server), REMOTE_ADDR="198.51.100.8")
    response = bearer_client(BAD_KEY).get(allocations_url(server), REMOTE_ADDR="198.51.100.8")
    assert _assert_429(response) == 45


# --- failed authentications per address ---------------------------------------------------------


def test_failed_auth_limit_then_even_a_valid_key_is_429(server, owner_key, settings):
    settings.PANEL_AUTH_FAILURE_RATE = "3/min"
    for _ in range(3):
        response = bearer_client(BAD_KEY).get(allocations_url(server), REMOTE_ADDR="198.51.100.1")
        assert_error(response, 401, "InvalidCredentialsException")
    _assert_429(bearer_client(BAD_KEY).get(allocations_url(server), REMOTE_ADDR="198.51.100.1"))
    _assert_429(bearer_client(owner_key).get(allocations_url(server), REMOTE_ADDR="198.51.100.1"))
    # Another address is unaffected.
    ok = bearer_client(owner_key).get(allocations_url(server), REMOTE_ADDR="198.51.100.2")
    assert ok.status_code == 200
    bad = bearer_client(BAD_KEY).get(allocations_url(server), REMOTE_ADDR="198.51.100.2")
    assert_error(bad, 401, "InvalidCredentialsException")


def test_every_kind_of_bad_header_counts_as_a_failure(server, owner_key, settings):
    settings.PANEL_AUTH_FAILURE_RATE = "4/min"
    for header in ("Basic abc", "Bearer", "", f"Bearer {owner_key}x"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        assert_error(
            client.get(allocations_url(server), REMOTE_ADDR="198.51.100.9"),
            401,
            "InvalidCredentialsException",
        )
    _assert_429(bearer_client(owner_key).get(allocations_url(server), REMOTE_ADDR="198.51.100.9"))


def test_successful_authentications_do_not_count(server, owner_key, settings):
    settings.PANEL_AUTH_FAILURE_RATE = "2/min"
    client = bearer_client(owner_key)
    for _ in range(5):
        assert client.get(allocations_url(server), REMOTE_ADDR="198.51.100.3").status_code == 200


def test_missing_credentials_do_not_count_as_failures(server, owner_key, settings):
    settings.PANEL_AUTH_FAILURE_RATE = "2/min"
    for _ in range(5):
        response = APIClient().get(allocations_url(server), REMOTE_ADDR="198.51.100.4")
        assert_error(response, 401, "InvalidCredentialsException")
    ok = bearer_client(owner_key).get(allocations_url(server), REMOTE_ADDR="198.51.100.4")
    assert ok.status_code == 200


def test_address_over_the_failure_limit_is_refused_before_any_database_work(
    server, owner_key, settings, django_assert_num_queries
):
    settings.PANEL_AUTH_FAILURE_RATE = "1/min"
    bearer_client(BAD_KEY).get(allocations_url(server), REMOTE_ADDR="198.51.100.5")
    client = bearer_client(owner_key)
    with django_assert_num_queries(0):
        response = client.get(allocations_url(server), REMOTE_ADDR="198.51.100.5")
    _assert_429(response)


# --- the client address ---------------------------------------------------------------------


def test_without_trusted_proxies_x_forwarded_for_is_ignored(server, owner_key, settings):
    settings.PANEL_TRUSTED_PROXIES = 0
    settings.PANEL_AUTH_FAILURE_RATE = "1/min"
    bearer_client(BAD_KEY).get(
        allocations_url(server), REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="203.0.113.1"
    )
    # Same connection address, another forwarded one: still refused (XFF ignored).
    _assert_429(
        bearer_client(owner_key).get(
            allocations_url(server), REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="203.0.113.2"
        )
    )
    ok = bearer_client(owner_key).get(
        allocations_url(server), REMOTE_ADDR="10.9.9.8", HTTP_X_FORWARDED_FOR="203.0.113.1"
    )
    assert ok.status_code == 200


def test_with_one_trusted_proxy_the_rightmost_forwarded_address_counts(server, owner_key, settings):
    settings.PANEL_TRUSTED_PROXIES = 1
    settings.PANEL_AUTH_FAILURE_RATE = "1/min"
    bearer_client(BAD_KEY).get(
        allocations_url(server),
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.1",
    )
    # Another client behind the same proxy is unaffected.
    ok = bearer_client(owner_key).get(
        allocations_url(server), REMOTE_ADDR="10.9.9.9", HTTP_X_FORWARDED_FOR="203.0.113.2"
    )
    assert ok.status_code == 200
    # The same rightmost address is refused, whatever the client put to its left.
    _assert_429(
        bearer_client(owner_key).get(
            allocations_url(server),
            REMOTE_ADDR="10.9.9.7",
            HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.1",
        )
    )


def test_with_two_trusted_proxies_the_second_from_the_right_counts(api, server, settings):
    settings.PANEL_TRUSTED_PROXIES = 2
    response = api.post(
        allocations_url(server),
        {},
        format="json",
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR="1.1.1.1, 203.0.113.5, 10.0.0.2",
    )
    assert response.status_code == 200
    assert ActivityEntry.objects.get().ip == "203.0.113.5"


def test_trusted_proxy_address_is_the_one_logged_and_checked(owner, server, settings):
    settings.PANEL_TRUSTED_PROXIES = 1
    client = bearer_client(factories.make_key(owner, allowed_ips=["203.0.113.0/24"]))
    ok = client.post(
        allocations_url(server),
        {},
        format="json",
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR="203.0.113.9",
    )
    assert ok.status_code == 200
    assert ActivityEntry.objects.get().ip == "203.0.113.9"
    refused = client.get(
        allocations_url(server), REMOTE_ADDR="203.0.113.9", HTTP_X_FORWARDED_FOR="10.1.1.1"
    )
    body = assert_error(refused, 403, "InsufficientPermissionsException")
    assert "(10.1.1.1)" in body["errors"][0]["detail"]


@pytest.mark.parametrize("forwarded", ["not-an-ip", "1.2.3.4:5678", "", "  ,  ", "[::1]"])
def test_garbage_forwarded_address_never_breaks_a_write(api, server, settings, forwarded):
    settings.PANEL_TRUSTED_PROXIES = 1
    response = api.post(
        allocations_url(server),
        {},
        format="json",
        REMOTE_ADDR="10.9.9.9",
        HTTP_X_FORWARDED_FOR=forwarded,
    )
    assert response.status_code == 200, response.content
    # Not a usable address: the connection's is used, as with too few forwarded entries.
    assert ActivityEntry.objects.get().ip == "10.9.9.9"
