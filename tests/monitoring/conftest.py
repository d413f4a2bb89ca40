"""Loopback only: every address these tests make the panel connect to is 127.0.0.1, on
ports the tests open (or hold closed) themselves."""

import socket
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from allocations.addresses import ip_sort_key, parse_ip
from allocations.models import Allocation
from monitoring.models import AllocationMonitor
from tests import factories
from tests.api.conftest import frozen_window  # noqa: F401 - a fixture used here too

LOOPBACK = "127.0.0.1"


@pytest.fixture(autouse=True)
def _probes_fenced_to_loopback():
    """The suite-wide fence (pyproject's pytest env) is in force: a probe of any address
    but 127.0.0.1 is refused without a connection."""
    assert settings.PANEL_PROBE_ALLOWED_NETWORKS == ["127.0.0.1/32"]


class Listener:
    """A TCP socket listening on 127.0.0.1 at an ephemeral port. The kernel completes the
    handshake for queued connections, so a probe succeeds without an accept."""

    def __init__(self, backlog: int = 128):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(backlog)
        self.port = self.sock.getsockname()[1]

    def accept_peer(self, timeout: float = 2.0) -> tuple[str, int]:
        """The address of the next queued connection (it must have arrived here)."""
        self.sock.settimeout(timeout)
        conn, peer = self.sock.accept()
        conn.close()
        return peer

    def close(self) -> None:
        self.sock.close()


class ClosedPort:
    """A port of 127.0.0.1 bound but not listening: connections to it are refused, and no
    other program can start listening on it while the test holds it."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((LOOPBACK, 0))
        self.port = self.sock.getsockname()[1]

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    opened = Listener()
    yield opened
    opened.close()


@pytest.fixture
def closed_port() -> Iterator[ClosedPort]:
    held = ClosedPort()
    yield held
    held.close()


def make_loopback_server(owner, ports, *, limit: int = 5, **kwargs):
    """A server on a fresh node whose pool is `ports` of 127.0.0.1; it holds them all, the
    lowest as its primary."""
    node = factories.make_node()
    factories.make_pool(node, ip=LOOPBACK, ports=sorted(ports))
    server = factories.make_server(owner, node=node, limit=max(limit, len(ports)), **kwargs)
    Allocation.objects.filter(node=node).update(server=server)
    return server


def allocation_on(server, port: int) -> Allocation:
    return Allocation.objects.get(server=server, port=port)


def make_loopback_fleet(ports, *, servers: int = 20):
    """`servers` servers on one node sharing `ports` of 127.0.0.1 between them (each holds
    its lowest as its primary); built in bulk, for the tests with thousands of ports."""
    node = factories.make_node()
    key = ip_sort_key(parse_ip(LOOPBACK))
    Allocation.objects.bulk_create(
        [Allocation(node=node, ip=LOOPBACK, ip_key=key, port=port) for port in ports],
        batch_size=1000,
    )
    rows = list(Allocation.objects.filter(node=node).order_by("port").values_list("pk", flat=True))
    share = -(-len(rows) // servers)
    made = []
    for index in range(servers):
        chunk = rows[index * share : (index + 1) * share]
        if not chunk:
            break
        server = factories.make_server(
            factories.make_user(), node=node, limit=len(chunk), name=f"fleet {index}"
        )
        Allocation.objects.filter(pk__in=chunk[1:]).update(server=server)
        made.append(server)
    return made


@pytest.fixture(autouse=True)
def _plain_static_storage(settings):
    """Admin pages render without collectstatic (the manifest storage needs its output)."""
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }


def state(row, *, down_for: timedelta | None, server=None):
    """The monitor's recorded state of `row`: up, or down for `down_for`."""
    now = timezone.now()
    return AllocationMonitor.objects.create(
        allocation_id=row.pk,
        server_id=(server or row.server).pk,
        next_due_at=now,
        last_checked_at=now,
        last_reachable=down_for is None,
        last_latency_ms=None if down_for else 0.5,
        last_error="connection refused" if down_for else None,
        down_since=now - down_for if down_for else None,
    )
