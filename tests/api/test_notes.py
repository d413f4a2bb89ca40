"""Section 7, update notes: trimming, null, length in code points, types, no state rule."""

import pytest

from allocations.models import Allocation
from panel.models import ActivityEntry
from servers.models import Server
from tests.api.conftest import assert_error, snapshot
from tests.conftest import allocations_url


def _notes(api, server, row, body):
    return api.post(allocations_url(server, row.id), body, format="json")


def _raw(api, server, row, raw: bytes):
    return api.post(allocations_url(server, row.id), raw, content_type="application/json")


def _stored(row) -> str | None:
    return Allocation.objects.get(pk=row.pk).notes


def _assert_422(response, rule: str):
    body = assert_error(response, 422, "ValidationException")
    assert len(body["errors"]) == 1
    assert body["errors"][0]["meta"] == {"source_field": "notes", "rule": rule}
    return body


def test_set_notes(api, server, second):
    response = _notes(api, server, second, {"notes": "Secondary port for plugins"})
    assert response.status_code == 200
    assert response.json()["attributes"]["notes"] == "Secondary port for plugins"
    assert _stored(second) == "Secondary port for plugins"


def test_notes_on_the_primary(api, server):
    primary = Allocation.objects.get(server=server)
    response = _notes(api, server, primary, {"notes": "main"})
    assert response.status_code == 200
    assert response.json()["attributes"] == {
        "id": primary.id,
        "ip": "10.0.0.1",
        "ip_alias": None,
        "port": 25565,
        "notes": "main",
        "is_default": True,
    }


@pytest.mark.parametrize(
    "raw,stored",
    [
        ("  padded  ", "padded"),
        ("\t\n tabs \r\n", "tabs"),
        ("\u00a0\u2003nbsp and em space\u3000", "nbsp and em space"),
        ("\u2028line sep\u2029", "line sep"),
        ("\u0085next line\u000b\u000c", "next line"),
        ("\u1680ogham\u202f\u205f", "ogham"),
        ("inner  \u00a0 space", "inner  \u00a0 space"),
        ("\u200bzero width\u200b", "\u200bzero width\u200b"),  # not White_Space: kept
        ("\ufeffbom", "\ufeffbom"),
    ],
)
def test_notes_are_trimmed_of_unicode_white_space(api, server, second, raw, stored):
    response = _notes(api, server, second, {"notes": raw})
    assert response.status_code == 200, response.content
    assert response.json()["attributes"]["notes"] == stored
    assert _stored(second) == stored


@pytest.mark.parametrize("raw", ["", " ", "\t\n", "\u3000\u00a0\u2000"])
def test_empty_after_trimming_is_stored_as_null(api, server, second, raw):
    Allocation.objects.filter(pk=second.pk).update(notes="before")
    response = _notes(api, server, second, {"notes": raw})
    assert response.status_code == 200
    assert response.json()["attributes"]["notes"] is None
    assert _stored(second) is None


def test_null_clears(api, server, second):
    Allocation.objects.filter(pk=second.pk).update(notes="before")
    response = _notes(api, server, second, {"notes": None})
    assert response.status_code == 200
    assert response.json()["attributes"]["notes"] is None
    assert _stored(second) is None


@pytest.mark.parametrize("body", [{}, {"other": "x"}, {"Notes": "x"}, {"note": "x"}])
def test_missing_notes_leaves_them_unchanged(api, server, second, body):
    Allocation.objects.filter(pk=second.pk).update(notes="keep")
    response = _notes(api, server, second, body)
    assert response.status_code == 200
    assert response.json()["attributes"]["notes"] == "keep"
    assert _stored(second) == "keep"
    assert not ActivityEntry.objects.exists()


def test_255_code_points_are_accepted(api, server, second):
    for text in ("x" * 255, "\U0001f600" * 255, "é" * 255, "  " + "y" * 255 + "  "):
        response = _notes(api, server, second, {"notes": text})
        assert response.status_code == 200, text[:5]
        assert _stored(second) == text.strip()
        assert len(_stored(second)) == 255


@pytest.mark.parametrize("text", ["x" * 256, "\U0001f600" * 256, "é" * 256, "x" * 10_000])
def test_256_code_points_are_refused(api, server, second, text):
    Allocation.objects.filter(pk=second.pk).update(notes="keep")
    before = snapshot()
    _assert_422(_notes(api, server, second, {"notes": text}), "max")
    assert snapshot() == before


def test_length_is_counted_after_trimming(api, server, second):
    response = _notes(api, server, second, {"notes": " " * 100 + "z" * 255 + "\u3000" * 100})
    assert response.status_code == 200
    assert _stored(second) == "z" * 255


def test_huge_notes_are_refused_with_the_max_rule(api, server, second):
    before = snapshot()
    _assert_422(_notes(api, server, second, {"notes": "h" * 1_000_000}), "max")
    assert snapshot() == before


@pytest.mark.parametrize("value", [5, 0, 1.5, True, False, [], ["a"], {}, {"a": "b"}])
def test_non_string_types_are_refused(api, server, second, value):
    Allocation.objects.filter(pk=second.pk).update(notes="keep")
    before = snapshot()
    body = _assert_422(_notes(api, server, second, {"notes": value}), "string")
    assert body["errors"][0]["detail"] == "The notes must be a string."
    assert snapshot() == before


@pytest.mark.parametrize("text", ["a\x00b", "\x00", " \x00 "])
def test_nul_is_refused_as_not_a_string(api, server, second, text):
    before = snapshot()
    _assert_422(_notes(api, server, second, {"notes": text}), "string")
    assert snapshot() == before


@pytest.mark.parametrize(
    "raw",
    [b'{"notes": "\\ud800"}', b'{"notes": "a\\udfffb"}', b'{"notes": "\\ud83d"}'],
)
def test_lone_surrogate_is_refused_as_not_a_string(api, server, second, raw):
    before = snapshot()
    _assert_422(_raw(api, server, second, raw), "string")
    assert snapshot() == before


def test_escaped_surrogate_pair_is_an_emoji(api, server, second):
    response = _raw(api, server, second, b'{"notes": "\\ud83d\\ude00"}')
    assert response.status_code == 200
    assert _stored(second) == "\U0001f600"


def test_other_control_characters_are_kept(api, server, second):
    response = _notes(api, server, second, {"notes": "a\x01b\x7fc"})
    assert response.status_code == 200
    assert _stored(second) == "a\x01b\x7fc"


def test_notes_may_change_while_the_server_runs(api, server, second):
    for state in ("running", "starting", "stopping"):
        Server.objects.filter(pk=server.pk).update(state=state)
        response = _notes(api, server, second, {"notes": state})
        assert response.status_code == 200
        assert _stored(second) == state


def test_notes_in_a_form_are_strings(api, server, second):
    response = api.post(allocations_url(server, second.id), {"notes": "12345"}, format="multipart")
    assert response.status_code == 200
    assert response.json()["attributes"]["notes"] == "12345"


def test_empty_form_notes_clear(api, server, second):
    Allocation.objects.filter(pk=second.pk).update(notes="x")
    response = api.post(
        allocations_url(server, second.id),
        "notes=",
        content_type="application/x-www-form-urlencoded",
    )
    assert response.status_code == 200
    assert _stored(second) is None


def test_unicode_text_round_trips(api, server, second):
    text = "Serveur de jeu — ポート 🎮 ñ"
    response = _notes(api, server, second, {"notes": text})
    assert response.status_code == 200
    assert response.json()["attributes"]["notes"] == text
    listed = api.get(allocations_url(server)).json()["data"]
    assert text in [a["attributes"]["notes"] for a in listed]
