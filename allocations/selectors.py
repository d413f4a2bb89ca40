from functools import cache
from typing import NamedTuple

from django.db import connection
from django.db.models import Count, Max, Q

from allocations.models import Allocation
from panel.errors import NotFound
from servers.models import Server

_MAX_ID = 2**63 - 1


def allocation_get_for_server(*, server: Server, allocation_id: str) -> Allocation:
    """The allocation with that id among `server`'s own; NotFound for anything else,
    including ids that are not integers at all."""
    if not allocation_id.isascii() or not allocation_id.isdigit() or len(allocation_id) > 19:
        raise NotFound()
    pk = int(allocation_id)
    if pk > _MAX_ID:
        raise NotFound()
    allocation = Allocation.objects.filter(server=server, pk=pk).first()
    if allocation is None:
        raise NotFound()
    return allocation


def allocation_list_for_server(*, server: Server) -> list[Allocation]:
    return list(
        Allocation.objects.filter(server=server)
        .order_by("id")
        .only("id", "ip", "ip_alias", "port", "notes", "is_primary", "server_id")
    )


class AllocationRow(NamedTuple):
    """What the API shows of an allocation (the attribute names of `Allocation`'s fields)."""

    id: int
    ip: str
    ip_alias: str | None
    port: int
    notes: str | None
    is_primary: bool


def allocation_rows_for_server(*, server: Server) -> list[AllocationRow]:
    """Every allocation `server` holds, by id, as plain rows: the list endpoint's read.

    One statement written out, and no model instances: the list endpoint is the API's hot
    path, and building this query with the ORM (and an instance per row) cost more than the
    database spent answering it, the more so the more allocations a server holds
    (docs/performance.md)."""
    with connection.cursor() as cursor:
        cursor.execute(_rows_sql(connection.vendor), [server.pk])
        return [AllocationRow._make(row) for row in cursor.fetchall()]


@cache
def _rows_sql(vendor: str) -> str:
    quote = connection.ops.quote_name
    meta = Allocation._meta
    columns = ", ".join(quote(meta.get_field(name).column) for name in AllocationRow._fields)
    return (
        f"SELECT {columns} FROM {quote(meta.db_table)} "
        f"WHERE {quote(meta.get_field('server').column)} = %s ORDER BY {quote(meta.pk.column)}"
    )


def allocation_addresses_for_node(*, node_id: int) -> list[dict]:
    """The node's addresses, lowest first: `ip`, an `alias` (if any row has one) and how
    many of its ports are `free`. One query, however large the pool."""
    return list(
        Allocation.objects.filter(node_id=node_id)
        .values("ip", "ip_key")
        .annotate(alias=Max("ip_alias"), free=Count("id", filter=Q(server__isnull=True)))
        .order_by("ip_key")
    )
