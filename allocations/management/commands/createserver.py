import argparse

from django.core.management.base import CommandError

from allocations.addresses import ip_sort_key, parse_ip
from allocations.models import Allocation
from allocations.services import server_create
from panel.commands import PanelCommand, get_node, get_user
from servers.models import PowerState, Server, ServerStatus

NAME_MAX = Server._meta.get_field("name").max_length


def parse_ip_port(value: str) -> tuple[str, int]:
    """`10.0.0.1:25565` or `[::1]:25565` into (sort key of the address, port)."""
    text = value.strip()
    host, sep, port_text = text.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise CommandError(f"`{text[:60]}`: write an IPv6 address in brackets, as [::1]:25565.")
    address = parse_ip(host) if sep else None
    if address is None:
        raise CommandError(f"`{text[:60]}` is not IP:PORT (e.g. 10.0.0.1:25565, [::1]:25565).")
    if not (port_text.isascii() and port_text.isdigit() and len(port_text) <= 5):
        raise CommandError(f"`{port_text[:60]}` is not a port.")
    port = int(port_text)
    if not 1 <= port <= 65535:
        raise CommandError(f"`{port_text}` is not a port (ports are 1-65535).")
    return ip_sort_key(address), port


def _non_negative(value: str) -> int:
    if not (value.isascii() and value.isdigit()) or len(value) > 9:
        raise argparse.ArgumentTypeError(f"`{value[:60]}` is not a whole number 0 or more")
    return int(value)


class Command(PanelCommand):
    help = "Create a server holding a free allocation of its node as its primary."

    def add_arguments(self, parser):
        parser.add_argument("name", metavar="NAME")
        parser.add_argument("--owner", required=True, metavar="USER")
        parser.add_argument("--node", required=True, metavar="NODE", help="node id or name")
        parser.add_argument(
            "--primary",
            required=True,
            metavar="IP:PORT",
            help="a free allocation of the node; IPv6 as [::1]:25565",
        )
        parser.add_argument("--allocation-limit", required=True, type=_non_negative, metavar="N")
        parser.add_argument(
            "--state",
            choices=[PowerState.OFFLINE.value, PowerState.RUNNING.value],
            default=PowerState.OFFLINE.value,
        )
        parser.add_argument(
            "--status", choices=ServerStatus.values, default=ServerStatus.ACTIVE.value
        )

    def run(self, *, name, owner, node, primary, allocation_limit, state, status, **options):
        name = name.strip()
        if not name or len(name) > NAME_MAX:
            raise CommandError(f"The name must be 1 to {NAME_MAX} characters.")
        ip_key, port = parse_ip_port(primary)  # malformed input fails before any query
        owner = get_user(owner)
        node = get_node(node)
        allocation = Allocation.objects.filter(node=node, ip_key=ip_key, port=port).first()
        if allocation is None:
            raise CommandError(f"Node {node.name} has no allocation {primary.strip()}.")
        if allocation.server_id is not None:
            raise CommandError(f"{allocation.address} is already assigned to a server.")
        # server_create re-checks under a row lock, so a concurrent claim still fails cleanly.
        server = server_create(
            name=name,
            owner=owner,
            primary=allocation,
            allocation_limit=allocation_limit,
            state=state,
            status=status,
        )
        return (
            {
                "uuid": str(server.uuid),
                "identifier": server.identifier,
                "primary": {"id": allocation.pk, "ip": allocation.ip, "port": allocation.port},
            },
            f"Created server {server.name} ({server.identifier}) on {node.name}, primary "
            f"{allocation.address}, owner {owner.get_username()}.",
        )
