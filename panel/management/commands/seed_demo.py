"""Demo data for `make run`: made once, except the API key, which is new on every run
(only its hash is kept, so the previous one could not be shown again; it is revoked)."""

from django.contrib.auth import get_user_model
from django.core.management.base import CommandError
from django.db import transaction

from allocations.addresses import ip_sort_key, parse_ip
from allocations.models import Allocation
from allocations.pool import pool_add, pool_parse
from allocations.services import allocation_assign, allocation_set_notes, server_create
from panel.activity import Actor
from panel.api_keys import api_key_create
from panel.commands import PanelCommand
from panel.models import ApiKey
from servers.models import Node, Server

USERNAME = "demo"
PASSWORD = "demo-password"
NODE_NAME = "demo-node"
SERVER_NAME = "Demo Minecraft"
KEY_DESCRIPTION = "demo key"
URL = "http://127.0.0.1:8000/"
# Loopback only: nothing the demo does (port tests, the monitor) reaches another machine.
POOL_IP = "127.0.0.1"
POOL_PORTS = "25565-25600"
PRIMARY_PORT = 25565
ALLOCATION_LIMIT = 5
EXTRA_NOTES = "Query port"


class Command(PanelCommand):
    help = "Create the demo user, node, pool and server (once) and issue a fresh demo API key."

    def run(self, **options):
        with transaction.atomic():
            user = self._user()
            node, _ = Node.objects.get_or_create(name=NODE_NAME, defaults={"fqdn": POOL_IP})
            pool_add(node=node, request=pool_parse(ips=POOL_IP, ports=POOL_PORTS))
            server = (
                Server.objects.filter(node=node, owner=user, name=SERVER_NAME)
                .order_by("id")
                .first()
            )
            if server is None:
                server = self._server(user=user, node=node)
            ApiKey.objects.filter(user=user, description=KEY_DESCRIPTION).delete()
            token = api_key_create(user=user, description=KEY_DESCRIPTION).token
        data = {
            "username": USERNAME,
            "password": PASSWORD,
            "server": server.identifier,
            "api_key": token,
        }
        text = "\n".join(
            [
                "Demo data is ready.",
                f"  Panel:    {URL}  (admin: {URL}admin/)",
                f"  Login:    {USERNAME}",
                f"  Password: {PASSWORD}",
                f"  Server:   {server.name} ({server.identifier})",
                f"  API key:  {token}",
                "            (a new key each run; the previous demo key no longer works)",
            ]
        )
        return data, text

    def _user(self):
        User = get_user_model()
        user = User.objects.filter(**{User.USERNAME_FIELD: USERNAME}).first()
        if user is None:
            # Staff and superuser so the admin is reachable; the password is the published
            # demo one, deliberately not run through the strength validators.
            user = User.objects.create_user(
                USERNAME, password=PASSWORD, is_staff=True, is_superuser=True
            )
        return user

    def _server(self, *, user, node) -> Server:
        primary = Allocation.objects.filter(
            node=node, ip_key=ip_sort_key(parse_ip(POOL_IP)), port=PRIMARY_PORT
        ).first()
        if primary is None or primary.server_id is not None:
            raise CommandError(
                f"{POOL_IP}:{PRIMARY_PORT} of {NODE_NAME} is taken by another server; "
                f"free it or rename that server to {SERVER_NAME!r}."
            )
        server = server_create(
            name=SERVER_NAME, owner=user, primary=primary, allocation_limit=ALLOCATION_LIMIT
        )
        # A second allocation through the same service the API uses, with a note, so the
        # network tab shows more than the primary from the start.
        actor = Actor(user=user)
        extra = allocation_assign(server=server, actor=actor)
        allocation_set_notes(allocation=extra, actor=actor, notes=EXTRA_NOTES)
        return server
