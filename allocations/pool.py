"""Adding addresses and ports to a node's pool.

One module for every way in (the `addallocations` command, the admin), so they accept and
refuse exactly the same input. `pool_parse` reads the operator's text and reports every bad
entry at once; `pool_add` writes every (address, port) pair in one transaction, skipping
pairs the node already has."""

import ipaddress
import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from django.db import connection, transaction

from allocations.addresses import canonical_ip, ip_sort_key
from allocations.models import Allocation
from servers.models import Node

MAX_ALLOCATIONS_PER_CALL = 1_000_000
# The largest blocks accepted: a /16 (65,536 addresses), and as many for IPv6 (/112).
MIN_PREFIX = {4: 16, 6: 112}
MAX_ALIAS = 255
MIN_PORT, MAX_PORT = 1, 65535

# Rows a single INSERT statement writes: small enough to stay far below the connection's
# statement_timeout, large enough that round trips do not dominate.
_PG_STATEMENT_ROWS = 50_000
_BULK_BATCH = 5_000

_SEPARATORS = re.compile(r"[,\s]+")
_PORT_ENTRY = re.compile(r"([0-9]+)(?:-([0-9]+))?", re.ASCII)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class PoolInputError(ValueError):
    """Bad input; nothing was written. `field_errors` maps "ip", "ports", "alias" (and
    "count" for the size limit) to messages, so a form can show each beside its field.
    Messages name the entry and carry no final full stop, so they join into one line."""

    def __init__(self, field_errors: dict[str, list[str]]):
        self.field_errors = field_errors
        self.errors = [message for messages in field_errors.values() for message in messages]
        super().__init__("; ".join(self.errors))


@dataclass(frozen=True)
class PoolRequest:
    """Validated input: distinct, non-overlapping blocks and distinct ports, sorted."""

    networks: tuple[Network, ...]
    ports: tuple[int, ...]
    alias: str | None = None

    @property
    def address_count(self) -> int:
        return sum(network.num_addresses for network in self.networks)

    @property
    def count(self) -> int:
        return self.address_count * len(self.ports)


@dataclass(frozen=True)
class PoolResult:
    created: int
    skipped: int


def _entries(text: str) -> list[str]:
    return [entry for entry in _SEPARATORS.split(text or "") if entry]


def _show(entry: str) -> str:
    # Echo what was typed, but never a screenful of it.
    return f"`{entry[:60]}`"


def parse_ip_entries(text: str) -> tuple[list[Network], list[str]]:
    """Addresses and CIDR blocks separated by commas or spaces. Overlaps are merged."""
    networks: list[Network] = []
    errors: list[str] = []
    entries = _entries(text)
    if not entries:
        return [], ["no IP address or CIDR block given"]
    for entry in entries:
        try:
            if "%" in entry:  # a zone id names an interface, not an address
                raise ValueError
            # Host bits are allowed (`10.0.0.5/24` is the block 10.0.0.0/24), as in the
            # interface notation operators copy from `ip addr`.
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            errors.append(f"{_show(entry)} is not an IP address or CIDR block")
            continue
        if network.prefixlen < MIN_PREFIX[network.version]:
            errors.append(
                f"{_show(entry)} is too large a block "
                f"(at most /{MIN_PREFIX[network.version]} for IPv{network.version})"
            )
            continue
        networks.append(network)
    merged = [
        *ipaddress.collapse_addresses(n for n in networks if n.version == 4),
        *ipaddress.collapse_addresses(n for n in networks if n.version == 6),
    ]
    return merged, errors


def parse_port_entries(text: str) -> tuple[list[int], list[str]]:
    """Ports and `low-high` ranges (inclusive) separated by commas or spaces."""
    ports: set[int] = set()
    errors: list[str] = []
    entries = _entries(text)
    if not entries:
        return [], ["no port or port range given"]
    for entry in entries:
        match = _PORT_ENTRY.fullmatch(entry)
        if match is None:
            errors.append(f"{_show(entry)} is not a port or port range")
            continue
        low_text, high_text = match.groups()
        # Checked by length first: int() of a huge digit string is slow or refused.
        bounds = [low_text] if high_text is None else [low_text, high_text]
        if any(len(b) > 5 or not MIN_PORT <= int(b) <= MAX_PORT for b in bounds):
            kind = "a port" if high_text is None else "a port range"
            errors.append(f"{_show(entry)} is not {kind} (ports are {MIN_PORT}-{MAX_PORT})")
            continue
        low = int(low_text)
        high = low if high_text is None else int(high_text)
        if high < low:
            errors.append(f"{_show(entry)} is a reversed range")
            continue
        ports.update(range(low, high + 1))
    return sorted(ports), errors


def pool_parse(*, ips: str, ports: str, alias: str | None = None) -> PoolRequest:
    """Validate everything; raise PoolInputError naming every bad entry."""
    networks, ip_errors = parse_ip_entries(ips)
    port_list, port_errors = parse_port_entries(ports)
    field_errors: dict[str, list[str]] = {}
    if ip_errors:
        field_errors["ip"] = ip_errors
    if port_errors:
        field_errors["ports"] = port_errors
    alias = (alias or "").strip() or None
    if alias is not None and len(alias) > MAX_ALIAS:
        field_errors["alias"] = [f"The alias may be at most {MAX_ALIAS} characters"]
    if field_errors:
        raise PoolInputError(field_errors)
    request = PoolRequest(networks=tuple(networks), ports=tuple(port_list), alias=alias)
    if request.count > MAX_ALLOCATIONS_PER_CALL:
        raise PoolInputError(
            {
                "count": [
                    f"That is {request.count:,} allocations; at most "
                    f"{MAX_ALLOCATIONS_PER_CALL:,} may be added at a time"
                ]
            }
        )
    return request


def _addresses(request: PoolRequest) -> Iterator[tuple[str, str]]:
    """(stored text, sort key) of every address of every block. Network and broadcast
    addresses are included: the operator names a block to get every address of it, and
    a game server may well be bound to either (a /32 or /31 has no others at all)."""
    for network in request.networks:
        for address in _every_address(network):
            yield canonical_ip(address), ip_sort_key(address)


def _every_address(network: Network):
    # `hosts()` would leave out the network and broadcast addresses; count up instead.
    first = int(network.network_address)
    make = ipaddress.IPv4Address if network.version == 4 else ipaddress.IPv6Address
    for value in range(first, first + network.num_addresses):
        yield make(value)


def _chunks(iterable, size: int):
    iterator = iter(iterable)
    while chunk := list(itertools.islice(iterator, size)):
        yield chunk


def pool_add(*, node: Node, request: PoolRequest) -> PoolResult:
    """Add every (address, port) of `request` to `node`'s pool; existing pairs are skipped
    and counted. All or nothing: one transaction."""
    with transaction.atomic():
        # One writer per node at a time (NO KEY UPDATE still lets other inserts' foreign-key
        # checks through): concurrent adds never deadlock on each other's rows, and the
        # before/after count of the portable path is exact.
        node = Node.objects.select_for_update(no_key=True).get(pk=node.pk)
        if connection.vendor == "postgresql":
            created = _insert_postgresql(node, request)
        else:
            created = _insert_portable(node, request)
    return PoolResult(created=created, skipped=request.count - created)


def _insert_portable(node: Node, request: PoolRequest) -> int:
    existing = Allocation.objects.filter(node=node)
    before = existing.count()
    rows = (
        # bulk_create skips Allocation.save(), which would derive ip and ip_key: set them.
        Allocation(node=node, ip=ip, ip_key=key, ip_alias=request.alias, port=port)
        for ip, key in _addresses(request)
        for port in request.ports
    )
    for batch in _chunks(rows, _BULK_BATCH):
        Allocation.objects.bulk_create(batch, ignore_conflicts=True)
    return existing.count() - before


def _insert_postgresql(node: Node, request: PoolRequest) -> int:
    """The database multiplies addresses by ports itself: one statement per chunk of
    addresses, with the ports sent once, and ON CONFLICT DO NOTHING skipping existing pairs.
    Its row count is exactly the rows inserted."""
    meta = Allocation._meta
    quote = connection.ops.quote_name

    def column(name: str) -> str:
        return quote(meta.get_field(name).column)

    sql = (
        f"INSERT INTO {quote(meta.db_table)} "
        f"({column('node')}, {column('ip')}, {column('ip_key')}, {column('ip_alias')}, "
        f"{column('port')}, {column('notes')}, {column('server')}, {column('is_primary')}) "
        "SELECT %s, a.ip::inet, a.ip_key, %s, p.port, NULL, NULL, false "
        "FROM unnest(%s::text[], %s::text[]) WITH ORDINALITY AS a(ip, ip_key, n) "
        "CROSS JOIN unnest(%s::integer[]) AS p(port) "
        "ORDER BY a.n, p.port "  # ids then follow address, then port
        "ON CONFLICT DO NOTHING"
    )
    ports = list(request.ports)
    per_statement = max(1, _PG_STATEMENT_ROWS // len(ports))
    created = 0
    with connection.cursor() as cursor:
        for chunk in _chunks(_addresses(request), per_statement):
            ips = [ip for ip, _ in chunk]
            keys = [key for _, key in chunk]
            cursor.execute(sql, [node.pk, request.alias, ips, keys, ports])
            created += cursor.rowcount
    return created
