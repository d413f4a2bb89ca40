"""Sections 2 and 3: paths, methods, Accept headers and request bodies."""

import json

import pytest
from django.test import Client
from rest_framework.test import APIClient

from allocations.models import Allocation
from tests import factories
from tests.api.conftest import NOT_FOUND, assert_error, bearer_client
from tests.conftest import allocations_url


def _url(server_ref: str, *parts) -> str:
    base = f"/api/client/servers/{server_ref}/network/allocations"
    return "/".join([base, *map(str, parts)]) if parts else base


def _server_refs(server) -> list[str]:
    return [
        server.identifier,
        server.identifier.upper(),
        str(server.uuid),
        str(server.uuid).upper(),
        str(server.uuid)[:20] + str(server.uuid)[20:].upper(),
    ]


# --- paths ----------------------------------------------------------------------------------


def test_server_is_found_by_uuid_and_identifier_in_any_case(api, server):
    for ref in _server_refs(server):
        response = api.get(_url(ref))
        assert response.status_code == 200, ref
        assert len(response.json()["data"]) == 1


def test_every_endpoint_accepts_every_server_reference(api, server):
    for ref in _server_refs(server):
        created = api.post(_url(ref), {}, format="json")
        assert created.status_code == 200, ref
        alloc_id = created.json()["attributes"]["id"]
        noted = api.post(_url(ref, alloc_id), {"notes": ref}, format="json")
        assert noted.status_code == 200
        assert noted.json()["attributes"]["notes"] == ref
        assert api.post(_url(ref, alloc_id, "primary")).status_code == 200
        first = Allocation.objects.get(server=server, port=25565)
        assert api.post(_url(ref, first.id, "primary")).status_code == 200
        assert api.delete(_url(ref, alloc_id)).status_code == 204


@pytest.mark.parametrize(
    "ref",
    [
        "abcdef1",  # 7 characters
        "abcdef123",  # 9 characters
        "zzzzzzzz",
        "00000000-0000-0000-0000-000000000000",
        "not-a-server",
        "%20",
    ],
)
def test_unknown_server_references_are_404(api, server, ref):
    response = api.get(_url(ref))
    assert_error(response, 404, "NotFoundHttpException")
    assert json.loads(response.content) == NOT_FOUND


def test_non_canonical_uuid_spellings_are_404(api, server):
    hex32 = server.uuid.hex
    braced = "{" + hex32[:8] + "-" + hex32[8:12] + "-" + hex32[12:] + "}"
    for ref in (hex32, braced, f"urn:uuid:{server.uuid}", f" {server.identifier}"):
        assert_error(api.get(_url(ref)), 404, "NotFoundHttpException")


def test_identifier_with_surrounding_space_is_404(api, server):
    assert_error(api.get(_url(f"{server.identifier}%20")), 404, "NotFoundHttpException")
    assert_error(api.get(_url(f"%20{server.identifier}")), 404, "NotFoundHttpException")


def test_trailing_slash_answers_the_same_and_never_redirects(api, server, second):
    plain = api.get(allocations_url(server))
    slashed = api.get(allocations_url(server) + "/")
    assert slashed.status_code == 200
    assert slashed.content == plain.content

    created = api.post(allocations_url(server) + "/", {}, format="json")
    assert created.status_code == 200
    new_id = created.json()["attributes"]["id"]

    noted = api.post(allocations_url(server, second.id) + "/", {"notes": "n"}, format="json")
    assert noted.status_code == 200
    assert noted.json()["attributes"]["notes"] == "n"

    primary = api.post(allocations_url(server, second.id, "primary") + "/")
    assert primary.status_code == 200
    assert primary.json()["attributes"]["is_default"] is True

    deleted = api.delete(allocations_url(server, new_id) + "/")
    assert deleted.status_code == 204


def test_no_api_answer_is_a_redirect(api, server, second):
    for method, url in [
        ("get", "/api"),
        ("post", "/api"),
        ("delete", "/api"),
        ("get", "/api/client/servers"),
        ("get", "/api/client/servers/abcdef12/network"),
        ("post", allocations_url(server) + "/"),
        ("post", allocations_url(server, second.id, "primary") + "/"),
        ("get", allocations_url(server) + "//"),
    ]:
        response = getattr(api, method)(url)
        assert not 300 <= response.status_code < 400, (method, url, response.status_code)
        assert response["Content-Type"].startswith("application/json"), url


@pytest.mark.parametrize(
    "alloc", ["abc", "1.0", "-1", "1e3", "0x10", "99999999999999999999999", "9" * 300, "١"]
)
def test_non_numeric_huge_or_overlong_allocation_ids_are_404(api, server, alloc):
    for method in ("post", "delete"):
        response = getattr(api, method)(allocations_url(server, alloc))
        assert_error(response, 404, "NotFoundHttpException")
        assert json.loads(response.content) == NOT_FOUND
    assert_error(api.post(allocations_url(server, alloc, "primary")), 404, "NotFoundHttpException")


def test_largest_bigint_id_is_404_not_an_overflow(api, server):
    for alloc in (str(2**63 - 1), str(2**63), str(2**64)):
        assert_error(api.delete(allocations_url(server, alloc)), 404, "NotFoundHttpException")


@pytest.mark.parametrize(
    "path",
    [
        "/api/",
        "/api/nothing",
        "/api/client/servers/",
        "/api/client/servers/abcdef12/network",
        "/api/client/servers/abcdef12/network/",
        "/api/client/servers/abcdef12/network/allocation",
        "/api/client/servers/abcdef12/network/allocations/1/2",
        "/api/application/servers",
        "/api/client/servers//network/allocations",
    ],
)
def test_unknown_paths_under_api_answer_the_404_envelope(api, path):
    response = api.get(path)
    assert_error(response, 404, "NotFoundHttpException")
    assert json.loads(response.content) == NOT_FOUND


def test_unknown_subpaths_of_a_real_server_are_404(api, server, second):
    for suffix in ("/primary/extra", "/unknown", "/primary/primary"):
        response = api.post(allocations_url(server, second.id) + suffix)
        assert_error(response, 404, "NotFoundHttpException")


def test_unknown_api_path_is_404_even_for_a_post_without_csrf(owner):
    """No session, no token, CSRF enforced as in production: still the 404 envelope."""
    client = APIClient(enforce_csrf_checks=True)
    response = client.post("/api/nothing/here", {"a": 1}, format="json")
    assert_error(response, 404, "NotFoundHttpException")
    client.force_login(owner)
    response = client.delete("/api/nothing/here")
    assert_error(response, 404, "NotFoundHttpException")


def test_unknown_path_answers_json_without_any_credentials():
    response = Client().get("/api/client/whatever", HTTP_ACCEPT="text/html")
    assert_error(response, 404, "NotFoundHttpException")


# --- methods --------------------------------------------------------------------------------


@pytest.mark.parametrize("method", ["PUT", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND"])
def test_other_methods_on_the_list_path_are_405(api, server, method):
    response = api.generic(method, allocations_url(server))
    assert_error(response, 405, "MethodNotAllowedHttpException")


@pytest.mark.parametrize("method", ["GET", "HEAD", "PUT", "PATCH", "OPTIONS"])
def test_other_methods_on_the_allocation_path_are_405(api, server, second, method):
    response = api.generic(method, allocations_url(server, second.id))
    assert response.status_code == 405
    if method != "HEAD":  # a HEAD answer has no body
        assert_error(response, 405, "MethodNotAllowedHttpException")


@pytest.mark.parametrize("method", ["GET", "HEAD", "DELETE", "PUT", "PATCH", "OPTIONS"])
def test_other_methods_on_the_primary_path_are_405(api, server, second, method):
    response = api.generic(method, allocations_url(server, second.id, "primary"))
    assert response.status_code == 405
    if method != "HEAD":
        assert_error(response, 405, "MethodNotAllowedHttpException")


def test_405_with_the_trailing_slash_too(api, server):
    assert_error(
        api.patch(allocations_url(server) + "/", {}, format="json"),
        405,
        "MethodNotAllowedHttpException",
    )


def test_head_is_served_as_get(api, server):
    get = api.get(allocations_url(server))
    head = api.head(allocations_url(server))
    assert head.status_code == 200
    assert head["Content-Type"] == get["Content-Type"]
    assert head.content == b""


def test_head_follows_the_get_checks(api, server):
    assert api.head(_url("ffffffff")).status_code == 404
    assert APIClient().head(allocations_url(server)).status_code == 401


# --- Accept ---------------------------------------------------------------------------------


ACCEPTS = [
    "application/json",
    "Application/vnd.pterodactyl.v1+json",
    "APPLICATION/VND.PTERODACTYL.V1+JSON",
    "*/*",
    None,
    "text/html",
    "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
    "application/xml",
    "garbage",
    ";;;/==",
    "",
]


@pytest.mark.parametrize("accept", ACCEPTS)
def test_every_accept_header_gets_json_never_406(api, server, accept):
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}
    ok = api.get(allocations_url(server), **extra)
    assert ok.status_code == 200
    assert ok["Content-Type"].startswith("application/json")
    assert ok.json()["object"] == "list"
    created = api.post(allocations_url(server), {}, format="json", **extra)
    assert created.status_code == 200
    assert created.json()["object"] == "allocation"


@pytest.mark.parametrize("accept", ACCEPTS)
def test_every_accept_header_gets_json_errors(server, accept):
    extra = {} if accept is None else {"HTTP_ACCEPT": accept}
    assert_error(
        APIClient().get(allocations_url(server), **extra), 401, "InvalidCredentialsException"
    )
    assert_error(APIClient().get("/api/x", **extra), 404, "NotFoundHttpException")


def test_format_query_parameter_changes_nothing(api, server):
    for fmt in ("api", "html", "xml", "json"):
        response = api.get(allocations_url(server) + f"?format={fmt}")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("application/json")


# --- bodies ---------------------------------------------------------------------------------


def test_json_body(api, server):
    response = api.post(allocations_url(server), {"port": 25570}, format="json")
    assert response.status_code == 200
    assert response.json()["attributes"]["port"] == 25570


def test_json_with_charset_and_odd_case_content_type(api, server):
    response = api.post(
        allocations_url(server),
        json.dumps({"port": 25570}),
        content_type="Application/JSON; charset=utf-8",
    )
    assert response.status_code == 200
    assert response.json()["attributes"]["port"] == 25570


def test_urlencoded_form_digit_string_counts_as_integer(api, server):
    response = api.post(
        allocations_url(server),
        "ip=10.0.0.1&port=25570",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200, response.content
    assert response.json()["attributes"]["port"] == 25570


def test_multipart_form_digit_string_counts_as_integer(api, server):
    response = api.post(allocations_url(server), {"port": "25571"}, format="multipart")
    assert response.status_code == 200, response.content
    assert response.json()["attributes"]["port"] == 25571


@pytest.mark.parametrize("port", ["abc", "25566.0", "-1", "+25566", " 25566", "0x10", ""])
def test_form_non_digit_port_is_422_integer(api, server, port):
    response = api.post(allocations_url(server), {"port": port}, format="multipart")
    body = assert_error(response, 422, "ValidationException")
    assert body["errors"][0]["meta"] == {"source_field": "port", "rule": "integer"}


@pytest.mark.parametrize("port", ["0", "65536", "000000", "99999999999999999999"])
def test_form_digit_port_out_of_range_is_422_between(api, server, port):
    response = api.post(allocations_url(server), {"port": port}, format="multipart")
    body = assert_error(response, 422, "ValidationException")
    assert body["errors"][0]["meta"] == {"source_field": "port", "rule": "between"}


def test_form_port_with_leading_zeros_counts(api, server):
    response = api.post(allocations_url(server), {"port": "025570"}, format="multipart")
    assert response.status_code == 200
    assert response.json()["attributes"]["port"] == 25570


def test_json_digit_string_port_is_not_an_integer(api, server):
    response = api.post(allocations_url(server), {"port": "25570"}, format="json")
    body = assert_error(response, 422, "ValidationException")
    assert body["errors"][0]["meta"]["rule"] == "integer"


def test_form_notes(api, server, second):
    response = api.post(
        allocations_url(server, second.id),
        "notes=%20hello%20",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert response.json()["attributes"]["notes"] == "hello"


@pytest.mark.parametrize(
    "content_type",
    ["text/plain", "application/xml", "application/octet-stream", "text/json", "application/yaml"],
)
def test_other_content_types_with_a_body_are_415(api, server, second, content_type):
    before = Allocation.objects.filter(server=server).count()
    response = api.post(allocations_url(server), b'{"port": 25570}', content_type=content_type)
    assert_error(response, 415, "UnsupportedMediaTypeHttpException")
    response = api.post(
        allocations_url(server, second.id), b'{"notes": "x"}', content_type=content_type
    )
    assert_error(response, 415, "UnsupportedMediaTypeHttpException")
    assert Allocation.objects.filter(server=server).count() == before


def test_body_without_a_content_type_is_415(api, server):
    response = api.generic("POST", allocations_url(server), b'{"port": 25570}', content_type="")
    assert_error(response, 415, "UnsupportedMediaTypeHttpException")


@pytest.mark.parametrize("content_type", ["application/json", "text/plain", "", None])
def test_empty_body_counts_as_an_empty_object(api, server, content_type):
    kwargs = {} if content_type is None else {"content_type": content_type}
    response = api.generic("POST", allocations_url(server), b"", **kwargs)
    assert response.status_code == 200, response.content
    assert response.json()["attributes"]["port"] == 25566


def test_empty_body_on_notes_changes_nothing(api, server, second):
    Allocation.objects.filter(pk=second.pk).update(notes="keep")
    response = api.generic(
        "POST", allocations_url(server, second.id), b"", content_type="application/json"
    )
    assert response.status_code == 200
    assert response.json()["attributes"]["notes"] == "keep"


@pytest.mark.parametrize(
    "raw",
    [b"{", b"{'ip': 1}", b"NaN", b'{"port": Infinity}', b"[1,]", b"   ", b"\xff\xfe", b'{"a":1}x'],
)
def test_malformed_json_is_400(api, server, raw):
    before = Allocation.objects.filter(server=server).count()
    response = api.post(allocations_url(server), raw, content_type="application/json")
    assert_error(response, 400, "BadRequestHttpException")
    assert Allocation.objects.filter(server=server).count() == before


@pytest.mark.parametrize("raw", [b"[]", b"[1]", b"null", b"1", b'"text"', b"true", b"25566.0"])
def test_json_that_is_not_an_object_is_422_body_object(api, server, second, raw):
    for url in (allocations_url(server), allocations_url(server, second.id)):
        response = api.post(url, raw, content_type="application/json")
        body = assert_error(response, 422, "ValidationException")
        assert body["errors"] == [
            {
                "code": "ValidationException",
                "status": "422",
                "detail": "The request body must be a JSON object.",
                "meta": {"source_field": "body", "rule": "object"},
            }
        ]


def test_unknown_fields_are_ignored(api, server, second):
    created = api.post(
        allocations_url(server),
        {"port": 25570, "server": 999, "is_default": True, "notes": "ignored", "id": 1},
        format="json",
    )
    assert created.status_code == 200
    attrs = created.json()["attributes"]
    assert attrs["is_default"] is False
    assert attrs["notes"] is None
    noted = api.post(
        allocations_url(server, second.id),
        {"notes": "n", "port": "junk", "ip": [], "is_default": True},
        format="json",
    )
    assert noted.status_code == 200
    assert noted.json()["attributes"]["is_default"] is False


@pytest.mark.parametrize(
    "raw,content_type",
    [
        (b"{not json", "application/json"),
        (b"[1, 2]", "application/json"),
        (b"<xml/>", "application/xml"),
        (b"\xff\xfe\x00", "text/plain"),
    ],
)
def test_list_primary_and_delete_ignore_any_body(api, server, second, raw, content_type):
    listed = api.generic("GET", allocations_url(server), raw, content_type=content_type)
    assert listed.status_code == 200
    third = api.post(allocations_url(server), {}, format="json").json()["attributes"]["id"]
    primary = api.generic(
        "POST", allocations_url(server, second.id, "primary"), raw, content_type=content_type
    )
    assert primary.status_code == 200
    assert primary.json()["attributes"]["is_default"] is True
    deleted = api.generic("DELETE", allocations_url(server, third), raw, content_type=content_type)
    assert deleted.status_code == 204


def test_py_dactyl_style_empty_post_with_json_headers(server, owner_key):
    client = Client(
        HTTP_AUTHORIZATION=f"Bearer {owner_key}",
        HTTP_ACCEPT="Application/vnd.pterodactyl.v1+json",
    )
    response = client.post(allocations_url(server), b"", content_type="application/json")
    assert response.status_code == 200
    assert response.json()["object"] == "allocation"


def test_session_requests_work_with_a_valid_csrf_token(owner, server, second):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(owner)
    assert client.get(allocations_url(server)).status_code == 200
    token = "a" * 32
    client.cookies["csrftoken"] = token
    response = client.post(
        allocations_url(server, second.id), {"notes": "s"}, format="json", HTTP_X_CSRFTOKEN=token
    )
    assert response.status_code == 200, response.content
    assert response.json()["attributes"]["notes"] == "s"


def test_session_of_a_subuser_works_like_a_key(server):
    user = factories.make_user()
    factories.make_subuser(server, user, ["allocation.read"])
    client = APIClient()
    client.force_login(user)
    assert client.get(allocations_url(server)).status_code == 200
    assert bearer_client(factories.make_key(user)).get(allocations_url(server)).status_code == 200
