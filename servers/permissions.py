"""The permission strings a subuser can be given, grouped as Pterodactyl groups them.

No wildcards: a subuser may do exactly what their strings name."""

PERMISSION_GROUPS: dict[str, dict[str, str]] = {
    "control": {
        "start": "Allows a user to start the server if it is stopped.",
        "stop": "Allows a user to stop a server if it is running.",
        "restart": "Allows a user to perform a server restart.",
    },
    "allocation": {
        "read": "Allows a user to view all allocations currently assigned to this server.",
        "create": "Allows a user to assign additional allocations to the server.",
        "update": "Allows a user to change the primary allocation and edit allocation notes.",
        "delete": "Allows a user to remove allocations from the server.",
    },
    "activity": {
        "read": "Allows a user to view the activity logs for the server.",
    },
}

ALL_PERMISSIONS: frozenset[str] = frozenset(
    f"{group}.{name}" for group, names in PERMISSION_GROUPS.items() for name in names
)

ALLOCATION_READ = "allocation.read"
ALLOCATION_CREATE = "allocation.create"
ALLOCATION_UPDATE = "allocation.update"
ALLOCATION_DELETE = "allocation.delete"
