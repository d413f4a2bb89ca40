"""The server list of `GET /api/client`: which servers, filtered how."""

from django.db.models import CharField, Q, QuerySet
from django.db.models.functions import Cast

from servers.models import Server

_IP_CHARS = frozenset("0123456789abcdefABCDEF.:[]")


def servers_for_listing(*, user, list_type: str | None, search: str | None) -> QuerySet:
    """Owned or subuser servers; superusers get every server with `?type=admin` or
    `?type=admin-all`; `?type=owner` keeps only owned ones."""
    if user.is_superuser and list_type in ("admin", "admin-all"):
        servers = Server.objects.all()
    elif list_type == "owner":
        servers = Server.objects.filter(owner=user)
    else:
        servers = Server.objects.filter(Q(owner=user) | Q(subusers__user=user)).distinct()
    if search:
        servers = servers.filter(pk__in=_matching(search.strip()))
    return servers.select_related("node", "owner").order_by("id")


def _matching(value: str) -> QuerySet:
    """Ids of servers whose name contains `value`, or whose uuid, identifier, or any
    (text lookups only: `iexact` casts an inet column to text, so nonsense never errors)
    allocation's address, `address:port` or `:port` starts with it."""
    servers = Server.objects.annotate(uuid_text=Cast("uuid", CharField()))
    if value.startswith(":") and value[1:].isdigit():
        return _by_port_prefix(Server.objects.all(), value[1:]).values("pk")
    matches = (
        Q(name__icontains=value)
        | Q(identifier__istartswith=value)
        | Q(uuid_text__istartswith=value)
    )
    if _IP_CHARS.issuperset(value):
        address, has_port, port = _split_address(value)
        if has_port:
            by_allocation = _by_port_prefix(
                Server.objects.filter(allocations__ip__iexact=address), port
            )
        else:
            by_allocation = Server.objects.filter(allocations__ip__istartswith=address)
        matches |= Q(pk__in=by_allocation.values("pk"))
    return servers.filter(matches).values("pk")


def _split_address(value: str) -> tuple[str, bool, str]:
    """`1.2.3.4:255` -> ("1.2.3.4", True, "255"); `[::1]:25` -> ("::1", True, "25")."""
    if value.startswith("["):
        address, _, rest = value[1:].partition("]")
        return address, rest.startswith(":"), rest[1:]
    if value.count(":") == 1:
        address, _, port = value.partition(":")
        return address, True, port
    return value, False, ""


def _by_port_prefix(servers: QuerySet, port_prefix: str) -> QuerySet:
    return servers.annotate(port_text=Cast("allocations__port", CharField())).filter(
        port_text__startswith=port_prefix
    )
