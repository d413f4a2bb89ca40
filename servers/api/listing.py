"""The server list of `GET /api/client`: which servers, filtered how."""

import uuid

from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast

from servers.models import Server, Subuser

_IP_CHARS = frozenset("0123456789abcdefABCDEF.:[]")


def servers_for_listing(*, user, list_type: str | None, search: str | None) -> QuerySet:
    """Owned or subuser servers; `?type=owner` keeps only owned ones. `?type=admin` and
    `?type=admin-all` list every server for a superuser (spec section 11) and nothing for
    anyone else, as Pterodactyl does."""
    if list_type in ("admin", "admin-all"):
        servers = Server.objects.all() if user.is_superuser else Server.objects.none()
    elif list_type == "owner":
        servers = Server.objects.filter(owner=user)
    else:
        # A subquery, not a join: no duplicate rows, so no DISTINCT.
        mine = Subuser.objects.filter(user=user).values("server_id")
        servers = Server.objects.filter(Q(owner=user) | Q(pk__in=mine))
    if search and search.strip():
        # PostgreSQL text cannot hold a NUL, so no server's text contains one: none match.
        search = search.strip()
        if "\x00" in search:
            return Server.objects.none()
        servers = servers.filter(pk__in=_matching(search))
    return servers.select_related("node").order_by("id")


def _matching(value: str) -> QuerySet:
    """Ids of servers whose name contains `value`, or whose uuid, identifier, or any
    (text lookups only: `iexact` casts an inet column to text, so nonsense never errors)
    allocation's address, `address:port` or `:port` starts with it."""
    if value.startswith(":") and value[1:].isascii() and value[1:].isdigit():
        return _by_port_prefix(Server.objects.all(), value[1:]).values("pk")
    matches = Q(name__icontains=value) | Q(identifier__istartswith=value)
    uuid_range = _uuid_prefix_range(value)
    if uuid_range is not None:
        matches |= Q(uuid__range=uuid_range)
    address, has_port, port = _split_address(value)
    if address and _IP_CHARS.issuperset(value):
        if has_port:
            by_allocation = _by_port_prefix(
                Server.objects.filter(allocations__ip__iexact=address), port
            )
        else:
            by_allocation = Server.objects.filter(allocations__ip__istartswith=address)
        matches |= Q(pk__in=by_allocation.values("pk"))
    return Server.objects.filter(matches).values("pk")


_UUID_TEMPLATE = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
_HEX = frozenset("0123456789abcdef")


def _uuid_prefix_range(value: str) -> tuple[uuid.UUID, uuid.UUID] | None:
    """The uuids that start with `value` (in their canonical hyphenated form), as a range:
    the same on PostgreSQL's uuid column and SQLite's hyphen-less text, which a cast to
    text would not be."""
    value = value.lower()
    if len(value) > len(_UUID_TEMPLATE):
        return None
    for char, slot in zip(value, _UUID_TEMPLATE, strict=False):
        if (slot == "-" and char != "-") or (slot == "x" and char not in _HEX):
            return None
    rest = _UUID_TEMPLATE[len(value) :]
    return uuid.UUID(value + rest.replace("x", "0")), uuid.UUID(value + rest.replace("x", "f"))


def _split_address(value: str) -> tuple[str, bool, str]:
    """`1.2.3.4:255` -> ("1.2.3.4", True, "255"); `[::1]:25` -> ("::1", True, "25"); an
    unbracketed IPv6 prefix such as `2001:db8` is an address, not `2001` port `db8`."""
    if value.startswith("["):
        address, _, rest = value[1:].partition("]")
        return address, rest.startswith(":"), rest[1:]
    if value.count(":") == 1 and "." in value.partition(":")[0]:
        address, _, port = value.partition(":")
        return address, True, port
    return value, False, ""


def _by_port_prefix(servers: QuerySet, port_prefix: str) -> QuerySet:
    return servers.annotate(port_text=Cast("allocations__port", CharField())).filter(
        port_text__startswith=port_prefix
    )
