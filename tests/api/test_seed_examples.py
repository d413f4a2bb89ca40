"""Every curl example of the source document ("Network Management", the seed of the spec),
replayed byte for byte over HTTP against `live_server`: the same method, path, headers
(`Accept: Application/vnd.pterodactyl.v1+json`, and `Content-Type: application/json` even
on GET and DELETE with no body) and body, with only the host and the key swapped in.
Answers are held to the document's own example objects: same values where the data allows,
and always the same keys in the same order with the same JSON types.

The document's address 45.86.168.218 and server d3aac109 are only rows in the test
database: no test connects to that address (requests go to the live server on loopback).
Its "Port Testing" commands (`telnet`, `netstat`, `curl -I http://45.86.168.218:8080`) talk
to the game server itself, not to the API, and are deliberately not replayed."""

import json
import shlex
import uuid

import pytest
import requests

from allocations.models import Allocation
from servers.models import Node, Server
from tests import factories

pytestmark = pytest.mark.django_db(transaction=True)

SEED_HOST = "https://your-panel.com"
SEED_KEY = "ptlc_YOUR_API_KEY"
SEED_IP = "45.86.168.218"
SEED_UUID = uuid.UUID("d3aac109-5f2e-4c1a-9b7d-2a6e8c4f1b03")

# --- The document's curl examples, verbatim ---------------------------------------------------

CURL_LIST = r"""curl "https://your-panel.com/api/client/servers/d3aac109/network/allocations" \
-H "Authorization: Bearer ptlc_YOUR_API_KEY" \
-H "Accept: Application/vnd.pterodactyl.v1+json" \
-H "Content-Type: application/json"
"""  # noqa: E501 - the document's text, unwrapped

CURL_ASSIGN = r"""curl -X POST "https://your-panel.com/api/client/servers/d3aac109/network/allocations" \
-H "Authorization: Bearer ptlc_YOUR_API_KEY" \
-H "Accept: Application/vnd.pterodactyl.v1+json" \
-H "Content-Type: application/json" \
-d '{
"ip": "45.86.168.218",
"port": 25568
}'
"""  # noqa: E501 - the document's text, unwrapped

CURL_SET_PRIMARY = r"""curl -X POST "https://your-panel.com/api/client/servers/d3aac109/network/allocations/16/primary" \
-H "Authorization: Bearer ptlc_YOUR_API_KEY" \
-H "Accept: Application/vnd.pterodactyl.v1+json" \
-H "Content-Type: application/json"
"""  # noqa: E501 - the document's text, unwrapped

CURL_NOTES = r"""curl -X POST "https://your-panel.com/api/client/servers/d3aac109/network/allocations/17" \
-H "Authorization: Bearer ptlc_YOUR_API_KEY" \
-H "Accept: Application/vnd.pterodactyl.v1+json" \
-H "Content-Type: application/json" \
-d '{
"notes": "Reserved for future web interface"
}'
"""  # noqa: E501 - the document's text, unwrapped

CURL_DELETE = r"""curl -X DELETE "https://your-panel.com/api/client/servers/d3aac109/network/allocations/18" \
-H "Authorization: Bearer ptlc_YOUR_API_KEY" \
-H "Accept: Application/vnd.pterodactyl.v1+json" \
-H "Content-Type: application/json"
"""  # noqa: E501 - the document's text, unwrapped


def _curl_add_port(port: int) -> str:
    """The configuration examples (Minecraft, FiveM, CS:GO, web panel, RCON) are all this
    one request with a different port; the text is the document's, character for character."""
    return f"""curl -X POST "https://your-panel.com/api/client/servers/d3aac109/network/allocations" \\
-H "Authorization: Bearer ptlc_YOUR_API_KEY" \\
-H "Accept: Application/vnd.pterodactyl.v1+json" \\
-H "Content-Type: application/json" \\
-d '{{
"ip": "45.86.168.218",
"port": {port}
}}'
"""  # noqa: E501 - the document's text, unwrapped


CURL_MINECRAFT = _curl_add_port(25565)
CURL_FIVEM = _curl_add_port(30120)
CURL_CSGO = _curl_add_port(27015)
CURL_WEB_PANEL = _curl_add_port(8080)
CURL_RCON = _curl_add_port(25575)

# The configuration section's set-primary example: note, no Content-Type header.
CURL_SET_PRIMARY_1 = r"""curl -X POST "https://your-panel.com/api/client/servers/d3aac109/network/allocations/1/primary" \
-H "Authorization: Bearer ptlc_YOUR_API_KEY" \
-H "Accept: Application/vnd.pterodactyl.v1+json"
"""  # noqa: E501 - the document's text, unwrapped

# --- The document's example answers, verbatim -------------------------------------------------

LIST_RESPONSE = """{
"object": "list",
"data": [
{
"object": "allocation",
"attributes": {
"id": 15,
"ip": "45.86.168.218",
"ip_alias": "game.example.com",
"port": 25565,
"notes": "Main Minecraft server port",
"is_default": true
}
},
{
"object": "allocation",
"attributes": {
"id": 16,
"ip": "45.86.168.218",
"ip_alias": "game.example.com",
"port": 25566,
"notes": "Secondary port for plugins",
"is_default": false
}
},
{
"object": "allocation",
"attributes": {
"id": 17,
"ip": "45.86.168.218",
"ip_alias": null,
"port": 25567,
"notes": null,
"is_default": false
}
}
]
}"""

ASSIGN_RESPONSE = """{
"object": "allocation",
"attributes": {
"id": 18,
"ip": "45.86.168.218",
"ip_alias": "game.example.com",
"port": 25568,
"notes": null,
"is_default": false
}
}"""

SET_PRIMARY_RESPONSE = """{
"object": "allocation",
"attributes": {
"id": 16,
"ip": "45.86.168.218",
"ip_alias": "game.example.com",
"port": 25566,
"notes": "Secondary port for plugins",
"is_default": true
}
}"""

NOTES_RESPONSE = """{
"object": "allocation",
"attributes": {
"id": 17,
"ip": "45.86.168.218",
"ip_alias": "game.example.com",
"port": 25567,
"notes": "Reserved for future web interface",
"is_default": false
}
}"""

TOO_MANY_ALLOCATIONS = """{
"errors": [
{
"code": "TooManyAllocationsException",
"status": "400",
"detail": "This server has reached its allocation limit."
}
]
}"""

ALLOCATION_NOT_AVAILABLE = """{
"errors": [
{
"code": "AllocationNotAvailableException",
"status": "409",
"detail": "The requested allocation is not available or already in use."
}
]
}"""

NO_AVAILABLE_ALLOCATIONS = """{
"errors": [
{
"code": "NoAvailableAllocationsException",
"status": "503",
"detail": "No available allocations found on this node."
}
]
}"""

MUST_STOP_FOR_PRIMARY = """{
"errors": [
{
"code": "ConflictingServerStateException",
"status": "400",
"detail": "Server must be stopped to change the primary allocation."
}
]
}"""

CANNOT_DELETE_PRIMARY = """{
"errors": [
{
"code": "CannotDeletePrimaryAllocationException",
"status": "400",
"detail": "Cannot remove the primary allocation. Set another allocation as primary first."
}
]
}"""

MUST_STOP_FOR_REMOVAL = """{
"errors": [
{
"code": "ConflictingServerStateException",
"status": "400",
"detail": "Server must be stopped to remove allocations."
}
]
}"""

ATTRIBUTE_KEYS = ["id", "ip", "ip_alias", "port", "notes", "is_default"]


# --- Helpers -----------------------------------------------------------------------------------


def _strict(value):
    """`value` with every object's key order and every scalar's exact JSON type made part of
    equality (plain `==` ignores key order and takes `1 == True == 1.0`)."""
    if isinstance(value, dict):
        return ("object", [(key, _strict(item)) for key, item in value.items()])
    if isinstance(value, list):
        return ("array", [_strict(item) for item in value])
    return (type(value).__name__, value)


def _assert_same_json(response: requests.Response, document_example: str) -> None:
    assert response.headers["Content-Type"].startswith("application/json")
    assert _strict(response.json()) == _strict(json.loads(document_example))


def _assert_item_shape(body: dict) -> None:
    """An allocation item with the document's keys, in its order, of its types."""
    assert list(body) == ["object", "attributes"]
    assert body["object"] == "allocation"
    attrs = body["attributes"]
    assert list(attrs) == ATTRIBUTE_KEYS
    assert type(attrs["id"]) is int and type(attrs["port"]) is int
    assert type(attrs["ip"]) is str
    assert attrs["ip_alias"] is None or type(attrs["ip_alias"]) is str
    assert attrs["notes"] is None or type(attrs["notes"]) is str
    assert type(attrs["is_default"]) is bool


def _parse_curl(text: str) -> tuple[str, str, dict[str, str], bytes | None]:
    """Method, URL, headers (in order) and body of a curl command line, as curl sends them."""
    words = shlex.split(text.replace("\\\n", " "))
    assert words[0] == "curl"
    method, url, headers, body = None, None, {}, None
    rest = iter(words[1:])
    for word in rest:
        if word == "-X":
            method = next(rest)
        elif word == "-H":
            name, _, value = next(rest).partition(":")
            headers[name.strip()] = value.strip()
        elif word == "-d":
            body = next(rest).encode()
        else:
            assert url is None, f"unexpected curl argument {word!r}"
            url = word
    return method or ("POST" if body is not None else "GET"), url, headers, body


def _replay(live_server, token: str, curl: str, *, drop_body: bool = False) -> requests.Response:
    """Send the example as curl would, to the live server, with a real key."""
    method, url, headers, body = _parse_curl(curl)
    assert url.startswith(SEED_HOST + "/api/client/servers/d3aac109/network/allocations")
    assert headers["Authorization"] == f"Bearer {SEED_KEY}"
    assert headers["Accept"] == "Application/vnd.pterodactyl.v1+json"
    headers["Authorization"] = f"Bearer {token}"
    with requests.Session() as session:
        session.trust_env = False  # no proxy from the environment: loopback only
        return session.request(
            method,
            live_server.url + url[len(SEED_HOST) :],
            headers=headers,
            data=None if drop_body else body,
            allow_redirects=False,
            timeout=10,
        )


def _make_allocation(
    node, pk: int, port: int, *, alias=None, server=None, notes=None, primary=False
):
    row = Allocation(
        pk=pk, node=node, ip=SEED_IP, port=port, ip_alias=alias, server=server, notes=notes
    )
    row.is_primary = primary
    row.save()
    return row


def _make_seed_server(owner, node, *, limit: int) -> Server:
    server = Server.objects.create(
        uuid=SEED_UUID, name="Minecraft", owner=owner, node=node, allocation_limit=limit
    )
    assert server.identifier == "d3aac109"
    return server


def _held(server) -> list[tuple[int, bool, str | None]]:
    return list(
        Allocation.objects.filter(server=server)
        .order_by("id")
        .values_list("id", "is_primary", "notes")
    )


# --- Fixtures ----------------------------------------------------------------------------------


@pytest.fixture
def owner():
    return factories.make_user("seed-owner")


@pytest.fixture
def token(owner):
    return factories.make_key(owner)


@pytest.fixture
def node():
    return Node.objects.create(name="seed-node", fqdn="node.test")


@pytest.fixture
def seed_server(owner, node):
    """The document's server d3aac109 as its list example shows it: allocations 15 (primary),
    16 and 17, and 18 (25568) free in the node's pool. Limit 10."""
    server = _make_seed_server(owner, node, limit=10)
    alias = "game.example.com"
    _make_allocation(
        node,
        15,
        25565,
        alias=alias,
        server=server,
        notes="Main Minecraft server port",
        primary=True,
    )
    _make_allocation(
        node, 16, 25566, alias=alias, server=server, notes="Secondary port for plugins"
    )
    _make_allocation(node, 17, 25567, server=server)
    _make_allocation(node, 18, 25568, alias=alias)
    return server


@pytest.fixture
def empty_server(owner, node):
    """The document's server d3aac109 holding nothing yet, on a node whose pool has the
    configuration examples' ports free: 1 = 25565, 2 = 30120, 3 = 27015, 4 = 8080,
    5 = 25575."""
    server = _make_seed_server(owner, node, limit=10)
    for pk, port in enumerate([25565, 30120, 27015, 8080, 25575], start=1):
        _make_allocation(node, pk, port)
    return server


# --- The endpoint examples ---------------------------------------------------------------------


def test_seed_list_example_answers_the_documents_list(live_server, token, seed_server):
    response = _replay(live_server, token, CURL_LIST)

    assert response.status_code == 200
    _assert_same_json(response, LIST_RESPONSE)
    for item in response.json()["data"]:
        _assert_item_shape(item)


def test_seed_assign_example_assigns_that_ip_and_port(live_server, token, seed_server):
    response = _replay(live_server, token, CURL_ASSIGN)

    assert response.status_code == 200
    _assert_same_json(response, ASSIGN_RESPONSE)
    assert _held(seed_server) == [
        (15, True, "Main Minecraft server port"),
        (16, False, "Secondary port for plugins"),
        (17, False, None),
        (18, False, None),
    ]


def test_seed_set_primary_example_moves_the_primary(live_server, token, seed_server):
    response = _replay(live_server, token, CURL_SET_PRIMARY)

    assert response.status_code == 200
    _assert_same_json(response, SET_PRIMARY_RESPONSE)
    assert _held(seed_server) == [
        (15, False, "Main Minecraft server port"),
        (16, True, "Secondary port for plugins"),
        (17, False, None),
    ]


def test_seed_notes_example_sets_the_notes(live_server, token, seed_server):
    # The document's notes answer shows allocation 17 with the alias its list example shows
    # as null: give it that alias so the whole answer can be compared.
    Allocation.objects.filter(pk=17).update(ip_alias="game.example.com")

    response = _replay(live_server, token, CURL_NOTES)

    assert response.status_code == 200
    _assert_same_json(response, NOTES_RESPONSE)
    assert Allocation.objects.get(pk=17).notes == "Reserved for future web interface"


def test_seed_delete_example_answers_204_with_an_empty_body(live_server, token, seed_server):
    assert _replay(live_server, token, CURL_ASSIGN).status_code == 200

    response = _replay(live_server, token, CURL_DELETE)

    assert response.status_code == 204
    assert response.content == b""
    freed = Allocation.objects.get(pk=18)
    assert (freed.server_id, freed.notes, freed.is_primary) == (None, None, False)
    assert [pk for pk, _, _ in _held(seed_server)] == [15, 16, 17]


def test_seed_full_walk_through_in_document_order(live_server, token, seed_server):
    """List, assign 18, set 16 primary, note 17, delete 18: each as documented."""
    assert _replay(live_server, token, CURL_LIST).status_code == 200
    assigned = _replay(live_server, token, CURL_ASSIGN)
    assert assigned.status_code == 200
    _assert_same_json(assigned, ASSIGN_RESPONSE)
    primary = _replay(live_server, token, CURL_SET_PRIMARY)
    assert primary.status_code == 200
    _assert_same_json(primary, SET_PRIMARY_RESPONSE)
    noted = _replay(live_server, token, CURL_NOTES)
    assert noted.status_code == 200
    _assert_item_shape(noted.json())
    assert noted.json()["attributes"]["notes"] == "Reserved for future web interface"
    deleted = _replay(live_server, token, CURL_DELETE)
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert _held(seed_server) == [
        (15, False, "Main Minecraft server port"),
        (16, True, "Secondary port for plugins"),
        (17, False, "Reserved for future web interface"),
    ]


# --- The documented error answers --------------------------------------------------------------


def test_seed_assign_example_at_the_allocation_limit_is_400_too_many(
    live_server, token, seed_server
):
    Server.objects.filter(pk=seed_server.pk).update(allocation_limit=3)  # it holds 3

    response = _replay(live_server, token, CURL_ASSIGN)

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "TooManyAllocationsException"
    _assert_same_json(response, TOO_MANY_ALLOCATIONS)
    assert Allocation.objects.get(pk=18).server_id is None


def test_seed_assign_example_repeated_is_409_not_available(live_server, token, seed_server):
    assert _replay(live_server, token, CURL_ASSIGN).status_code == 200

    response = _replay(live_server, token, CURL_ASSIGN)

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "AllocationNotAvailableException"
    _assert_same_json(response, ALLOCATION_NOT_AVAILABLE)


def test_seed_assign_example_for_another_servers_port_is_409_not_available(
    live_server, token, seed_server, node
):
    other = Server.objects.create(
        name="Other", owner=factories.make_user(), node=node, allocation_limit=1
    )
    Allocation.objects.filter(pk=18).update(server=other, is_primary=True)

    response = _replay(live_server, token, CURL_ASSIGN)

    assert response.status_code == 409
    assert response.json()["errors"][0]["code"] == "AllocationNotAvailableException"
    _assert_same_json(response, ALLOCATION_NOT_AVAILABLE)
    assert Allocation.objects.get(pk=18).server_id == other.pk


def test_seed_assign_example_without_a_body_on_an_empty_pool_is_503(
    live_server, token, seed_server
):
    # The document's note: no ip and no port picks the next available allocation. Take the
    # last free one, then send the assign example without its body.
    assert _replay(live_server, token, CURL_ASSIGN).status_code == 200

    response = _replay(live_server, token, CURL_ASSIGN, drop_body=True)

    assert response.status_code == 503
    assert response.json()["errors"][0]["code"] == "NoAvailableAllocationsException"
    _assert_same_json(response, NO_AVAILABLE_ALLOCATIONS)


def test_seed_set_primary_example_on_a_running_server_is_400_conflicting_state(
    live_server, token, seed_server
):
    Server.objects.filter(pk=seed_server.pk).update(state="running")

    response = _replay(live_server, token, CURL_SET_PRIMARY)

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "ConflictingServerStateException"
    _assert_same_json(response, MUST_STOP_FOR_PRIMARY)
    assert Allocation.objects.get(pk=15).is_primary


def test_seed_delete_example_of_the_primary_is_400_cannot_delete_primary(
    live_server, token, seed_server
):
    assert _replay(live_server, token, CURL_ASSIGN).status_code == 200
    Allocation.objects.filter(pk=15).update(is_primary=False)
    Allocation.objects.filter(pk=18).update(is_primary=True)

    response = _replay(live_server, token, CURL_DELETE)

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "CannotDeletePrimaryAllocationException"
    _assert_same_json(response, CANNOT_DELETE_PRIMARY)
    assert Allocation.objects.get(pk=18).server_id == seed_server.pk


def test_seed_delete_example_on_a_running_server_is_400_conflicting_state(
    live_server, token, seed_server
):
    assert _replay(live_server, token, CURL_ASSIGN).status_code == 200
    Server.objects.filter(pk=seed_server.pk).update(state="running")

    response = _replay(live_server, token, CURL_DELETE)

    assert response.status_code == 400
    assert response.json()["errors"][0]["code"] == "ConflictingServerStateException"
    _assert_same_json(response, MUST_STOP_FOR_REMOVAL)
    assert Allocation.objects.get(pk=18).server_id == seed_server.pk


# --- The configuration examples ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("curl", "pk", "port"),
    [(CURL_MINECRAFT, 1, 25565), (CURL_FIVEM, 2, 30120), (CURL_CSGO, 3, 27015)],
    ids=["minecraft", "fivem", "csgo"],
)
def test_seed_game_example_gives_an_empty_server_its_primary(
    live_server, token, empty_server, curl, pk, port
):
    response = _replay(live_server, token, curl)

    assert response.status_code == 200
    body = response.json()
    _assert_item_shape(body)
    assert body["attributes"] == {
        "id": pk,
        "ip": SEED_IP,
        "ip_alias": None,
        "port": port,
        "notes": None,
        "is_default": True,
    }
    assert _held(empty_server) == [(pk, True, None)]


def test_seed_multiple_services_and_set_primary_examples(live_server, token, empty_server):
    """FiveM first (the primary), then Minecraft, the web panel and RCON, then the
    configuration section's "set allocation 1 as primary" (sent without Content-Type)."""
    added = []
    for curl in (CURL_FIVEM, CURL_MINECRAFT, CURL_WEB_PANEL, CURL_RCON):
        response = _replay(live_server, token, curl)
        assert response.status_code == 200, response.content
        _assert_item_shape(response.json())
        added.append(response.json()["attributes"])
    assert [(a["id"], a["port"], a["is_default"]) for a in added] == [
        (2, 30120, True),
        (1, 25565, False),
        (4, 8080, False),
        (5, 25575, False),
    ]

    response = _replay(live_server, token, CURL_SET_PRIMARY_1)

    assert response.status_code == 200
    assert response.json()["attributes"] == {**added[1], "is_default": True}
    assert _held(empty_server) == [
        (1, True, None),
        (2, False, None),
        (4, False, None),
        (5, False, None),
    ]
    # The document repeats its "Multiple Services" section verbatim: replayed, those ports
    # are now this server's own, so they are no longer available.
    again = _replay(live_server, token, CURL_WEB_PANEL)
    assert again.status_code == 409
    assert again.json()["errors"][0]["code"] == "AllocationNotAvailableException"
