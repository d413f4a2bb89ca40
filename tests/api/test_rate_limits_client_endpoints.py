"""Section 10 on the endpoints beyond the network ones (test_rate_limits.py has the rest):
the per-user rate counts server, power and account-key requests alike and leaves other users
alone; bad keys from one address exhaust only that address; with PANEL_TRUSTED_PROXIES=0 a
forged X-Forwarded-For changes nothing."""

import pytest

from panel.models import ActivityEntry, ApiKey
from tests import factories
from tests.api.conftest import assert_error, bearer_client

pytestmark = pytest.mark.usefixtures("frozen_window")

BAD_KEY = "ptlc_" + "Z" * 43
KEYS = "/api/client/account/api-keys"


def _assert_429(response) -> None:
    assert_error(
        response, 429, "TooManyRequestsHttpException", "Too many requests. Please slow down."
    )
    # 15.3 s into the frozen minute: 45 whole seconds until the next window.
    assert response["Retry-After"] == "45"


def power_url(server) -> str:
    return f"/api/client/servers/{server.identifier}/power"


def test_the_user_rate_counts_every_client_endpoint_and_spares_other_users(
    api, owner, server, settings
):
    settings.PANEL_API_RATE = "5/min"
    assert api.get("/api/client").status_code == 200
    assert api.get("/api/client/permissions").status_code == 200
    assert api.get(f"/api/client/servers/{server.identifier}").status_code == 200
    assert api.post(power_url(server), {"signal": "start"}, format="json").status_code == 204
    assert api.get(KEYS).status_code == 200

    _assert_429(api.post(KEYS, {"description": "sixth"}, format="json"))
    _assert_429(api.post(power_url(server), {"signal": "stop"}, format="json"))
    _assert_429(api.get("/api/client"))
    assert ApiKey.objects.filter(user=owner).count() == 1
    server.refresh_from_db()
    assert server.state == "running"  # the refused stop changed nothing

    other = factories.make_user()
    factories.make_server(other)
    other_client = bearer_client(factories.make_key(other))
    for _ in range(5):
        assert other_client.get("/api/client").status_code == 200


def test_bad_keys_from_one_address_lock_out_that_address_only(owner_key, server, settings):
    settings.PANEL_AUTH_FAILURE_RATE = "3/min"
    for _ in range(3):
        response = bearer_client(BAD_KEY).get("/api/client", REMOTE_ADDR="198.51.100.20")
        assert_error(response, 401, "InvalidCredentialsException")

    good = bearer_client(owner_key)
    _assert_429(good.get(KEYS, REMOTE_ADDR="198.51.100.20"))
    _assert_429(good.post(power_url(server), {"signal": "start"}, REMOTE_ADDR="198.51.100.20"))
    assert good.get(KEYS, REMOTE_ADDR="198.51.100.21").status_code == 200
    assert_error(
        bearer_client(BAD_KEY).get("/api/client", REMOTE_ADDR="198.51.100.21"),
        401,
        "InvalidCredentialsException",
    )


def test_a_forged_forwarded_for_does_not_escape_the_failure_limit(owner_key, settings):
    settings.PANEL_TRUSTED_PROXIES = 0
    settings.PANEL_AUTH_FAILURE_RATE = "3/min"
    for i in range(3):
        bearer_client(BAD_KEY).get(
            "/api/client", REMOTE_ADDR="198.51.100.30", HTTP_X_FORWARDED_FOR=f"203.0.113.{i}"
        )

    _assert_429(
        bearer_client(owner_key).get(
            "/api/client", REMOTE_ADDR="198.51.100.30", HTTP_X_FORWARDED_FOR="203.0.113.99"
        )
    )


def test_a_forged_forwarded_for_does_not_pass_a_keys_allowed_ips(owner, server, settings):
    settings.PANEL_TRUSTED_PROXIES = 0
    client = bearer_client(factories.make_key(owner, allowed_ips=["203.0.113.0/24"]))

    response = client.get(
        "/api/client", REMOTE_ADDR="198.51.100.40", HTTP_X_FORWARDED_FOR="203.0.113.5"
    )

    assert_error(
        response,
        403,
        "InsufficientPermissionsException",
        "This IP address (198.51.100.40) does not have permission to access the API using "
        "these credentials.",
    )


def test_a_forged_forwarded_for_is_not_the_address_logged(api, server, settings):
    settings.PANEL_TRUSTED_PROXIES = 0

    api.post(
        power_url(server),
        {"signal": "start"},
        format="json",
        REMOTE_ADDR="198.51.100.50",
        HTTP_X_FORWARDED_FOR="203.0.113.50",
    )

    assert ActivityEntry.objects.get().ip == "198.51.100.50"
    shown = api.get(f"/api/client/servers/{server.identifier}/activity").json()["data"][0]
    assert shown["attributes"]["ip"] == "198.51.100.50"
