"""Section 7, create: every branch of the choice, address comparison and ordering."""

import pytest

from allocations.models import Allocation
from allocations.services import server_create
from servers.models import Server
from tests import factories
from tests.api.conftest import assert_error, snapshot
from tests.conftest import allocations_url


def _pool(node, ip, ports):
    return {row.port: row for row in factories.make_pool(node, ip=ip, ports=ports)}


def _server_on(owner, node, primary: Allocation, limit: int = 10) -> Server:
    return server_create(name="algo", owner=owner, primary=primary, allocation_limit=limit)


def _take(row: Allocation, owner) -> None:
    """Give `row` to another server of its node (as that server's primary)."""
    server_create(name="other", owner=owner, primary=row, allocation_limit=1)


def _create(api, server, body=None):
    return api.post(allocations_url(server), body if body is not None else {}, format="json")


def _chosen(response) -> tuple[str, int]:
    assert response.status_code == 200, response.content
    attrs = response.json()["attributes"]
    return attrs["ip"], attrs["port"]


def _assert_409(response):
    assert_error(
        response,
        409,
        "AllocationNotAvailableException",
        "The requested allocation is not available or already in use.",
    )


@pytest.fixture
def node():
    return factories.make_node()


# --- the limit ------------------------------------------------------------------------------


def test_limit_counts_the_primary(api, owner):
    server = factories.make_server(owner, limit=2)
    assert _create(api, server).status_code == 200
    before = snapshot()
    assert_error(_create(api, server), 400, "TooManyAllocationsException")
    assert snapshot() == before
    assert Allocation.objects.filter(server=server).count() == 2


def test_limit_zero_refuses_even_a_first_allocation(api, owner, node):
    _pool(node, "10.0.0.1", [1, 2])
    server = Server.objects.create(name="empty", owner=owner, node=node, allocation_limit=0)
    assert_error(_create(api, server), 400, "TooManyAllocationsException")
    assert_error(
        _create(api, server, {"ip": "10.0.0.1", "port": 1}), 400, "TooManyAllocationsException"
    )
    assert not Allocation.objects.filter(server=server).exists()


def test_server_over_its_limit_is_refused(api, server, second):
    Server.objects.filter(pk=server.pk).update(allocation_limit=1)
    assert_error(_create(api, server), 400, "TooManyAllocationsException")


# --- ip and port ----------------------------------------------------------------------------


def test_ip_and_port_take_that_exact_allocation(api, server):
    assert _chosen(_create(api, server, {"ip": "10.0.0.1", "port": 25570})) == ("10.0.0.1", 25570)


def test_ip_and_port_of_a_held_allocation_is_409(api, owner, server):
    other = factories.make_server(owner, node=server.node)
    held = Allocation.objects.get(server=other)
    before = snapshot()
    _assert_409(_create(api, server, {"ip": held.ip, "port": held.port}))
    _assert_409(_create(api, server, {"ip": "10.0.0.1", "port": 25565}))  # its own primary
    assert snapshot() == before


def test_ip_and_port_that_match_nothing_is_409(api, server):
    _assert_409(_create(api, server, {"ip": "10.0.0.1", "port": 1}))
    _assert_409(_create(api, server, {"ip": "10.9.9.9", "port": 25570}))


def test_ip_and_port_on_another_node_is_409(api, server):
    elsewhere = factories.make_node()
    _pool(elsewhere, "192.0.2.1", [30000])
    _assert_409(_create(api, server, {"ip": "192.0.2.1", "port": 30000}))
    assert Allocation.objects.get(node=elsewhere).server_id is None


def test_ipv6_is_compared_by_address(api, owner, node):
    rows = _pool(node, "::1", [25565, 25566, 25567])
    server = _server_on(owner, node, rows[25565])
    chosen = _create(api, server, {"ip": "0:0:0:0:0:0:0:1", "port": 25566})
    assert _chosen(chosen) == ("::1", 25566)
    chosen = _create(api, server, {"ip": "0000:0000:0000:0000:0000:0000:0000:0001"})
    assert _chosen(chosen) == ("::1", 25567)


def test_ipv6_stored_in_long_form_is_matched_by_short_form(api, owner, node):
    rows = _pool(node, "2001:0db8:0000:0000:0000:0000:0000:0001", [1, 2])
    server = _server_on(owner, node, rows[1])
    assert _chosen(_create(api, server, {"ip": "2001:DB8::1", "port": 2})) == ("2001:db8::1", 2)


# --- ip only --------------------------------------------------------------------------------


def test_ip_only_takes_the_lowest_free_port_on_that_address(api, owner, node):
    a = _pool(node, "10.0.0.1", [25565])
    _pool(node, "10.0.0.2", [10000, 9999, 30000, 5])
    server = _server_on(owner, node, a[25565])
    _take(Allocation.objects.get(node=node, ip="10.0.0.2", port=5), owner)
    assert _chosen(_create(api, server, {"ip": "10.0.0.2"})) == ("10.0.0.2", 9999)
    assert _chosen(_create(api, server, {"ip": "10.0.0.2"})) == ("10.0.0.2", 10000)
    assert _chosen(_create(api, server, {"ip": "10.0.0.2"})) == ("10.0.0.2", 30000)
    _assert_409(_create(api, server, {"ip": "10.0.0.2"}))


def test_ip_only_with_nothing_on_that_address_is_409(api, server):
    _assert_409(_create(api, server, {"ip": "10.0.0.2"}))
    _assert_409(_create(api, server, {"ip": "::1"}))


# --- port only ------------------------------------------------------------------------------


def test_port_only_prefers_the_primarys_address(api, owner, node):
    _pool(node, "10.0.0.1", [2000])
    b = _pool(node, "10.0.0.5", [1000, 2000])
    server = _server_on(owner, node, b[1000])
    assert _chosen(_create(api, server, {"port": 2000})) == ("10.0.0.5", 2000)


def test_port_only_falls_back_to_the_lowest_address(api, owner, node):
    a = _pool(node, "10.0.0.50", [1000, 2000])
    _pool(node, "10.0.0.10", [2000])
    _pool(node, "10.0.0.9", [2000])
    _pool(node, "::1", [2000])
    server = _server_on(owner, node, a[1000])
    _take(a[2000], owner)
    assert _chosen(_create(api, server, {"port": 2000})) == ("10.0.0.9", 2000)
    assert _chosen(_create(api, server, {"port": 2000})) == ("10.0.0.10", 2000)
    assert _chosen(_create(api, server, {"port": 2000})) == ("::1", 2000)
    _assert_409(_create(api, server, {"port": 2000}))


def test_port_only_with_no_such_free_port_is_409(api, server):
    _assert_409(_create(api, server, {"port": 1}))
    _assert_409(_create(api, server, {"port": 25565}))


# --- neither: the next available --------------------------------------------------------------


def test_next_available_is_the_lowest_free_port_above_the_primary(api, owner, node):
    rows = _pool(node, "10.0.0.1", [100, 200, 300, 400])
    server = _server_on(owner, node, rows[200])
    _take(rows[300], owner)
    assert _chosen(_create(api, server)) == ("10.0.0.1", 400)


def test_next_available_wraps_to_the_lowest_free_port_on_the_primarys_address(api, owner, node):
    _pool(node, "10.0.0.0", [1])  # a lower address: must not be preferred
    rows = _pool(node, "10.0.0.7", [50, 100, 200, 300])
    server = _server_on(owner, node, rows[300])
    assert _chosen(_create(api, server)) == ("10.0.0.7", 50)
    assert _chosen(_create(api, server)) == ("10.0.0.7", 100)
    assert _chosen(_create(api, server)) == ("10.0.0.7", 200)
    assert _chosen(_create(api, server)) == ("10.0.0.0", 1)


def test_next_available_then_takes_the_nodes_lowest_address_then_port(api, owner, node):
    a = _pool(node, "10.0.0.20", [1])
    _pool(node, "10.0.0.10", [7, 6])
    _pool(node, "10.0.0.9", [9, 8])
    _pool(node, "9.255.255.255", [])
    _pool(node, "::", [1])
    _pool(node, "255.255.255.255", [65535])
    server = _server_on(owner, node, a[1], limit=20)
    expected = [
        ("10.0.0.9", 8),
        ("10.0.0.9", 9),
        ("10.0.0.10", 6),
        ("10.0.0.10", 7),
        ("255.255.255.255", 65535),
        ("::", 1),
    ]
    assert [_chosen(_create(api, server)) for _ in expected] == expected
    assert_error(
        _create(api, server),
        503,
        "NoAvailableAllocationsException",
        "No available allocations found on this node.",
    )


def test_ipv6_addresses_are_ordered_numerically(api, owner, node):
    a = _pool(node, "2001:db8::ffff", [1])
    _pool(node, "2001:db8::10", [1])
    _pool(node, "2001:db8::9", [1])
    _pool(node, "2001:db8:0:0:1::", [1])
    server = _server_on(owner, node, a[1])
    got = [_chosen(_create(api, server))[0] for _ in range(3)]
    assert got == ["2001:db8::9", "2001:db8::10", "2001:db8:0:0:1::"]


def test_null_counts_as_absent(api, server):
    assert _chosen(_create(api, server, {"ip": None, "port": None})) == ("10.0.0.1", 25566)
    assert _chosen(_create(api, server, {"ip": None, "port": 25570})) == ("10.0.0.1", 25570)
    assert _chosen(_create(api, server, {"ip": "10.0.0.1", "port": None})) == ("10.0.0.1", 25567)


def test_nothing_free_on_the_node_is_503(api, owner):
    server = factories.make_server(owner, ports=[25565, 25566])
    assert _chosen(_create(api, server)) == ("10.0.0.1", 25566)
    before = snapshot()
    assert_error(_create(api, server), 503, "NoAvailableAllocationsException")
    assert snapshot() == before


def test_free_allocations_of_other_nodes_are_never_taken(api, owner):
    server = factories.make_server(owner, ports=[25565])
    elsewhere = factories.make_node()
    _pool(elsewhere, "10.0.0.1", [25566])
    assert_error(_create(api, server), 503, "NoAvailableAllocationsException")
    _assert_409(_create(api, server, {"port": 25566}))
    _assert_409(_create(api, server, {"ip": "10.0.0.1"}))


# --- assignment -----------------------------------------------------------------------------


def test_assigned_row_has_no_notes_and_is_not_primary(api, server):
    row = Allocation.objects.get(node=server.node, port=25566)
    Allocation.objects.filter(pk=row.pk).update(notes="stale")  # notes on a free row: ignored
    response = _create(api, server, {"port": 25566})
    attrs = response.json()["attributes"]
    assert attrs["notes"] is None
    assert attrs["is_default"] is False
    row.refresh_from_db()
    assert row.server_id == server.pk
    assert row.notes is None
    assert not row.is_primary


def test_first_allocation_becomes_the_primary(api, owner, node):
    _pool(node, "10.0.0.2", [5, 6])
    _pool(node, "10.0.0.1", [9])
    server = Server.objects.create(name="empty", owner=owner, node=node, allocation_limit=3)
    first = _create(api, server)
    assert _chosen(first) == ("10.0.0.1", 9)
    assert first.json()["attributes"]["is_default"] is True
    second = _create(api, server)
    assert _chosen(second) == ("10.0.0.2", 5)
    assert second.json()["attributes"]["is_default"] is False
    assert Allocation.objects.filter(server=server, is_primary=True).count() == 1


def test_first_allocation_by_port_or_ip_becomes_the_primary(api, owner, node):
    _pool(node, "10.0.0.2", [5, 6])
    _pool(node, "10.0.0.1", [6])
    server = Server.objects.create(name="empty", owner=owner, node=node, allocation_limit=3)
    first = _create(api, server, {"port": 6})
    assert _chosen(first) == ("10.0.0.1", 6)
    assert first.json()["attributes"]["is_default"] is True


def test_created_allocation_shows_in_the_list(api, server):
    created = _create(api, server).json()["attributes"]
    listed = api.get(allocations_url(server)).json()["data"]
    assert created in [item["attributes"] for item in listed]
