import ipaddress
import re

from django.core.management.base import CommandError
from django.db import IntegrityError, transaction

from panel.commands import PanelCommand
from servers.models import Node

_LABEL = re.compile(r"(?!-)[A-Za-z0-9-]{1,63}(?<!-)", re.ASCII)


def valid_host(value: str) -> bool:
    """A DNS name (RFC 1123 labels) or an IP address: where the node's daemon is reached."""
    try:
        ipaddress.ip_address(value)
        return True
    except ValueError:
        pass
    if not value or len(value) > 253:
        return False
    return all(_LABEL.fullmatch(label) for label in value.removesuffix(".").split("."))


class Command(PanelCommand):
    help = "Create a node (a machine that hosts game servers). Its name may not be all digits."

    def add_arguments(self, parser):
        parser.add_argument("name", metavar="NAME")
        parser.add_argument("--fqdn", required=True, metavar="HOST")

    def run(self, *, name, fqdn, **options):
        name, fqdn = name.strip(), fqdn.strip()
        if not valid_host(fqdn):
            raise CommandError(f"`{fqdn[:60]}` is not a host name or IP address.")
        node = Node(name=name, fqdn=fqdn)
        # Model rules, uniqueness and "never all digits" (NODE arguments rely on it).
        node.full_clean()
        try:
            with transaction.atomic():
                node.save()
        except IntegrityError:  # made by someone else since the uniqueness check
            raise CommandError(f"A node named {name} already exists.") from None
        return (
            {"id": node.pk, "name": node.name},
            f"Created node {node.name} (id {node.pk}, {node.fqdn}).",
        )
