"""Plain builders for test data, through the same services the panel uses."""

import itertools

from django.contrib.auth import get_user_model

from allocations.models import Allocation
from allocations.services import server_create
from panel.api_keys import api_key_create
from servers.models import Node, Subuser

_seq = itertools.count(1)


def make_user(username: str | None = None, **extra):
    username = username or f"user{next(_seq)}"
    extra.setdefault("password", "pw-" + username)
    return get_user_model().objects.create_user(username=username, **extra)


def make_node(name: str | None = None) -> Node:
    return Node.objects.create(name=name or f"node-{next(_seq)}", fqdn="node.test")


def make_pool(node: Node, ip: str = "10.0.0.1", ports=range(25565, 25575), alias=None):
    rows = [Allocation(node=node, ip=ip, port=p, ip_alias=alias) for p in ports]
    for row in rows:
        row.save()
    return rows


def make_server(
    owner=None,
    node: Node | None = None,
    *,
    limit: int = 5,
    ip: str = "10.0.0.1",
    ports=range(25565, 25575),
    state: str = "offline",
    status: str = "active",
    name: str = "Test server",
):
    """A server holding the lowest allocation of a fresh pool as its primary."""
    owner = owner or make_user()
    if node is None:
        node = make_node()
        make_pool(node, ip=ip, ports=ports)
    primary = (
        Allocation.objects.filter(node=node, server__isnull=True).order_by("ip_key", "port").first()
    )
    return server_create(
        name=name, owner=owner, primary=primary, allocation_limit=limit, state=state, status=status
    )


def make_key(user, **kwargs) -> str:
    """A fresh API key for `user`; returns the 48-character bearer token."""
    return api_key_create(user=user, **kwargs).token


def make_subuser(server, user, permissions) -> Subuser:
    return Subuser.objects.create(server=server, user=user, permissions=list(permissions))
