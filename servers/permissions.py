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

GROUP_DESCRIPTIONS: dict[str, str] = {
    "control": "Permissions that control a user's ability to control the power state of a server.",
    "allocation": "Permissions that control a user's ability to modify the port allocations "
    "for this server.",
    "activity": "Permissions that control a user's access to the server activity logs.",
}

CONTROL_START = "control.start"
CONTROL_STOP = "control.stop"
CONTROL_RESTART = "control.restart"
ACTIVITY_READ = "activity.read"
