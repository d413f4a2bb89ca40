"""Section 4: the item, list and error envelopes, key by key and type by type."""

import json

from allocations.models import Allocation
from tests import factories
from tests.api.conftest import assert_error
from tests.conftest import allocations_url

ITEM_KEYS = ["id", "ip", "ip_alias", "port", "notes", "is_default"]


def _check_item(item: dict) -> dict:
    assert list(item) == ["object", "attributes"]
    assert item["object"] == "allocation"
    attrs = item["attributes"]
    assert list(attrs) == ITEM_KEYS
    assert type(attrs["id"]) is int
    assert type(attrs["ip"]) is str
    assert attrs["ip_alias"] is None or type(attrs["ip_alias"]) is str
    assert type(attrs["port"]) is int
    assert attrs["notes"] is None or type(attrs["notes"]) is str
    assert type(attrs["is_default"]) is bool
    return attrs


def test_list_envelope_has_object_and_data_only_and_no_meta(api, server, second):
    response = api.get(allocations_url(server))
    assert response.status_code == 200
    assert response["Content-Type"].startswith("application/json")
    body = json.loads(response.content)
    assert list(body) == ["object", "data"]
    assert body["object"] == "list"
    assert "meta" not in body
    assert len(body["data"]) == 2
    for item in body["data"]:
        _check_item(item)


def test_list_is_ordered_by_id_ascending_not_by_address(api, server):
    node = server.node
    # Rows made in an order whose ids disagree with address order.
    late = factories.make_pool(node, ip="10.0.0.0", ports=[1])[0]
    early_port = Allocation.objects.get(node=node, port=25574)
    for row in (late, early_port):
        Allocation.objects.filter(pk=row.pk).update(server=server)
    ids = [a["attributes"]["id"] for a in api.get(allocations_url(server)).json()["data"]]
    assert ids == sorted(ids)
    assert len(ids) == 3


def test_list_shows_only_the_servers_own_allocations(api, server, owner):
    other = factories.make_server(owner, node=server.node)
    response = api.get(allocations_url(server))
    ids = {a["attributes"]["id"] for a in response.json()["data"]}
    assert ids == set(Allocation.objects.filter(server=server).values_list("id", flat=True))
    assert not ids & set(Allocation.objects.filter(server=other).values_list("id", flat=True))


def test_item_values_match_the_row_and_only_primary_is_default(api, server, second):
    Allocation.objects.filter(pk=second.pk).update(ip_alias="game.example.com", notes="plugins")
    data = api.get(allocations_url(server)).json()["data"]
    by_id = {a["attributes"]["id"]: a["attributes"] for a in data}
    primary = Allocation.objects.get(server=server, is_primary=True)
    assert by_id[primary.id] == {
        "id": primary.id,
        "ip": "10.0.0.1",
        "ip_alias": None,
        "port": 25565,
        "notes": None,
        "is_default": True,
    }
    assert by_id[second.id] == {
        "id": second.id,
        "ip": "10.0.0.1",
        "ip_alias": "game.example.com",
        "port": 25566,
        "notes": "plugins",
        "is_default": False,
    }


def test_empty_alias_shows_as_null(api, server):
    Allocation.objects.filter(server=server).update(ip_alias="")
    attrs = api.get(allocations_url(server)).json()["data"][0]["attributes"]
    assert attrs["ip_alias"] is None


def test_create_item_envelope(api, server):
    response = api.post(allocations_url(server), {}, format="json")
    assert response.status_code == 200
    attrs = _check_item(response.json())
    assert attrs["is_default"] is False
    assert attrs["notes"] is None


def test_notes_and_primary_answer_the_item_envelope(api, server, second):
    noted = api.post(allocations_url(server, second.id), {"notes": "x"}, format="json")
    assert noted.status_code == 200
    assert _check_item(noted.json())["notes"] == "x"
    primary = api.post(allocations_url(server, second.id, "primary"))
    assert primary.status_code == 200
    assert _check_item(primary.json())["is_default"] is True


def test_ipv6_address_is_shown_compressed(api, owner):
    server = factories.make_server(owner, ip="2001:db8:0:0:0:0:0:1")
    attrs = api.get(allocations_url(server)).json()["data"][0]["attributes"]
    assert attrs["ip"] == "2001:db8::1"


def test_error_envelope_status_is_a_string_and_keys_are_exact(api, server):
    response = api.get(allocations_url(server, "999999"))  # GET on a detail path: 405
    body = assert_error(response, 405, "MethodNotAllowedHttpException")
    assert list(body["errors"][0]) == ["code", "status", "detail"]
    missing = api.get("/api/client/servers/ffffffff/network/allocations")
    body = assert_error(missing, 404, "NotFoundHttpException")
    assert body["errors"][0]["status"] == "404"
    assert isinstance(body["errors"][0]["status"], str)


def test_422_entries_carry_meta_source_field_and_rule(api, server):
    response = api.post(allocations_url(server), {"ip": "nope", "port": 0}, format="json")
    body = assert_error(response, 422, "ValidationException")
    assert body["errors"] == [
        {
            "code": "ValidationException",
            "status": "422",
            "detail": "The ip must be a valid IP address.",
            "meta": {"source_field": "ip", "rule": "ip"},
        },
        {
            "code": "ValidationException",
            "status": "422",
            "detail": "The port must be between 1 and 65535.",
            "meta": {"source_field": "port", "rule": "between"},
        },
    ]


def _only_422(response) -> dict:
    body = assert_error(response, 422, "ValidationException")
    assert len(body["errors"]) == 1
    entry = body["errors"][0]
    assert list(entry) == ["code", "status", "detail", "meta"]
    return entry


def test_422_text_body_object(api, server):
    entry = _only_422(api.post(allocations_url(server), [1, 2], format="json"))
    assert entry["detail"] == "The request body must be a JSON object."
    assert entry["meta"] == {"source_field": "body", "rule": "object"}


def test_422_text_ip(api, server):
    entry = _only_422(api.post(allocations_url(server), {"ip": "10.0.0"}, format="json"))
    assert entry["detail"] == "The ip must be a valid IP address."
    assert entry["meta"] == {"source_field": "ip", "rule": "ip"}


def test_422_text_port_integer(api, server):
    entry = _only_422(api.post(allocations_url(server), {"port": "25566"}, format="json"))
    assert entry["detail"] == "The port must be an integer."
    assert entry["meta"] == {"source_field": "port", "rule": "integer"}


def test_422_text_port_between(api, server):
    entry = _only_422(api.post(allocations_url(server), {"port": 65536}, format="json"))
    assert entry["detail"] == "The port must be between 1 and 65535."
    assert entry["meta"] == {"source_field": "port", "rule": "between"}


def test_422_text_notes_string(api, server):
    url = allocations_url(server, Allocation.objects.get(server=server).id)
    entry = _only_422(api.post(url, {"notes": 5}, format="json"))
    assert entry["detail"] == "The notes must be a string."
    assert entry["meta"] == {"source_field": "notes", "rule": "string"}


def test_422_text_notes_max(api, server):
    url = allocations_url(server, Allocation.objects.get(server=server).id)
    entry = _only_422(api.post(url, {"notes": "x" * 256}, format="json"))
    assert entry["detail"] == "The notes may not be greater than 255 characters."
    assert entry["meta"] == {"source_field": "notes", "rule": "max"}
