"""Bad input of every kind: always an answer with the envelope, never a 500, and the data
untouched whenever the answer is an error."""

import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from allocations.models import Allocation
from tests.api.conftest import assert_error, snapshot
from tests.conftest import allocations_url

BOUNDED = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=300)
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
interesting_ips = st.sampled_from(
    [
        "",
        " ",
        "10.0.0.1",
        " 10.0.0.1",
        "10.0.0.1 ",
        "10.0.0.256",
        "010.0.0.1",
        "::1",
        "::ffff:10.0.0.1",
        "fe80::1%eth0",
        "[::1]",
        "10.0.0.1/32",
        "10.0.0.1:25565",
        "1" * 100,
        "\x00",
        "\ud800",
        "２５５.0.0.1",
    ]
)
interesting_ports = st.sampled_from(
    [
        0,
        1,
        25566,
        65535,
        65536,
        -1,
        2**63,
        -(2**63),
        1.0,
        25566.0,
        1e308,
        "25566",
        " 1",
        True,
        False,
        [],
        {},
    ]
)


def _error_or_ok(response) -> dict:
    assert response.status_code < 500, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    if response.status_code >= 400:
        assert list(body) == ["errors"]
        for entry in body["errors"]:
            assert entry["status"] == str(response.status_code)
            assert isinstance(entry["code"], str) and isinstance(entry["detail"], str)
    return body


def _reset(server):
    """Back to the fixture's state: only the primary assigned, no notes."""
    Allocation.objects.filter(server=server, is_primary=False).update(server=None, notes=None)
    Allocation.objects.filter(server=server).update(notes=None)


@BOUNDED
@given(ip=json_values | interesting_ips, port=json_values | interesting_ports)
def test_create_with_arbitrary_ip_and_port(api, server, ip, port):
    _reset(server)
    before = snapshot()
    # json.dumps escapes lone surrogates, as a client in another language might send them.
    raw = json.dumps({"ip": ip, "port": port})
    response = api.post(allocations_url(server), raw, content_type="application/json")
    _error_or_ok(response)
    if response.status_code >= 400:
        assert snapshot() == before
    else:
        assert Allocation.objects.filter(server=server).count() == 2


@BOUNDED
@given(body=json_values)
def test_create_with_an_arbitrary_json_body(api, server, body):
    _reset(server)
    before = snapshot()
    response = api.post(allocations_url(server), json.dumps(body), content_type="application/json")
    _error_or_ok(response)
    if response.status_code >= 400:
        assert snapshot() == before
    if not isinstance(body, dict):
        assert_error(response, 422, "ValidationException")


@BOUNDED
@given(notes=json_values | st.text(max_size=400))
def test_notes_with_arbitrary_values(api, server, notes):
    row = Allocation.objects.get(server=server)
    Allocation.objects.filter(pk=row.pk).update(notes="before")
    before = snapshot()
    raw = json.dumps({"notes": notes})
    response = api.post(allocations_url(server, row.id), raw, content_type="application/json")
    _error_or_ok(response)
    stored = Allocation.objects.get(pk=row.pk).notes
    if response.status_code >= 400:
        assert snapshot() == before
    else:
        assert response.status_code == 200
        assert stored == response.json()["attributes"]["notes"]
        assert stored is None or (0 < len(stored) <= 255)


@BOUNDED
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_as_json(api, server, raw):
    row = Allocation.objects.get(server=server)
    before = snapshot()
    for url in (allocations_url(server), allocations_url(server, row.id)):
        _reset(server)
        before = snapshot()
        response = api.post(url, raw, content_type="application/json")
        _error_or_ok(response)
        if response.status_code >= 400:
            assert snapshot() == before


@BOUNDED
@given(
    raw=st.binary(max_size=200),
    content_type=st.sampled_from(
        [
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=xyz",
            "multipart/form-data",
        ]
    ),
)
def test_arbitrary_bytes_as_a_form(api, server, raw, content_type):
    _reset(server)
    before = snapshot()
    response = api.post(allocations_url(server), raw, content_type=content_type)
    _error_or_ok(response)
    if response.status_code >= 400:
        assert snapshot() == before


@BOUNDED
@given(
    fields=st.dictionaries(
        st.sampled_from(["ip", "port", "notes", "x"]), st.text(max_size=40), max_size=4
    )
)
def test_arbitrary_form_fields(api, server, fields):
    _reset(server)
    before = snapshot()
    response = api.post(allocations_url(server), fields, format="multipart")
    _error_or_ok(response)
    if response.status_code >= 400:
        assert snapshot() == before
    row = Allocation.objects.get(server=server, is_primary=True)
    response = api.post(allocations_url(server, row.id), fields, format="multipart")
    _error_or_ok(response)


@BOUNDED
@given(text=st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_any_unicode_notes_round_trip_or_are_refused(api, server, text):
    row = Allocation.objects.get(server=server)
    response = api.post(allocations_url(server, row.id), {"notes": text}, format="json")
    _error_or_ok(response)
    if response.status_code == 200:
        assert Allocation.objects.get(pk=row.pk).notes == response.json()["attributes"]["notes"]


# --- specific shapes ------------------------------------------------------------------------


@pytest.mark.parametrize("depth", [50, 1_000, 10_000, 100_000])
def test_deep_nesting(api, server, depth):
    row = Allocation.objects.get(server=server)
    nested = b"[" * depth + b"]" * depth
    before = snapshot()
    for url, raw in (
        (allocations_url(server), b'{"ip": ' + nested + b"}"),
        (allocations_url(server), b'{"port": ' + nested + b"}"),
        (allocations_url(server, row.id), b'{"notes": ' + nested + b"}"),
    ):
        response = api.post(url, raw, content_type="application/json")
        _error_or_ok(response)
        assert response.status_code in (400, 422)
    assert snapshot() == before


def test_deeply_nested_body_is_malformed_or_refused(api, server):
    raw = b"[" * 100_000 + b"]" * 100_000
    response = api.post(allocations_url(server), raw, content_type="application/json")
    _error_or_ok(response)
    assert response.status_code in (400, 413, 422)


@pytest.mark.parametrize(
    "raw",
    [
        b'{"notes": "\xff\xfe"}',
        b'{"notes": "\xc3\x28"}',
        b'{"ip": "\xed\xa0\x80"}',  # an encoded surrogate: not UTF-8
        b'{"notes": "ok"}\x00',
    ],
)
def test_invalid_utf8_is_400(api, server, raw):
    row = Allocation.objects.get(server=server)
    before = snapshot()
    for url in (allocations_url(server), allocations_url(server, row.id)):
        response = api.post(url, raw, content_type="application/json")
        assert_error(response, 400, "BadRequestHttpException")
    assert snapshot() == before


@pytest.mark.parametrize("raw", [b"notes=%ff%fe", b"notes=\xff\xfe", b"port=%00", b"ip=%C3%28"])
def test_invalid_utf8_in_a_form_is_never_a_500(api, server, raw):
    row = Allocation.objects.get(server=server)
    for url in (allocations_url(server, row.id), allocations_url(server)):
        _reset(server)
        before = snapshot()
        response = api.post(url, raw, content_type="application/x-www-form-urlencoded")
        _error_or_ok(response)
        assert response.status_code in (200, 422), response.content
        if response.status_code >= 400:
            assert snapshot() == before


def test_form_nul_in_notes_is_422(api, server):
    row = Allocation.objects.get(server=server)
    response = api.post(
        allocations_url(server, row.id),
        "notes=a%00b",
        content_type="application/x-www-form-urlencoded",
    )
    body = assert_error(response, 422, "ValidationException")
    assert body["errors"][0]["meta"] == {"source_field": "notes", "rule": "string"}


@pytest.mark.parametrize("size", [100_000, 2_000_000])
def test_huge_json_notes_are_422_max(api, server, size):
    row = Allocation.objects.get(server=server)
    before = snapshot()
    response = api.post(allocations_url(server, row.id), {"notes": "n" * size}, format="json")
    body = assert_error(response, 422, "ValidationException")
    assert body["errors"][0]["meta"] == {"source_field": "notes", "rule": "max"}
    assert snapshot() == before


def test_huge_form_notes_are_422_max(api, server):
    row = Allocation.objects.get(server=server)
    response = api.post(
        allocations_url(server, row.id),
        "notes=" + "n" * 1_000_000,
        content_type="application/x-www-form-urlencoded",
    )
    body = assert_error(response, 422, "ValidationException")
    assert body["errors"][0]["meta"] == {"source_field": "notes", "rule": "max"}


@pytest.mark.parametrize(
    "content_type",
    ["application/json", "application/x-www-form-urlencoded", "multipart/form-data; boundary=b"],
)
def test_body_past_the_size_cap_is_an_envelope_never_a_500(api, server, content_type):
    row = Allocation.objects.get(server=server)
    before = snapshot()
    if content_type.startswith("multipart"):
        raw = (
            b'--b\r\nContent-Disposition: form-data; name="notes"\r\n\r\n'
            + b"n" * 3_000_000
            + b"\r\n--b--\r\n"
        )
    elif content_type.endswith("urlencoded"):
        raw = b"notes=" + b"n" * 3_000_000
    else:
        raw = json.dumps({"notes": "n" * 3_000_000}).encode()
    response = api.post(allocations_url(server, row.id), raw, content_type=content_type)
    _error_or_ok(response)
    assert 400 <= response.status_code < 500
    assert snapshot() == before


def test_many_form_fields_are_an_envelope_never_a_500(api, server):
    raw = "&".join(f"f{i}=1" for i in range(5_000))
    response = api.post(
        allocations_url(server), raw, content_type="application/x-www-form-urlencoded"
    )
    _error_or_ok(response)


def test_malformed_multipart_is_an_envelope_never_a_500(api, server):
    for raw, content_type in [
        (b"garbage", "multipart/form-data"),
        (b"garbage", "multipart/form-data; boundary="),
        (b"--b\r\nno headers\r\n--b--", "multipart/form-data; boundary=b"),
        (
            b"--b\r\nContent-Disposition: form-data\r\n\r\nx\r\n--b--\r\n",
            "multipart/form-data; boundary=b",
        ),
    ]:
        response = api.post(allocations_url(server), raw, content_type=content_type)
        _error_or_ok(response)


@pytest.mark.parametrize("value", ["1" * 5000, "-" + "9" * 5000])
def test_integer_literals_too_long_to_convert(api, server, value):
    response = api.post(
        allocations_url(server), f'{{"port": {value}}}'.encode(), content_type="application/json"
    )
    _error_or_ok(response)
    assert response.status_code in (400, 422)


def test_huge_float_port_is_integer_rule(api, server):
    response = api.post(
        allocations_url(server), b'{"port": 1e400}', content_type="application/json"
    )
    _error_or_ok(response)
    assert response.status_code in (400, 422)


@pytest.mark.parametrize("field,rule", [("ip", "ip"), ("port", "integer"), ("notes", "string")])
def test_a_file_upload_in_place_of_a_field_is_422(api, server, field, rule):
    from django.core.files.uploadedfile import SimpleUploadedFile

    row = Allocation.objects.get(server=server)
    url = allocations_url(server, row.id) if field == "notes" else allocations_url(server)
    before = snapshot()
    upload = SimpleUploadedFile("x.txt", b"25566", content_type="text/plain")
    response = api.post(url, {field: upload}, format="multipart")
    body = assert_error(response, 422, "ValidationException")
    assert body["errors"][0]["meta"] == {"source_field": field, "rule": rule}
    assert snapshot() == before
