"""Pterodactyl's client `server` item and the activity item, as plain dicts."""

import hashlib

from allocations.api.serializers import allocation_item
from servers import permissions as perms
from servers.models import Server, ServerStatus


def _iso(value) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def server_item(server: Server, *, user, granted: frozenset[str] | None, allocations) -> dict:
    """`granted` None means every permission (owner/superuser). A subuser without
    `allocation.read` sees only the primary allocation, without its notes."""
    if granted is not None and perms.ALLOCATION_READ not in granted:
        allocations = [a for a in allocations if a.is_primary]
        items = []
        for allocation in allocations:
            item = allocation_item(allocation)
            item["attributes"]["notes"] = None
            items.append(item)
    else:
        items = [allocation_item(a) for a in allocations]
    return {
        "object": "server",
        "attributes": {
            "server_owner": server.owner_id == user.pk,
            "identifier": server.identifier,
            "internal_id": server.pk,
            "uuid": str(server.uuid),
            "name": server.name,
            "node": server.node.name,
            "is_node_under_maintenance": False,
            "sftp_details": {"ip": server.node.fqdn, "port": 2022},
            "description": "",
            "feature_limits": {
                "databases": 0,
                "allocations": server.allocation_limit,
                "backups": 0,
            },
            "status": None if server.status == ServerStatus.ACTIVE else server.status,
            "is_suspended": server.status == ServerStatus.SUSPENDED,
            "is_installing": server.status
            in (ServerStatus.INSTALLING, ServerStatus.INSTALL_FAILED),
            "is_transferring": False,
            "relationships": {"allocations": {"object": "list", "data": items}},
        },
    }


def server_meta(server: Server, *, user, granted: frozenset[str] | None) -> dict:
    return {
        "is_server_owner": server.owner_id == user.pk,
        "user_permissions": ["*"] if granted is None else sorted(granted),
    }


def activity_item(entry, *, viewer) -> dict:
    """Pterodactyl's `activity_log` item. The IP is shown to the actor and superusers only,
    as Pterodactyl does."""
    can_see_ip = viewer.is_superuser or entry.actor_id == viewer.pk
    return {
        "object": "activity_log",
        "attributes": {
            "id": hashlib.sha1(str(entry.pk).encode()).hexdigest(),
            "batch": None,
            "event": entry.event,
            "is_api": bool(entry.api_key_identifier),
            "ip": entry.ip if can_see_ip else None,
            "description": None,
            "properties": entry.properties,
            "has_additional_metadata": False,
            "timestamp": _iso(entry.created_at),
        },
    }
