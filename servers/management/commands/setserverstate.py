from django.db import transaction

from panel.commands import PanelCommand, get_server
from servers.models import PowerState, Server, ServerStatus


class Command(PanelCommand):
    help = "Set a server's power state and/or lifecycle status; with neither, show them."

    def add_arguments(self, parser):
        parser.add_argument("server", metavar="SERVER", help="uuid or 8-character identifier")
        parser.add_argument("--state", choices=PowerState.values)
        parser.add_argument("--status", choices=ServerStatus.values)

    def run(self, *, server, state, status, **options):
        server = get_server(server)
        changes = {
            field: value
            for field, value in (("state", state), ("status", status))
            if value is not None
        }
        if changes:
            with transaction.atomic():
                # The server row first, as every allocation service locks it: a change of
                # state never interleaves with a primary change that checks the state.
                server = Server.objects.select_for_update(no_key=True).get(pk=server.pk)
                Server.objects.filter(pk=server.pk).update(**changes)
                for field, value in changes.items():
                    setattr(server, field, value)
        return (
            {"uuid": str(server.uuid), "state": server.state, "status": server.status},
            f"Server {server.identifier}: state {server.state}, status {server.status}.",
        )
