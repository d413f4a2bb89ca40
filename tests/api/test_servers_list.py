"""`GET /api/client` (spec section 11): the caller's servers in Pterodactyl's list envelope,
paginated, filterable, at a fixed query cost."""

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from allocations.models import Allocation
from servers.models import Server
from tests import factories
from tests.api.conftest import assert_error, bearer_client

pytestmark = pytest.mark.django_db

LIST = "/api/client"


def _identifiers(response) -> list[str]:
    assert response.status_code == 200, response.content
    return [item["attributes"]["identifier"] for item in response.json()["data"]]


def _hold(server, *ports, notes=None) -> list[Allocation]:
    """Give `server` more allocations of its own node's pool."""
    rows = list(Allocation.objects.filter(node=server.node, port__in=ports, server=None))
    assert len(rows) == len(ports)
    Allocation.objects.filter(pk__in=[r.pk for r in rows]).update(server=server, notes=notes)
    return rows


# --- who sees what ----------------------------------------------------------------------------


def test_list_shows_owned_and_subuser_servers_only(owner, api, server):
    shared = factories.make_server(factories.make_user(), name="Shared")
    factories.make_subuser(shared, owner, ["control.start"])
    factories.make_server(factories.make_user(), name="Not mine")

    assert _identifiers(api.get(LIST)) == [server.identifier, shared.identifier]


def test_list_without_credentials_is_401(server):
    assert_error(APIClient().get(LIST), 401, "InvalidCredentialsException")


def test_list_of_a_user_with_no_servers_is_an_empty_page(stranger_api, server):
    body = stranger_api.get(LIST).json()
    assert body["data"] == []
    assert body["meta"]["pagination"] == {
        "total": 0,
        "count": 0,
        "per_page": 50,
        "current_page": 1,
        "total_pages": 1,
        "links": {},
    }


def test_type_owner_leaves_out_subuser_servers(owner, api, server):
    shared = factories.make_server(factories.make_user())
    factories.make_subuser(shared, owner, [])

    assert _identifiers(api.get(LIST, {"type": "owner"})) == [server.identifier]


@pytest.mark.parametrize("list_type", ["admin", "admin-all"])
def test_type_admin_lists_every_server_for_a_superuser(server, list_type):
    admin = factories.make_user(is_superuser=True)
    other = factories.make_server(factories.make_user())
    client = bearer_client(factories.make_key(admin))

    assert _identifiers(client.get(LIST, {"type": list_type})) == [
        server.identifier,
        other.identifier,
    ]
    # Without it a superuser sees only their own, as Pterodactyl lists them.
    assert _identifiers(client.get(LIST)) == []


@pytest.mark.parametrize("list_type", ["admin", "admin-all"])
def test_type_admin_lists_nothing_for_anyone_else(api, server, list_type):
    factories.make_server(factories.make_user())

    assert _identifiers(api.get(LIST, {"type": list_type})) == []


# --- the item ---------------------------------------------------------------------------------


def test_item_carries_pterodactyls_server_attributes(api, server):
    second = _hold(server, 25566)[0]
    primary = Allocation.objects.get(server=server, is_primary=True)

    item = api.get(LIST).json()["data"][0]

    assert item["object"] == "server"
    attrs = item["attributes"]
    assert attrs["identifier"] == server.identifier
    assert attrs["uuid"] == str(server.uuid)
    assert attrs["internal_id"] == server.pk
    assert attrs["name"] == "Test server"
    assert attrs["node"] == server.node.name
    assert attrs["server_owner"] is True
    assert attrs["status"] is None
    assert attrs["is_suspended"] is False
    assert attrs["is_installing"] is False
    assert attrs["is_transferring"] is False
    assert attrs["feature_limits"] == {"databases": 0, "allocations": 5, "backups": 0}
    assert attrs["relationships"]["allocations"] == {
        "object": "list",
        "data": [
            {
                "object": "allocation",
                "attributes": {
                    "id": primary.id,
                    "ip": "10.0.0.1",
                    "ip_alias": None,
                    "port": 25565,
                    "notes": None,
                    "is_default": True,
                },
            },
            {
                "object": "allocation",
                "attributes": {
                    "id": second.id,
                    "ip": "10.0.0.1",
                    "ip_alias": None,
                    "port": 25566,
                    "notes": None,
                    "is_default": False,
                },
            },
        ],
    }


@pytest.mark.parametrize(
    ("status", "shown", "is_suspended", "is_installing"),
    [
        ("active", None, False, False),
        ("suspended", "suspended", True, False),
        ("installing", "installing", False, True),
        ("install_failed", "install_failed", False, True),
    ],
)
def test_item_status_is_null_while_active_else_the_status(
    owner, api, status, shown, is_suspended, is_installing
):
    factories.make_server(owner, status=status)

    attrs = api.get(LIST).json()["data"][0]["attributes"]

    assert (attrs["status"], attrs["is_suspended"], attrs["is_installing"]) == (
        shown,
        is_suspended,
        is_installing,
    )


def test_subuser_without_allocation_read_sees_only_the_primary_without_notes(server):
    Allocation.objects.filter(server=server, is_primary=True).update(notes="secret plan")
    _hold(server, 25566, 25567, notes="also secret")
    user = factories.make_user()
    factories.make_subuser(server, user, ["control.start"])

    attrs = bearer_client(factories.make_key(user)).get(LIST).json()["data"][0]["attributes"]

    assert attrs["server_owner"] is False
    allocations = attrs["relationships"]["allocations"]["data"]
    assert [(a["attributes"]["port"], a["attributes"]["is_default"]) for a in allocations] == [
        (25565, True)
    ]
    assert allocations[0]["attributes"]["notes"] is None


def test_subuser_with_allocation_read_sees_every_allocation_with_notes(server):
    Allocation.objects.filter(server=server, is_primary=True).update(notes="main")
    _hold(server, 25566, notes="query")
    user = factories.make_user()
    factories.make_subuser(server, user, ["allocation.read"])

    attrs = bearer_client(factories.make_key(user)).get(LIST).json()["data"][0]["attributes"]

    assert [
        (a["attributes"]["port"], a["attributes"]["notes"])
        for a in attrs["relationships"]["allocations"]["data"]
    ] == [(25565, "main"), (25566, "query")]


def test_a_server_holding_no_allocation_lists_an_empty_relationship(owner, api):
    bare = factories.make_server(owner)
    Allocation.objects.filter(server=bare).update(server=None, is_primary=False)

    attrs = api.get(LIST).json()["data"][0]["attributes"]

    assert attrs["relationships"]["allocations"] == {"object": "list", "data": []}


# --- pagination -------------------------------------------------------------------------------


@pytest.fixture
def five(owner):
    """Five servers of the owner, one node: 10.0.0.1:20000..20004, a port each."""
    node = factories.make_node()
    factories.make_pool(node, ports=range(20000, 20005))
    return [factories.make_server(owner, node=node, name=f"srv {i}") for i in range(5)]


def test_pagination_meta_counts_the_pages(api, five):
    body = api.get(LIST, {"per_page": 2, "page": 2}).json()

    assert [i["attributes"]["name"] for i in body["data"]] == ["srv 2", "srv 3"]
    pagination = body["meta"]["pagination"]
    assert {k: v for k, v in pagination.items() if k != "links"} == {
        "total": 5,
        "count": 2,
        "per_page": 2,
        "current_page": 2,
        "total_pages": 3,
    }
    assert set(pagination["links"]) == {"previous", "next"}


def test_pagination_links_lead_to_the_neighbouring_pages_keeping_the_query(api, five):
    first = api.get(LIST, {"per_page": 2, "filter[*]": "srv"}).json()["meta"]["pagination"]
    assert "previous" not in first["links"]

    following = urlsplit(first["links"]["next"])
    assert following.path == LIST
    assert parse_qs(following.query) == {"per_page": ["2"], "filter[*]": ["srv"], "page": ["2"]}
    second = api.get(following.path + "?" + following.query).json()
    assert [i["attributes"]["name"] for i in second["data"]] == ["srv 2", "srv 3"]

    last = api.get(LIST, {"per_page": 2, "page": 3}).json()["meta"]["pagination"]
    assert list(last["links"]) == ["previous"]
    assert parse_qs(urlsplit(last["links"]["previous"]).query)["page"] == ["2"]


def test_per_page_above_100_is_cut_to_100(api, five):
    assert api.get(LIST, {"per_page": 500}).json()["meta"]["pagination"]["per_page"] == 100


@pytest.mark.parametrize("value", ["0", "-3", "abc", "", "1e3", "٣"])
def test_nonsense_per_page_and_page_fall_back_to_the_defaults(api, five, value):
    pagination = api.get(LIST, {"per_page": value, "page": value}).json()["meta"]["pagination"]

    assert (pagination["per_page"], pagination["current_page"], pagination["count"]) == (50, 1, 5)


def test_a_page_past_the_last_is_empty(api, five):
    body = api.get(LIST, {"per_page": 2, "page": 9}).json()

    assert body["data"] == []
    assert body["meta"]["pagination"]["count"] == 0
    assert body["meta"]["pagination"]["total"] == 5


# --- filter[*] --------------------------------------------------------------------------------


@pytest.fixture
def fleet(owner):
    """Three servers of the owner, with distinct names and addresses."""
    node = factories.make_node()
    factories.make_pool(node, ip="192.168.5.10", ports=range(25565, 25568))
    factories.make_pool(node, ip="192.168.50.1", ports=[30000, 30001])
    factories.make_pool(node, ip="2001:db8::7", ports=[27015])
    alpha = factories.make_server(owner, node=node, name="Alpha Survival")
    beta = factories.make_server(owner, node=node, name="Beta Creative")
    gamma = factories.make_server(owner, node=node, name="Gamma Modded")
    # Alpha 192.168.5.10:25565, Beta :25566, Gamma :25567; Beta also holds 192.168.50.1:30000
    # and Gamma [2001:db8::7]:27015, neither as its primary.
    Allocation.objects.filter(ip="192.168.50.1", port=30000).update(server=beta)
    Allocation.objects.filter(ip="2001:db8::7").update(server=gamma)
    return {"alpha": alpha, "beta": beta, "gamma": gamma}


def _filtered(api, value) -> list[str]:
    return _identifiers(api.get(LIST, {"filter[*]": value}))


@pytest.mark.parametrize(
    ("value", "names"),
    [
        ("survival", ["alpha"]),
        ("ETA CRE", ["beta"]),
        ("a", ["alpha", "beta", "gamma"]),
        ("192.168.5.", ["alpha", "beta", "gamma"]),
        ("192.168.50", ["beta"]),
        ("192.168.5.10:25566", ["beta"]),
        ("192.168.5.10:2556", ["alpha", "beta", "gamma"]),
        ("192.168.50.1:3", ["beta"]),
        ("192.168.5.10:3", []),
        (":30000", ["beta"]),
        (":2701", ["gamma"]),
        ("2001:db8", ["gamma"]),
        ("[2001:db8::7]:27015", ["gamma"]),
        ("[2001:db8::7]:25565", []),
        ("nothing like it", []),
    ],
)
def test_filter_matches_name_address_address_port_and_port_prefixes(api, fleet, value, names):
    assert _filtered(api, value) == [fleet[n].identifier for n in names]


def test_filter_matches_an_identifier_prefix_in_any_case(api, fleet):
    beta = fleet["beta"]

    assert beta.identifier in _filtered(api, beta.identifier[:5].upper())
    assert _filtered(api, beta.identifier) == [beta.identifier]


def test_filter_matches_a_uuid_prefix_past_the_identifier(api, fleet):
    gamma = fleet["gamma"]
    text = str(gamma.uuid)

    assert _filtered(api, text[:13]) == [gamma.identifier]
    assert _filtered(api, text.upper()) == [gamma.identifier]
    # A hyphen where the uuid has none matches no uuid.
    assert _filtered(api, text[:7] + "-") == []


def test_filter_never_reaches_another_users_servers(api, fleet):
    other = factories.make_server(factories.make_user(), name="Alpha Survival Clone")

    assert other.identifier not in _filtered(api, "Alpha")
    assert _filtered(api, other.identifier) == []


@pytest.mark.parametrize(
    "value",
    ["%", "_", "'; drop table servers_server; --", "[", "::::", ":", "x" * 2000, "\\", "a\x00"],
)
def test_filter_with_odd_text_answers_200_matching_nothing(api, fleet, value):
    response = api.get(LIST, {"filter[*]": value})

    assert response.status_code == 200, response.content
    assert response.json()["data"] == []


def test_blank_filter_is_no_filter(api, fleet):
    assert len(_filtered(api, "   ")) == 3


# --- query budget -----------------------------------------------------------------------------

# The list after a warm-up request (so the key's last_used_at write is not counted):
#   panel_apikey JOIN auth_user; COUNT of servers; the page of servers JOIN node;
#   their allocations (prefetch); the caller's subuser rows of them (prefetch).
LIST_QUERIES = 5
_FROM = re.compile(r'\bFROM\s+"?(\w+)"?', re.IGNORECASE)


def _measure(client, expected_items: int) -> list[str]:
    assert client.get(LIST).status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = client.get(LIST)
    assert len(response.json()["data"]) == expected_items
    return [_FROM.search(q["sql"]).group(1) for q in captured.captured_queries]


def _servers_with_allocations(owner, count: int, each: int) -> list[Server]:
    servers = []
    for _ in range(count):
        server = factories.make_server(owner, limit=each, ports=range(30000, 30000 + each))
        Allocation.objects.filter(node=server.node, server=None).update(server=server)
        servers.append(server)
    return servers


@pytest.mark.parametrize("as_subuser", [False, True])
def test_list_costs_the_same_queries_for_1_and_many_servers_and_allocations(as_subuser):
    few_owner, many_owner = factories.make_user(), factories.make_user()
    few = _servers_with_allocations(few_owner, 1, 1)
    many = _servers_with_allocations(many_owner, 12, 8)
    if as_subuser:
        viewer_few, viewer_many = factories.make_user(), factories.make_user()
        for server in few:
            factories.make_subuser(server, viewer_few, ["control.start"])
        for server in many:
            factories.make_subuser(server, viewer_many, ["allocation.read"])
    else:
        viewer_few, viewer_many = few_owner, many_owner

    one = _measure(bearer_client(factories.make_key(viewer_few)), 1)
    twelve = _measure(bearer_client(factories.make_key(viewer_many)), 12)

    assert len(one) == len(twelve) == LIST_QUERIES
    assert (
        one
        == twelve
        == [
            "panel_apikey",
            "servers_server",
            "servers_server",
            "allocations_allocation",
            "servers_subuser",
        ]
    )
