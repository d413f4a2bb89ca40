"""Benchmark: how many allocations one monitor worker checks per second (loopback only).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/panel_bench \\
        .venv/bin/python bench/monitor_throughput.py

Point DATABASE_URL at a scratch PostgreSQL database: the script migrates it, makes a node
whose pool is N ports of 127.0.0.1 held by 50 servers, and times one worker's pass over all
of them (`monitoring.worker.Worker.run_pass`: claim in batches with SKIP LOCKED, probe with
asyncio at PANEL_MONITOR_CONCURRENCY, record every result), three runs, median. It also
times the probes alone (no database) to show where the time goes.

Every probe goes to 127.0.0.1: the ports are sockets this script holds (most bound but not
listening, so connections are refused; `--open` of them listening and accepting), and
PANEL_PROBE_ALLOWED_NETWORKS is forced to 127.0.0.1/32. The script refuses to run on a
database that holds assigned allocations on any other address, since a worker checks them all.

`--allocations N` (default 5,000), `--open F` (share listening, default 0.1), `--runs N`,
`--concurrency N` (default PANEL_MONITOR_CONCURRENCY); `--keep` leaves the data in place."""

import argparse
import asyncio
import os
import resource
import socket
import statistics
import sys
import threading
import time
import uuid
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "panel.settings")
os.environ.setdefault("PANEL_SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijkl")
os.environ.setdefault("PANEL_HTTPS", "0")
# Loopback only, whatever the environment says.
os.environ["PANEL_PROBE_ALLOWED_NETWORKS"] = "127.0.0.1/32"
warnings.filterwarnings("ignore", message="No directory at")

LOOPBACK = "127.0.0.1"
SERVERS = 50


class Ports:
    """N ports of 127.0.0.1 held by this process: `open_count` listening (an asyncio server
    in a thread accepts and closes), the rest bound but not listening (refused)."""

    def __init__(self, count: int, open_count: int):
        self.closed = []
        for _ in range(count - open_count):
            sock = socket.socket()
            sock.bind((LOOPBACK, 0))
            self.closed.append(sock)
        self.listening = []
        for _ in range(open_count):
            sock = socket.socket()
            sock.bind((LOOPBACK, 0))
            sock.listen(128)
            sock.setblocking(False)
            self.listening.append(sock)
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()
        self.ready.wait(10)

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)

        async def handle(reader, writer):
            writer.close()

        async def start():
            for sock in self.listening:
                await asyncio.start_server(handle, sock=sock)
            self.ready.set()

        self.loop.run_until_complete(start())
        self.loop.run_forever()

    @property
    def ports(self) -> list[int]:
        return [s.getsockname()[1] for s in self.closed + self.listening]

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        for sock in self.closed:
            sock.close()


def _raise_fd_limit(needed: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        if target < needed:
            raise SystemExit(f"need {needed} open files, the hard limit is {hard}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allocations", type=int, default=5000)
    parser.add_argument("--open", type=float, default=0.1, help="share of ports listening")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark data")
    args = parser.parse_args()
    if not 1 <= args.allocations <= 20000:
        parser.error("--allocations must be 1-20000")

    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.db.models.functions import Now

    from allocations.addresses import ip_sort_key, parse_ip
    from allocations.models import Allocation
    from allocations.services import server_create
    from monitoring.models import AllocationCheck, AllocationMonitor
    from monitoring.probe import Target, probe_many
    from monitoring.worker import Worker
    from servers.models import Node, Server

    if connection.vendor != "postgresql":
        print("DATABASE_URL must point at PostgreSQL (a scratch database).", file=sys.stderr)
        return 2
    call_command("migrate", verbosity=0, interactive=False)
    if Allocation.objects.filter(server__isnull=False).exclude(ip=LOOPBACK).exists():
        print(
            "This database holds assigned allocations on other addresses than 127.0.0.1; a "
            "worker would check them too. Use a scratch database.",
            file=sys.stderr,
        )
        return 2
    if AllocationMonitor.objects.exists():
        print("This database already has monitor rows; use a scratch database.", file=sys.stderr)
        return 2

    concurrency = args.concurrency or settings.PANEL_MONITOR_CONCURRENCY
    open_count = round(args.allocations * args.open)
    _raise_fd_limit(args.allocations + concurrency + 256)
    held = Ports(args.allocations, open_count)
    tag = uuid.uuid4().hex[:12]
    owner = get_user_model().objects.create_user(username=f"bench-{tag}", password=None)
    node = Node.objects.create(name=f"bench-{tag}", fqdn="bench.test")
    try:
        key = ip_sort_key(parse_ip(LOOPBACK))
        Allocation.objects.bulk_create(
            [Allocation(node=node, ip=LOOPBACK, ip_key=key, port=p) for p in held.ports],
            batch_size=1000,
        )
        ids = list(Allocation.objects.filter(node=node).order_by("pk").values_list("pk", flat=True))
        share = -(-len(ids) // SERVERS)
        for index in range(SERVERS):
            chunk = ids[index * share : (index + 1) * share]
            if not chunk:
                break
            server = server_create(
                name=f"bench {index}",
                owner=owner,
                primary=Allocation.objects.get(pk=chunk[0]),
                allocation_limit=len(chunk),
            )
            Allocation.objects.filter(pk__in=chunk[1:]).update(server=server)

        targets = [Target.of(row) for row in Allocation.objects.filter(node=node).order_by("pk")]
        worker = Worker(
            interval=3600,
            concurrency=concurrency,
            timeout=settings.PANEL_PORT_TEST_TIMEOUT,
            retention_days=settings.PANEL_MONITOR_RETENTION_DAYS,
        )
        probe_rates, pass_rates = [], []
        for _ in range(args.runs):
            started = time.perf_counter()
            results = asyncio.run(
                probe_many(targets, concurrency=concurrency, timeout=worker.timeout)
            )
            probe_rates.append(len(results) / (time.perf_counter() - started))
            up = sum(r.reachable for r in results)
            if up != open_count:
                raise SystemExit(f"expected {open_count} reachable ports, found {up}")

            AllocationMonitor.objects.update(next_due_at=Now())
            started = time.perf_counter()
            checked = worker.run_pass()
            pass_rates.append(checked / (time.perf_counter() - started))
            if checked != len(targets):
                raise SystemExit(f"the pass checked {checked} of {len(targets)}")

        def line(label, rates):
            runs = ", ".join(f"{r:,.0f}" for r in rates)
            return f"{label}: median {statistics.median(rates):,.0f} checks/s (runs: {runs})"

        print(
            f"{len(targets):,} loopback allocations ({open_count:,} listening), "
            f"concurrency {concurrency}, batch {worker.batch_size}"
        )
        print(line("  worker pass (claim + probe + record)", pass_rates))
        print(line("  probes alone (no database)          ", probe_rates))
        print(f"  checks recorded: {AllocationCheck.objects.count():,}")
    finally:
        if not args.keep:
            node_ids = list(Allocation.objects.filter(node=node).values_list("pk", flat=True))
            AllocationCheck.objects.filter(allocation_id__in=node_ids).delete()
            AllocationMonitor.objects.filter(allocation_id__in=node_ids).delete()
            Allocation.objects.filter(node=node).update(server=None, is_primary=False)
            Server.objects.filter(node=node).delete()
            Allocation.objects.filter(node=node).delete()
            node.delete()
            owner.delete()
        held.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
