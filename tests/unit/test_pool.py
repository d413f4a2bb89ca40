"""The node pool service: parsing the operator's text and writing the rows."""

import ipaddress
import threading

import pytest
from django.db import connection

from allocations.addresses import ip_sort_key
from allocations.models import Allocation
from allocations.pool import (
    MAX_ALLOCATIONS_PER_CALL,
    PoolInputError,
    parse_ip_entries,
    parse_port_entries,
    pool_add,
    pool_parse,
)
from tests import factories

# --- Ports ----------------------------------------------------------------------------------


def test_ports_accept_singles_and_ranges_separated_by_commas_or_spaces():
    ports, errors = parse_port_entries("25565, 25570-25572 30000\t1,65535")
    assert errors == []
    assert ports == [1, 25565, 25570, 25571, 25572, 30000, 65535]


def test_ports_given_twice_or_overlapping_count_once():
    ports, errors = parse_port_entries("10-12,11,12-13")
    assert (ports, errors) == ([10, 11, 12, 13], [])


def test_a_range_of_one_port_is_fine():
    assert parse_port_entries("25565-25565") == ([25565], [])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("70000", "`70000` is not a port (ports are 1-65535)"),
        ("0", "`0` is not a port (ports are 1-65535)"),
        ("123456789012345678901234567890", "is not a port (ports are 1-65535)"),
        ("1-70000", "`1-70000` is not a port range (ports are 1-65535)"),
        ("0-10", "`0-10` is not a port range (ports are 1-65535)"),
        ("25580-25570", "`25580-25570` is a reversed range"),
        ("abc", "`abc` is not a port or port range"),
        ("-5", "`-5` is not a port or port range"),
        ("1--2", "`1--2` is not a port or port range"),
        ("1-2-3", "`1-2-3` is not a port or port range"),
        ("２５５６５", "`２５５６５` is not a port or port range"),  # fullwidth digits
        ("", "no port or port range given"),
        (" , ", "no port or port range given"),
    ],
)
def test_each_bad_port_entry_is_named(text, message):
    ports, errors = parse_port_entries(text)
    assert len(errors) == 1
    assert message in errors[0]


def test_every_bad_port_entry_is_reported_not_just_the_first():
    _, errors = parse_port_entries("25565,70000,abc,25580-25570,25600")
    assert errors == [
        "`70000` is not a port (ports are 1-65535)",
        "`abc` is not a port or port range",
        "`25580-25570` is a reversed range",
    ]


# --- Addresses ------------------------------------------------------------------------------


def _addresses(networks):
    return [str(a) for n in networks for a in n]


def test_a_block_covers_every_address_network_and_broadcast_included():
    networks, errors = parse_ip_entries("10.0.0.0/30")
    assert errors == []
    assert _addresses(networks) == ["10.0.0.0", "10.0.0.1", "10.0.0.2", "10.0.0.3"]


def test_host_bits_in_a_block_name_the_whole_block():
    networks, _ = parse_ip_entries("10.0.0.5/30")
    assert networks == [ipaddress.ip_network("10.0.0.4/30")]


def test_several_entries_by_comma_or_space_and_overlaps_merged():
    networks, errors = parse_ip_entries("10.0.0.0/31, 10.0.0.1 ::1\n2001:db8::/127")
    assert errors == []
    assert _addresses(networks) == ["10.0.0.0", "10.0.0.1", "::1", "2001:db8::", "2001:db8::1"]


def test_largest_blocks_allowed_are_ipv4_16_and_ipv6_112():
    networks, errors = parse_ip_entries("10.1.0.0/16 2001:db8::/112")
    assert errors == []
    assert sum(n.num_addresses for n in networks) == 2 * 65536


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("10.0.0.0/8", "`10.0.0.0/8` is too large a block (at most /16 for IPv4)"),
        ("10.0.0.0/15", "`10.0.0.0/15` is too large a block (at most /16 for IPv4)"),
        ("2001:db8::/111", "`2001:db8::/111` is too large a block (at most /112 for IPv6)"),
        ("10.0.0.0/33", "`10.0.0.0/33` is not an IP address or CIDR block"),
        ("10.0.0.256", "`10.0.0.256` is not an IP address or CIDR block"),
        ("010.0.0.1", "`010.0.0.1` is not an IP address or CIDR block"),
        ("fe80::1%eth0", "`fe80::1%eth0` is not an IP address or CIDR block"),
        ("[::1]", "`[::1]` is not an IP address or CIDR block"),
        ("example.com", "`example.com` is not an IP address or CIDR block"),
        ("", "no IP address or CIDR block given"),
    ],
)
def test_each_bad_ip_entry_is_named(text, message):
    networks, errors = parse_ip_entries(text)
    assert errors == [message]


def test_pool_parse_reports_every_bad_entry_of_every_field_at_once():
    with pytest.raises(PoolInputError) as caught:
        pool_parse(ips="10.0.0.0/8, 10.0.0.1, nope", ports="70000,25580-25570", alias="x" * 256)
    assert caught.value.field_errors == {
        "ip": [
            "`10.0.0.0/8` is too large a block (at most /16 for IPv4)",
            "`nope` is not an IP address or CIDR block",
        ],
        "ports": [
            "`70000` is not a port (ports are 1-65535)",
            "`25580-25570` is a reversed range",
        ],
        "alias": ["The alias may be at most 255 characters"],
    }
    assert str(caught.value) == "; ".join(caught.value.errors)


def test_pool_parse_allows_exactly_the_limit_and_refuses_one_more():
    # 64 addresses x 15,625 ports = 1,000,000.
    request = pool_parse(ips="10.0.0.0/26", ports="1-15625")
    assert request.count == MAX_ALLOCATIONS_PER_CALL
    with pytest.raises(PoolInputError) as caught:
        pool_parse(ips="10.0.0.0/26", ports="1-15626")
    assert caught.value.errors == [
        "That is 1,000,064 allocations; at most 1,000,000 may be added at a time"
    ]


def test_pool_parse_counts_overlapping_input_once():
    request = pool_parse(ips="10.0.0.0/30 10.0.0.2", ports="1-3,2")
    assert request.count == 4 * 3


def test_blank_alias_means_none():
    assert pool_parse(ips="10.0.0.1", ports="1", alias="  ").alias is None
    assert pool_parse(ips="10.0.0.1", ports="1", alias=" play.example.com ").alias == (
        "play.example.com"
    )


# --- Writing --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_pool_add_writes_every_pair_with_canonical_ip_and_sort_key():
    node = factories.make_node()
    result = pool_add(
        node=node,
        request=pool_parse(ips="10.0.0.1, 2001:0DB8:0:0::1", ports="25565-25566", alias="mc"),
    )
    assert (result.created, result.skipped) == (4, 0)
    rows = list(Allocation.objects.filter(node=node).order_by("ip_key", "port"))
    assert [(r.ip, r.port) for r in rows] == [
        ("10.0.0.1", 25565),
        ("10.0.0.1", 25566),
        ("2001:db8::1", 25565),
        ("2001:db8::1", 25566),
    ]
    assert [r.ip_key for r in rows] == [ip_sort_key(ipaddress.ip_address(r.ip)) for r in rows]
    assert {r.ip_alias for r in rows} == {"mc"}
    assert all(r.server_id is None and not r.is_primary and r.notes is None for r in rows)
    assert [r.address for r in rows][2] == "[2001:db8::1]:25565"


@pytest.mark.django_db
def test_pool_add_writes_the_same_key_as_a_saved_row():
    """A row written in bulk must collide with one saved one by one (same ip_key)."""
    node = factories.make_node()
    factories.make_pool(node, ip="2001:db8::a", ports=[25565])
    result = pool_add(node=node, request=pool_parse(ips="2001:db8:0::A", ports="25565-25566"))
    assert (result.created, result.skipped) == (1, 1)
    assert Allocation.objects.filter(node=node).count() == 2


@pytest.mark.django_db
def test_pool_add_skips_existing_rows_and_counts_them():
    node = factories.make_node()
    first = pool_add(node=node, request=pool_parse(ips="10.0.0.1", ports="25565-25569"))
    again = pool_add(node=node, request=pool_parse(ips="10.0.0.1", ports="25565-25574"))
    assert (first.created, first.skipped) == (5, 0)
    assert (again.created, again.skipped) == (5, 5)
    assert Allocation.objects.filter(node=node).count() == 10


@pytest.mark.django_db
def test_pool_add_leaves_existing_rows_untouched(owner):
    server = factories.make_server(owner)  # holds 10.0.0.1:25565 of a 10-port pool
    held = Allocation.objects.get(server=server)
    result = pool_add(
        node=server.node, request=pool_parse(ips="10.0.0.1", ports="25565", alias="new")
    )
    assert (result.created, result.skipped) == (0, 1)
    held.refresh_from_db()
    assert held.server_id == server.pk and held.is_primary and held.ip_alias is None


@pytest.mark.django_db
def test_the_same_pair_on_another_node_is_not_a_duplicate():
    one, two = factories.make_node(), factories.make_node()
    request = pool_parse(ips="10.0.0.1", ports="25565-25567")
    pool_add(node=one, request=request)
    assert pool_add(node=two, request=request).created == 3


@pytest.mark.django_db
def test_pool_add_writes_a_large_request_in_batches():
    node = factories.make_node()
    request = pool_parse(ips="10.0.0.0/30", ports="1-3000")  # 12,000: several batches
    assert pool_add(node=node, request=request).created == 12_000
    assert Allocation.objects.filter(node=node).count() == 12_000
    assert Allocation.objects.filter(node=node, ip="10.0.0.3", port=3000).exists()
    assert pool_add(node=node, request=request).skipped == 12_000


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_adds_to_one_node_count_each_row_once():
    node = factories.make_node()
    requests = [
        pool_parse(ips="10.0.0.0/29", ports="1-500"),
        pool_parse(ips="10.0.0.4/30", ports="250-750"),
        pool_parse(ips="10.0.0.0/29", ports="400-600"),
    ]
    results, errors = [None] * len(requests), []
    barrier = threading.Barrier(len(requests))

    def add(i):
        try:
            barrier.wait(timeout=10)
            results[i] = pool_add(node=node, request=requests[i])
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=add, args=(i,), daemon=True) for i in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
        assert not thread.is_alive()
    assert errors == []
    distinct = 8 * 600 + 4 * 150  # 10.0.0.0/29 x 1-600, plus 10.0.0.4/30 x 601-750
    assert sum(r.created for r in results) == distinct
    assert sum(r.created + r.skipped for r in results) == sum(r.count for r in requests)
    assert Allocation.objects.filter(node=node).count() == distinct
