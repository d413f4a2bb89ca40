"""`/api/client/account/api-keys` (spec sections 9 and 11): list (never a secret), create
(the secret in `meta.secret_token`, once; at most 25 a user, also under concurrency), and
delete (204; the key stops working on the next request)."""

import re
from collections import Counter

import pytest
from rest_framework.test import APIClient

from panel.api_keys import hash_key
from panel.models import ApiKey
from tests import factories
from tests.api.conftest import assert_error, bearer_client

URL = "/api/client/account/api-keys"
ALNUM = re.compile(r"[A-Za-z0-9]+")


def key_url(identifier: str) -> str:
    return f"{URL}/{identifier}"


def _create(client, **body):
    return client.post(URL, body, format="json")


# --- list -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_list_shows_the_callers_keys_in_pterodactyls_item_shape(owner, api, owner_key):
    factories.make_key(owner, description="billing", allowed_ips=["192.0.2.0/24"])
    factories.make_key(factories.make_user(), description="someone else's")

    response = api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "list"
    assert "meta" not in body
    assert [item["object"] for item in body["data"]] == ["api_key", "api_key"]
    first, second = (item["attributes"] for item in body["data"])
    assert list(first) == ["identifier", "description", "allowed_ips", "last_used_at", "created_at"]
    assert first["identifier"] == owner_key[:16]
    assert first["last_used_at"] is not None  # this very request used it
    assert (second["description"], second["allowed_ips"], second["last_used_at"]) == (
        "billing",
        ["192.0.2.0/24"],
        None,
    )
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", second["created_at"])


@pytest.mark.django_db
def test_list_never_shows_a_secret(owner, api, owner_key):
    token = factories.make_key(owner)

    content = api.get(URL).content.decode()

    for key in (owner_key, token):
        assert key[16:] not in content
        assert hash_key(key) not in content


# --- create -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_create_answers_the_item_and_the_secret_once(owner, api):
    response = _create(api, description="  deploy bot  ", allowed_ips=["192.0.2.7", "10.0.0.0/8"])

    assert response.status_code == 200, response.content
    body = response.json()
    assert body["object"] == "api_key"
    attrs = body["attributes"]
    assert attrs["description"] == "deploy bot"
    assert attrs["allowed_ips"] == ["192.0.2.7", "10.0.0.0/8"]
    assert attrs["last_used_at"] is None
    identifier, secret = attrs["identifier"], body["meta"]["secret_token"]
    assert identifier.startswith("ptlc_") and len(identifier) == 16
    assert len(secret) == 32 and ALNUM.fullmatch(secret)
    stored = ApiKey.objects.get(identifier=identifier)
    assert stored.user_id == owner.pk
    assert stored.key_hash == hash_key(identifier + secret)
    assert secret not in api.get(URL).content.decode()


@pytest.mark.django_db
def test_the_new_key_is_identifier_followed_by_secret_token(api, server):
    body = _create(api, description="new").json()
    token = body["attributes"]["identifier"] + body["meta"]["secret_token"]

    response = bearer_client(token).get("/api/client")

    assert response.status_code == 200
    assert response.json()["data"][0]["attributes"]["identifier"] == server.identifier


@pytest.mark.django_db
def test_create_from_a_form_takes_repeated_allowed_ips(api):
    response = api.post(URL, {"description": "form", "allowed_ips": ["192.0.2.1", "192.0.2.2"]})

    assert response.status_code == 200, response.content
    assert response.json()["attributes"]["allowed_ips"] == ["192.0.2.1", "192.0.2.2"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("body", "field", "rule"),
    [
        ({}, "description", "required"),
        ({"description": ""}, "description", "required"),
        ({"description": "   "}, "description", "required"),
        ({"description": None}, "description", "required"),
        ({"description": 5}, "description", "string"),
        ({"description": "nul\x00"}, "description", "string"),
        ({"description": "x" * 501}, "description", "max"),
        ({"description": "ok", "allowed_ips": "192.0.2.1"}, "allowed_ips", "array"),
        ({"description": "ok", "allowed_ips": [1]}, "allowed_ips", "array"),
        ({"description": "ok", "allowed_ips": ["not-an-ip"]}, "allowed_ips", "ip"),
        ({"description": "ok", "allowed_ips": ["fe80::1%eth0"]}, "allowed_ips", "ip"),
        (
            {"description": "ok", "allowed_ips": [f"10.0.0.{i}" for i in range(51)]},
            "allowed_ips",
            "max",
        ),
    ],
)
def test_create_with_a_bad_body_is_422_naming_the_field(api, body, field, rule):
    response = api.post(URL, body, format="json")

    answer = assert_error(response, 422, "ValidationException")
    assert answer["errors"][0]["meta"] == {"source_field": field, "rule": rule}
    assert ApiKey.objects.count() == 1  # the caller's own


@pytest.mark.django_db
def test_create_with_a_body_that_is_not_an_object_is_422_on_body(api):
    answer = assert_error(api.post(URL, ["x"], format="json"), 422, "ValidationException")
    assert answer["errors"][0]["meta"] == {"source_field": "body", "rule": "object"}


@pytest.mark.django_db
def test_create_past_25_keys_is_400_and_makes_none(owner, api):
    for _ in range(24):  # plus the caller's own: 25
        factories.make_key(owner)

    response = _create(api, description="one too many")

    assert_error(
        response,
        400,
        "DisplayException",
        "You have reached the account limit for number of API keys.",
    )
    assert ApiKey.objects.filter(user=owner).count() == 25


@pytest.mark.django_db
def test_another_users_keys_do_not_count_against_the_cap(owner, api):
    other = factories.make_user()
    for _ in range(25):
        factories.make_key(other)

    assert _create(api, description="mine").status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_forty_simultaneous_creates_never_pass_the_cap():
    from tests.concurrency.race import api_call, run_together

    owner = factories.make_user(password=None)
    key = factories.make_key(owner)
    for _ in range(19):
        factories.make_key(owner)  # 20 held: 5 to go

    answers = run_together(
        [api_call(key, "post", URL, {"description": f"racer {i}"}) for i in range(40)]
    )

    assert Counter(a.status for a in answers) == {200: 5, 400: 35}
    assert {a.code for a in answers if a.status == 400} == {"DisplayException"}
    assert ApiKey.objects.filter(user=owner).count() == 25


# --- delete -----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_delete_answers_204_and_the_key_stops_working_on_the_next_request(owner, api, server):
    doomed = factories.make_key(owner)
    doomed_client = bearer_client(doomed)
    assert doomed_client.get("/api/client").status_code == 200

    response = api.delete(key_url(doomed[:16]))

    assert response.status_code == 204
    assert response.content == b""
    assert not ApiKey.objects.filter(identifier=doomed[:16]).exists()
    assert_error(doomed_client.get("/api/client"), 401, "InvalidCredentialsException")


@pytest.mark.django_db
def test_a_key_can_delete_itself(api, owner_key):
    assert api.delete(key_url(owner_key[:16])).status_code == 204

    assert_error(api.get(URL), 401, "InvalidCredentialsException")


@pytest.mark.django_db
def test_deleting_another_users_key_is_404_and_it_keeps_working(api, server):
    theirs = factories.make_key(factories.make_user())

    response = api.delete(key_url(theirs[:16]))

    assert_error(response, 404, "NotFoundHttpException")
    assert bearer_client(theirs).get(URL).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("identifier", ["ptlc_00000000000", "nonsense", "%00"])
def test_deleting_an_unknown_key_is_404(api, identifier):
    assert_error(api.delete(key_url(identifier)), 404, "NotFoundHttpException")


@pytest.mark.django_db
def test_key_endpoints_need_credentials(owner_key):
    client = APIClient()
    assert_error(client.get(URL), 401, "InvalidCredentialsException")
    assert_error(client.post(URL, {"description": "x"}), 401, "InvalidCredentialsException")
    assert_error(client.delete(key_url(owner_key[:16])), 401, "InvalidCredentialsException")
    assert ApiKey.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize(("url", "method"), [(URL, "delete"), ("KEY", "get"), ("KEY", "post")])
def test_key_endpoints_answer_405_for_other_methods(api, owner_key, url, method):
    url = key_url(owner_key[:16]) if url == "KEY" else url

    assert_error(getattr(api, method)(url), 405, "MethodNotAllowedHttpException")
