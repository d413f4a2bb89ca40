"""Reads scoped to the caller: a server the caller may not see is simply not found."""

import re
import uuid

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
    if lookup is None:
        raise NotFound()
    server = Server.objects.visible_to(user).filter(**lookup).first()
    if server is None:
        raise NotFound()
    return server


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
