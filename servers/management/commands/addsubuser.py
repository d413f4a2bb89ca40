import re

from django.core.management.base import CommandError
from django.db import transaction

from panel.commands import PanelCommand, get_server, get_user
from servers.models import Server, Subuser
from servers.permissions import ALL_PERMISSIONS


def parse_permissions(text: str) -> list[str]:
    """Comma- (or space-) separated permission strings; every unknown one is named."""
    given = [p for p in re.split(r"[,\s]+", text) if p]
    unknown = [p for p in dict.fromkeys(given) if p not in ALL_PERMISSIONS]
    if unknown:
        raise CommandError(
            "Unknown permission"
            + ("s " if len(unknown) > 1 else " ")
            + ", ".join(f"`{p[:60]}`" for p in unknown)
            + "; known: "
            + ", ".join(sorted(ALL_PERMISSIONS))
            + "."
        )
    return sorted(set(given))


class Command(PanelCommand):
    help = "Make USER a subuser of SERVER with exactly these permissions (replacing any they had)."

    def add_arguments(self, parser):
        parser.add_argument("server", metavar="SERVER", help="uuid or 8-character identifier")
        parser.add_argument("username", metavar="USER")
        parser.add_argument(
            "--permissions",
            required=True,
            metavar="PERMS",
            help="comma-separated, e.g. allocation.read,allocation.create",
        )

    def run(self, *, server, username, permissions, **options):
        perms = parse_permissions(permissions)  # malformed input fails before any query
        server = get_server(server)
        user = get_user(username)
        if server.owner_id == user.pk:
            raise CommandError(
                f"{user.get_username()} owns server {server.identifier}; "
                "the owner cannot be a subuser."
            )
        with transaction.atomic():
            # Locking the server serializes two adds of the same subuser: the second finds
            # the first's row and replaces its permissions instead of failing on the
            # unique constraint.
            Server.objects.select_for_update(no_key=True).get(pk=server.pk)
            Subuser.objects.update_or_create(
                server=server, user=user, defaults={"permissions": perms}
            )
        return (
            {"server": str(server.uuid), "user": user.get_username(), "permissions": perms},
            f"{user.get_username()} is a subuser of {server.identifier} with: "
            + (", ".join(perms) if perms else "no permissions")
            + ".",
        )
