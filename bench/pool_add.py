"""Benchmark: adding ports 1024-65535 (64,512 allocations) to one address of a node's pool.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/panel_bench .venv/bin/python bench/pool_add.py

Point DATABASE_URL at a scratch PostgreSQL database: the script migrates it, and each run
creates a fresh node, adds the range, checks the count and deletes the node again. It times
two paths, three runs each on fresh nodes, and prints the median in seconds:

- `service`: `allocations.pool.pool_parse` + `pool_add`, what the `addallocations` command does;
- `admin page`: a POST to the node's "Add to IP pool" admin page as a superuser (form, service,
  history entry and redirect), what an operator waits for.

`--runs N` changes the number of runs; `--keep` leaves the nodes and their pools in place."""

import argparse
import os
import statistics
import sys
import time
import uuid
import warnings
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "panel.settings")
os.environ.setdefault("PANEL_SECRET_KEY", "benchmark-only-secret-key-0123456789-abcdefghijkl")
os.environ.setdefault("PANEL_HTTPS", "0")
# WhiteNoise warns that collectstatic has not been run; no page here needs static files.
warnings.filterwarnings("ignore", message="No directory at")

IP = "198.51.100.7"
PORTS = "1024-65535"
EXPECTED = 65535 - 1024 + 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the benchmark nodes")
    args = parser.parse_args()

    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection
    from django.test import Client

    from allocations.models import Allocation
    from allocations.pool import pool_add, pool_parse
    from servers.models import Node

    if connection.vendor != "postgresql":
        print("DATABASE_URL must point at PostgreSQL (a scratch database).", file=sys.stderr)
        return 2
    call_command("migrate", verbosity=0, interactive=False)

    def fresh_node() -> Node:
        return Node.objects.create(name=f"bench-{uuid.uuid4().hex[:12]}", fqdn="bench.test")

    def check_and_clean(node: Node) -> None:
        count = Allocation.objects.filter(node=node).count()
        if count != EXPECTED:
            raise SystemExit(f"{node}: expected {EXPECTED} allocations, found {count}")
        if not args.keep:
            Allocation.objects.filter(node=node).delete()
            node.delete()

    def via_service() -> float:
        node = fresh_node()
        started = time.perf_counter()
        result = pool_add(node=node, request=pool_parse(ips=IP, ports=PORTS))
        elapsed = time.perf_counter() - started
        assert result.created == EXPECTED, result
        check_and_clean(node)
        return elapsed

    admin = get_user_model().objects.create_superuser(
        username=f"bench-{uuid.uuid4().hex[:12]}", password=None
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(admin)

    def via_admin_page() -> float:
        node = fresh_node()
        started = time.perf_counter()
        response = client.post(f"/admin/servers/node/{node.pk}/pool/", {"ip": IP, "ports": PORTS})
        elapsed = time.perf_counter() - started
        if response.status_code != 302:
            raise SystemExit(f"admin page answered {response.status_code}, not a redirect")
        check_and_clean(node)
        return elapsed

    try:
        results = {}
        for label, run in (("service", via_service), ("admin page", via_admin_page)):
            times = [run() for _ in range(args.runs)]
            results[label] = times
            runs = ", ".join(f"{t:.2f}" for t in times)
            print(
                f"{label:>10}: {EXPECTED:,} allocations ({IP}, ports {PORTS}) "
                f"median {statistics.median(times):.2f} s (runs: {runs})"
            )
    finally:
        admin.delete()
    return 0


if __name__ == "__main__":
    sys.exit(main())
