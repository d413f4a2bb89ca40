"""Reads scoped to the caller: a server the caller may not see is simply not found."""

import re
import uuid
from functools import cache

from django.db import connection

from panel.errors import InsufficientPermissions, NotFound, ServerNotInstalled, ServerSuspended
from servers.models import Server, ServerStatus, Subuser

_IDENTIFIER = re.compile(r"[0-9a-f]{8}")
# Only the canonical 36-character form: `uuid.UUID` would also take braces, `urn:uuid:` and
# hyphens anywhere, which would give one server many paths.
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _identifier_filter(identifier: str) -> dict | None:
    value = identifier.lower()
    if _IDENTIFIER.fullmatch(value):
        return {"identifier": value}
    if _UUID.fullmatch(value):
        return {"uuid": uuid.UUID(value)}
    return None


def server_get_for_user(*, user, identifier: str) -> Server:
    """The server named by uuid or 8-character identifier (any case), among those `user`
    may see; NotFound otherwise, the same for "absent" and "not yours"."""
    lookup = _identifier_filter(identifier)
    if lookup is None or not user.is_authenticated or not user.is_active:
        raise NotFound()
    ((column, value),) = lookup.items()
    field = Server._meta.get_field(column)
    params = [field.get_db_prep_value(value, connection)]
    if not user.is_superuser:
        params += [user.pk, user.pk]
    with connection.cursor() as cursor:
        cursor.execute(_visible_server_sql(connection.vendor, column, user.is_superuser), params)
        row = cursor.fetchone()
    if row is None:
        raise NotFound()
    return _server_from_row(row)


@cache
def _visible_server_sql(vendor: str, column: str, superuser: bool) -> str:
    """`Server.objects.visible_to(user).filter(<column>=%s)`, written out once.

    Every client API request runs this lookup; building it with the ORM on each request
    cost more than three times what the database spends answering it, and most of the list
    endpoint's own time (docs/performance.md). The rule is `ServerQuerySet.visible_to`'s,
    to the letter (owner, or a subuser row, or a superuser), and
    tests/reliability/test_fast_paths.py holds the two to the same answers."""
    quote = connection.ops.quote_name

    def col(model, name: str) -> str:
        return f"{quote(model._meta.db_table)}.{quote(model._meta.get_field(name).column)}"

    columns = ", ".join(col(Server, f.name) for f in Server._meta.concrete_fields)
    sql = f"SELECT {columns} FROM {quote(Server._meta.db_table)} WHERE {col(Server, column)} = %s"
    if not superuser:
        sql += (
            f" AND ({col(Server, 'owner')} = %s OR {col(Server, 'id')} IN "
            f"(SELECT {col(Subuser, 'server')} FROM {quote(Subuser._meta.db_table)} "
            f"WHERE {col(Subuser, 'user')} = %s))"
        )
    return sql


def _server_from_row(row) -> Server:
    """What the ORM would have built from the row: the backend's converters (SQLite stores a
    uuid as hex, a datetime as text), then `Model.from_db`."""
    values = list(row)
    for index, converters, expression in _server_converters(connection.vendor):
        for converter in converters:
            values[index] = converter(values[index], expression, connection)
    return Server.from_db(connection.alias, _SERVER_ATTNAMES, values)


_SERVER_ATTNAMES = [f.attname for f in Server._meta.concrete_fields]


@cache
def _server_converters(vendor: str) -> tuple:
    found = []
    for index, field in enumerate(Server._meta.concrete_fields):
        expression = field.get_col(Server._meta.db_table)
        converters = connection.ops.get_db_converters(expression)
        converters += expression.get_db_converters(connection)
        if converters:
            found.append((index, tuple(converters), expression))
    return tuple(found)


def server_permissions_for_user(*, server: Server, user) -> frozenset[str] | None:
    """None means every permission (owner or superuser); else the subuser's strings."""
    if user.is_superuser or server.owner_id == user.pk:
        return None
    perms = Subuser.objects.filter(server=server, user=user).values_list("permissions", flat=True)
    return permissions_granted(perms.first())


def permissions_granted(strings) -> frozenset[str]:
    """The permission strings a stored value grants: only a list of strings grants anything
    (no subuser row, or data of another shape, grants nothing)."""
    if not isinstance(strings, list):
        return frozenset()
    return frozenset(p for p in strings if isinstance(p, str))


def server_require_permission(*, server: Server, user, permission: str) -> None:
    granted = server_permissions_for_user(server=server, user=user)
    if granted is not None and permission not in granted:
        raise InsufficientPermissions()


def server_require_any_permission(*, server: Server, user, permissions: frozenset[str]) -> None:
    """For an endpoint whose body picks the permission (power): a caller who holds none of
    them is refused before the body is read."""
    granted = server_permissions_for_user(server=server, user=user)
    if granted is not None and not granted & permissions:
        raise InsufficientPermissions()


def server_require_usable(*, server: Server) -> None:
    """Network changes and reads need a server that is neither suspended nor installing."""
    if server.status == ServerStatus.SUSPENDED:
        raise ServerSuspended()
    if server.status in (ServerStatus.INSTALLING, ServerStatus.INSTALL_FAILED):
        raise ServerNotInstalled()
