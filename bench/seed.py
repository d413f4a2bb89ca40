"""Data for the benchmarks and the reliability tests, made through the panel's own services.

In-process (Django set up): `make_owner`, `make_node`, `make_server`. As a command, for a
database this process is not connected to (the reliability tests' private PostgreSQL):

    DATABASE_URL=postgres://... python -m bench.seed --migrate --servers 4 \
        --ip 127.0.0.1 --ports 20000-20999 --limit 1000

prints one JSON object: `{"token": ..., "node": id, "servers": [{"id", "identifier"}, ...]}`.
"""

import argparse
import json
import os
import sys
import uuid
from pathlib import Path


def make_owner(username: str | None = None):
    """A user and a fresh API key of theirs: (user, bearer token)."""
    from django.contrib.auth import get_user_model

    from panel.api_keys import api_key_create

    # No password: hashing one would cost a good part of a second.
    user = get_user_model().objects.create_user(
        username=username or f"bench-{uuid.uuid4().hex[:12]}", password=None
    )
    return user, api_key_create(user=user).token


def make_node(*, ips: str, ports: str, name: str | None = None):
    """A node whose pool is every (address, port) of `ips` x `ports`, added by the pool
    service (`addallocations`' own code)."""
    from allocations.pool import pool_add, pool_parse
    from servers.models import Node

    node = Node.objects.create(name=name or f"bench-{uuid.uuid4().hex[:12]}", fqdn="bench.test")
    pool_add(node=node, request=pool_parse(ips=ips, ports=ports))
    return node


def make_server(*, owner, node, limit: int, name: str = "bench"):
    """A server on `node` holding the node's lowest free allocation as its primary."""
    from allocations.models import Allocation
    from allocations.services import server_create

    primary = (
        Allocation.objects.filter(node=node, server__isnull=True).order_by("ip_key", "port").first()
    )
    return server_create(name=name, owner=owner, primary=primary, allocation_limit=limit)


def assign(*, server, owner, count: int) -> None:
    """Give `server` `count` more allocations through the selection service."""
    from allocations.services import allocation_assign
    from panel.activity import Actor

    for _ in range(count):
        allocation_assign(server=server, actor=Actor(user=owner), enforce_limit=False)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Seed a database for a reliability run.")
    parser.add_argument("--migrate", action="store_true", help="migrate the database first")
    parser.add_argument("--servers", type=int, default=2)
    parser.add_argument("--ip", default="127.0.0.1")
    parser.add_argument("--ports", default="20000-20999")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument(
        "--session", action="store_true", help="also log the owner in: print a session cookie"
    )
    args = parser.parse_args(argv)

    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "panel.settings")
    import django

    django.setup()
    from django.core.management import call_command

    if args.migrate:
        call_command("migrate", verbosity=0, interactive=False)
    owner, token = make_owner()
    node = make_node(ips=args.ip, ports=args.ports)
    servers = [make_server(owner=owner, node=node, limit=args.limit) for _ in range(args.servers)]
    seeded = {
        "token": token,
        "node": node.pk,
        "servers": [{"id": s.pk, "identifier": s.identifier} for s in servers],
    }
    if args.session:
        from django.conf import settings
        from django.test import Client

        client = Client()
        client.force_login(owner)
        seeded["session_cookie"] = (
            f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
        )
    print(json.dumps(seeded))
    return 0


if __name__ == "__main__":
    sys.exit(main())
