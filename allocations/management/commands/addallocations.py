from django.core.management.base import CommandError

from allocations.pool import PoolInputError, pool_add, pool_parse
from panel.commands import PanelCommand, get_node


class Command(PanelCommand):
    help = (
        "Add every address of --ip times every port of --ports to a node's pool. Existing "
        "(node, ip, port) rows are skipped; any bad entry means nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("node", metavar="NODE", help="node id or name")
        parser.add_argument(
            "--ip",
            required=True,
            metavar="IP_OR_CIDR",
            help="addresses or blocks (IPv4 /16-/32, IPv6 /112-/128), comma separated",
        )
        parser.add_argument(
            "--ports", required=True, help='ports and ranges, e.g. "25565,25570-25580"'
        )
        parser.add_argument("--alias", metavar="NAME", help="hostname shown to users")

    def run(self, *, node, ip, ports, alias, **options):
        # The text first: malformed input is refused before the database is touched.
        try:
            request = pool_parse(ips=ip, ports=ports, alias=alias)
        except PoolInputError as exc:
            raise CommandError("; ".join(exc.errors) + ". Nothing was added.") from exc
        node = get_node(node)
        result = pool_add(node=node, request=request)
        return (
            {"created": result.created, "skipped": result.skipped},
            f"Node {node.name}: {result.created} allocations created, "
            f"{result.skipped} already there and skipped.",
        )
