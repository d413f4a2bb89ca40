"""`make bench`: the panel's performance figures, measured side by side in one run.

    .venv/bin/python bench/run.py [--quick] [--no-write] [--database-url postgres://...]

It creates a scratch PostgreSQL database on the server of DATABASE_URL (default
postgres://postgres@127.0.0.1:5432), migrates it, seeds it through the panel's own services,
serves the app with gunicorn and its production configuration (deploy/gunicorn.conf.py) on
127.0.0.1, drives it with a small threaded HTTP client over loopback, prints a table, writes
its section of docs/performance.md (between its markers, nothing else) and drops the
database. Every loop is bounded by a count and a time.

Absolute times depend on the machine, so every goal is a ratio of two things measured in
the same run, interleaved (A, B, A, B, ...), and each figure is a median of rounds."""

import argparse
import os
import platform
import statistics
import sys
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import Answer, Client, allocations_path, percentile  # noqa: E402

ROOT = harness.ROOT
DOC = ROOT / "docs" / "performance.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"
DEFAULT_SERVER_URL = "postgres://postgres@127.0.0.1:5432/postgres"

WORKERS = 4  # gunicorn workers for every measurement
LIST_SERVER_HOLDS = 5  # the throughput server; bench/views.py answers as many items
SMALL_POOL, LARGE_POOL = 1_000, 1_000_000
CONCURRENT_CLIENTS = 32
POOL_ADD_PORTS = "1024-65535"
POOL_ADD_COUNT = 65535 - 1024 + 1
# Workers and their connections kept for the whole run (production recycles a worker every
# ~10,000 requests and a connection after 60 s): a PostgreSQL backend that ends
# mid-measurement would take its CPU count with it.
KEEP_FOR_THE_RUN = ("--max-requests", "0")


@dataclass
class Plan:
    """How much to measure. `--quick` is a smoke run of the same code (minutes -> seconds),
    whose figures are not published."""

    throughput_rounds: int = 40
    throughput_window: float = 0.5
    throughput_clients: int = 8
    latency_rounds: int = 9
    list_requests: int = 30
    create_requests: int = 15
    concurrency_seconds: float = 10.0
    pool_add_runs: int = 3
    large_pool: int = LARGE_POOL
    breakdown_rounds: int = 25
    prepared_rounds: int = 12
    only: set[str] = field(default_factory=set)  # empty: everything
    redis: bool = True

    def wants(self, name: str) -> bool:
        return not self.only or name in self.only

    @classmethod
    def quick(cls) -> "Plan":
        return cls(2, 1.0, 4, 2, 5, 4, 3.0, 1, 20_000, 3, 2)


@dataclass
class Figure:
    what: str
    measured: str
    goal: str = ""
    met: bool | None = None
    detail: str = ""


@dataclass
class Report:
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    postgres: str = "PostgreSQL"
    breakdown: dict[str, float] = field(default_factory=dict)
    cpu_per_request: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, figure: Figure) -> None:
        self.figures.append(figure)
        verdict = "" if figure.met is None else ("  [goal met]" if figure.met else "  [SHORT]")
        print(f"  {figure.what}: {figure.measured}{verdict}", flush=True)
        if figure.detail:
            print(f"    {figure.detail}", flush=True)


# --- scratch database and a private cache -----------------------------------------------------


def _with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, "/" + name, parts.query, ""))


def _admin_connection(server_url: str):
    import psycopg

    return psycopg.connect(_with_database(server_url, "postgres"), autocommit=True)


def create_database(server_url: str) -> str:
    name = f"panel_bench_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    with _admin_connection(server_url) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    return name


def drop_database(server_url: str, name: str) -> None:
    with _admin_connection(server_url) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- measurements ----------------------------------------------------------------------------


def _ok(answer: Answer, status: int, what: str) -> Answer:
    if answer.status != status:
        raise SystemExit(f"{what}: expected {status}, got {answer.status} {answer.body!r}")
    return answer


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _load_window(url: str, token: str, clients: int, seconds: float) -> tuple[float, Counter]:
    """`clients` threads sending GETs of `url` back to back for `seconds`: answers of 200 per
    second, and every status seen."""
    done = Counter()
    lock = threading.Lock()
    payload = harness.get_request_bytes(url, token)
    host, port = urlsplit(url).hostname, urlsplit(url).port
    stop_at = time.monotonic() + seconds

    def client():
        local = Counter()
        while time.monotonic() < stop_at:
            local[harness.raw_get(host, port, payload)] += 1
        with lock:
            done.update(local)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(seconds + 15)
    return done[200] / (time.monotonic() - started), done


def measure_prepared(report, plan, database_url, env, token, identifier, redis_pid):
    """The list endpoint served twice side by side, with and without prepared statements
    (`PANEL_DB_PREPARED_STATEMENTS`): requests per second and CPU per request."""
    from django.db import connection

    name = connection.settings_dict["NAME"]
    apps = {
        flag: harness.Gunicorn(
            database_url=database_url,
            workers=WORKERS,
            conn_max_age=600,
            env={**env, "PANEL_DB_PREPARED_STATEMENTS": flag},
            name=f"prepared-{flag}",
            extra_args=KEEP_FOR_THE_RUN,
        )
        for flag in ("1", "0")
    }
    try:
        for app in apps.values():
            app.start()
        rates = {flag: [] for flag in apps}
        cpu = {flag: Counter() for flag in apps}
        answered = Counter()
        for index in range(plan.prepared_rounds):
            for flag in ("1", "0") if index % 2 == 0 else ("0", "1"):
                app = apps[flag]
                url = app.url + allocations_path(identifier)
                if index < 2:  # warm up: statements are prepared after five uses
                    _load_window(url, token, plan.throughput_clients, 0.3)
                meter = harness.CpuMeter(app_pid=app.process.pid, database=name,
                                         redis_pid=redis_pid)  # fmt: skip
                before = meter.sample()
                rate, statuses = _load_window(
                    url, token, plan.throughput_clients, plan.throughput_window
                )
                after = meter.sample()
                cpu[flag].update({k: after[k] - before[k] for k in after})
                answered[flag] += statuses[200]
                rates[flag].append(rate)
    finally:
        for app in apps.values():
            app.stop()
    per = {f: {k: v / max(1, answered[f]) * 1e6 for k, v in cpu[f].items()} for f in cpu}
    on, off = statistics.median(rates["1"]), statistics.median(rates["0"])
    report.add(
        Figure(
            "List endpoint with prepared statements vs without (two gunicorns side by side)",
            f"{on:.0f} vs {off:.0f} req/s; PostgreSQL CPU per request {per['1']['postgres']:.0f} "
            f"vs {per['0']['postgres']:.0f} us, all processes {sum(per['1'].values()):.0f} vs "
            f"{sum(per['0'].values()):.0f} us",
        )
    )


def measure_throughput(report, plan, app_url, token, list_identifier, meter):
    """Requests per second, `throughput_clients` threads for `throughput_window` seconds, the
    list endpoint and the bare view alternately; and the CPU each request cost, by process."""
    targets = {
        "list": app_url + allocations_path(list_identifier),
        "bare": app_url + "/api/bench/bare-allocations",
    }
    for url in targets.values():  # warm every worker
        for _ in range(WORKERS * 3):
            _ok(harness.request("GET", url, token=token), 200, url)

    def window(url: str) -> tuple[float, Counter]:
        return _load_window(url, token, plan.throughput_clients, plan.throughput_window)

    # Pairs of windows, the order alternating (list then bare, bare then list): each pair
    # shares whatever else the machine was doing then, so the figure is the median of the
    # pairs' ratios.
    rates = {"list": [], "bare": []}
    ratios = []
    unexpected = Counter()
    cpu = {name: Counter() for name in rates}
    answered = Counter()
    for index in range(plan.throughput_rounds):
        pair = {}
        for name in ("list", "bare") if index % 2 == 0 else ("bare", "list"):
            before = meter.sample()
            pair[name], statuses = window(targets[name])
            after = meter.sample()
            cpu[name].update({kind: after[kind] - before[kind] for kind in after})
            answered[name] += statuses[200]
            rates[name].append(pair[name])
            unexpected.update({s: n for s, n in statuses.items() if s != 200})
        ratios.append(pair["list"] / pair["bare"] if pair["bare"] else 0.0)
    per_request = {
        name: {kind: used / max(1, answered[name]) for kind, used in cpu[name].items()}
        for name in cpu
    }
    report.cpu_per_request = per_request
    ratio = statistics.median(ratios)
    list_rate, bare_rate = statistics.median(rates["list"]), statistics.median(rates["bare"])
    report.add(
        Figure(
            f"List throughput vs a bare authenticated DRF view ({LIST_SERVER_HOLDS} allocations, "
            f"{plan.throughput_clients} clients, {WORKERS} workers)",
            f"{ratio:.2f} of the bare view (median of {len(ratios)} paired windows; "
            f"{list_rate:.0f} vs {bare_rate:.0f} req/s)",
            "at least 0.70",
            ratio >= 0.7,
            "pair ratios (min / q1 / median / q3 / max): "
            + _spread(ratios, "{:.2f}")
            + "; req/s list: "
            + _spread(rates["list"], "{:.0f}")
            + "; bare: "
            + _spread(rates["bare"], "{:.0f}")
            + (f"; answers other than 200: {dict(unexpected)}" if unexpected else ""),
        )
    )


def _spread(values: list[float], form: str) -> str:
    """Quartiles of a sample: `min / q1 / median / q3 / max`."""
    q = statistics.quantiles(values, n=4, method="inclusive") if len(values) > 1 else values * 3
    return " / ".join(form.format(v) for v in (min(values), q[0], q[1], q[2], max(values)))


def _sequential_latencies(client: Client, method: str, path: str, count: int, status: int):
    times = []
    for _ in range(count):
        answer = _ok(client.call(method, path), status, path)
        times.append(answer.elapsed)
    return times


def measure_list_latency(report, plan, client, one_identifier, many_identifier, many):
    for identifier in (one_identifier, many_identifier):
        _sequential_latencies(client, "GET", allocations_path(identifier), 10, 200)
    samples = {"one": [], "many": []}
    for _ in range(plan.latency_rounds):
        for name, identifier in (("one", one_identifier), ("many", many_identifier)):
            samples[name] += _sequential_latencies(
                client, "GET", allocations_path(identifier), plan.list_requests, 200
            )
    one, lots = statistics.median(samples["one"]), statistics.median(samples["many"])
    ratio = lots / one
    report.add(
        Figure(
            f"List latency, a server holding {many} vs 1 allocation",
            f"{ratio:.2f}x ({_ms(lots)} vs {_ms(one)}, medians of "
            f"{len(samples['one'])} requests each)",
            "at most 2x",
            ratio <= 2.0,
            f"p95: {_ms(percentile(samples['many'], 0.95))} vs "
            f"{_ms(percentile(samples['one'], 0.95))}",
        )
    )


def measure_create_latency(report, plan, client, servers, owner):
    """Next-available creates, sequential, one server on each pool; between rounds the
    allocations go back to the pool (untimed), so both pools stay as built."""
    from allocations.models import Allocation
    from allocations.services import allocation_unassign
    from panel.activity import Actor

    def release(server):
        for row in Allocation.objects.filter(server=server, is_primary=False):
            allocation_unassign(allocation=row, actor=Actor(user=owner))

    def run(server, count):
        times = _sequential_latencies(
            client, "POST", allocations_path(server.identifier), count, 200
        )
        release(server)
        return times

    for server in servers.values():
        run(server, 5)  # warm-up
    samples = {name: [] for name in servers}
    for _ in range(plan.latency_rounds):
        for name, server in servers.items():
            samples[name] += run(server, plan.create_requests)
    small, large = statistics.median(samples["small"]), statistics.median(samples["large"])
    ratio = large / small
    report.add(
        Figure(
            f"Create (next available) latency, pool of {plan.large_pool:,} vs {SMALL_POOL:,} "
            "allocations",
            f"{ratio:.2f}x ({_ms(large)} vs {_ms(small)}, medians of "
            f"{len(samples['small'])} creates each)",
            "at most 1.3x",
            ratio <= 1.3,
            f"p95: {_ms(percentile(samples['large'], 0.95))} vs "
            f"{_ms(percentile(samples['small'], 0.95))}",
        )
    )


def measure_concurrent_creates(report, plan, app_url, servers, tokens):
    """32 clients, two per server, on one node's pool: each creates, and deletes one of the
    allocations it created when its server is at its limit (or now and then). Then every
    guarantee of spec section 7 is checked in the database."""
    import random

    from django.db import connection

    with connection.cursor() as cursor:
        before = harness.baseline(cursor)
    ledger = harness.Ledger()
    lock = threading.Lock()
    creates: list[Answer] = []
    statuses = Counter()
    unexpected: list[str] = []
    stop_at = time.monotonic() + plan.concurrency_seconds

    def client(index: int):
        server = servers[index % len(servers)]
        http = Client(app_url, tokens[server.pk], timeout=30)
        mine: list[int] = []
        local = harness.Ledger()
        rng = random.Random(index)
        made, seen, odd = [], Counter(), []
        for _ in range(100_000):
            if time.monotonic() >= stop_at:
                break
            if mine and rng.random() < 0.2:
                allocation_id = mine.pop(rng.randrange(len(mine)))
                answer = http.call("DELETE", allocations_path(server.identifier, allocation_id))
                seen["delete", answer.status] += 1
                if answer.status == 204:
                    local.released(server.pk, allocation_id)
                else:
                    odd.append(f"delete {answer.status} {answer.code}")
                continue
            answer = http.call("POST", allocations_path(server.identifier))
            seen["create", answer.status] += 1
            if answer.status == 200:
                made.append(answer)
                allocation_id = answer.body["attributes"]["id"]
                mine.append(allocation_id)
                local.claimed(server.pk, allocation_id)
            elif answer.status == 400 and answer.code == "TooManyAllocationsException":
                if mine:  # at the limit: give one back
                    allocation_id = mine.pop(rng.randrange(len(mine)))
                    answer = http.call("DELETE", allocations_path(server.identifier, allocation_id))
                    seen["delete", answer.status] += 1
                    if answer.status == 204:
                        local.released(server.pk, allocation_id)
                    else:
                        odd.append(f"delete {answer.status} {answer.code}")
            else:
                odd.append(f"create {answer.status} {answer.code}")
        with lock:
            creates.extend(made)
            statuses.update(seen)
            unexpected.extend(odd)
            ledger.merge(local)

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CONCURRENT_CLIENTS)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(plan.concurrency_seconds + 60)
    elapsed = time.monotonic() - started
    with connection.cursor() as cursor:
        problems = (
            harness.invariant_violations(cursor)
            + harness.ledger_violations(cursor, ledger)
            + harness.activity_violations(cursor, before)
        )
    latencies = [a.elapsed for a in creates]
    ok = not problems and not unexpected
    report.add(
        Figure(
            f"Concurrent creates, {CONCURRENT_CLIENTS} clients on {len(servers)} servers of one "
            f"node, {WORKERS} gunicorn workers, {plan.concurrency_seconds:.0f} s",
            f"{len(creates) / elapsed:.0f} assigns/s, p50 {_ms(percentile(latencies, 0.5))}, "
            f"p95 {_ms(percentile(latencies, 0.95))}; invariants "
            + ("all hold" if not problems else f"BROKEN ({len(problems)})"),
            "every invariant holds, no unexpected answer",
            ok,
            "answers: "
            + ", ".join(f"{k[0]} {k[1]}: {v}" for k, v in sorted(statuses.items()))
            + "".join(f"\n    ! {p}" for p in (problems + unexpected)[:20]),
        )
    )


def measure_breakdown(report, plan, token, server, owner):
    """Where the list endpoint's own time goes, in this process (no HTTP): each step the
    bare view does not do, and the authentication both do, median microseconds of
    interleaved calls; and the ORM forms those steps had before, for comparison."""
    from allocations.api.serializers import allocation_list
    from allocations.selectors import allocation_list_for_server, allocation_rows_for_server
    from panel.api.throttles import check_user_rate
    from panel.api_keys import api_key_authenticate
    from servers.models import Server
    from servers.selectors import server_get_for_user

    steps = {
        "authentication (both views)": lambda: api_key_authenticate(token),
        "per-user rate limit (Redis, one round trip)": lambda: check_user_rate(owner),
        "scoped server lookup": lambda: server_get_for_user(
            user=owner, identifier=server.identifier
        ),
        "the list: query and envelope": lambda: allocation_list(
            allocation_rows_for_server(server=server)
        ),
        "before: scoped server lookup through the ORM": lambda: (
            Server.objects.visible_to(owner).filter(identifier=server.identifier).first()
        ),
        "before: the list through the ORM (model instances)": lambda: allocation_list(
            allocation_list_for_server(server=server)
        ),
    }
    samples = {name: [] for name in steps}
    for _ in range(plan.breakdown_rounds):
        for name, step in steps.items():
            started = time.perf_counter()
            for _ in range(20):
                step()
            samples[name].append((time.perf_counter() - started) / 20)
    report.breakdown = {name: statistics.median(values) for name, values in samples.items()}
    print("  in-process, median per call:", flush=True)
    for name, seconds in report.breakdown.items():
        print(f"    {name}: {seconds * 1e6:.0f} us", flush=True)


def measure_pool_add(report, plan):
    from allocations.models import Allocation
    from allocations.pool import pool_add, pool_parse
    from servers.models import Node

    times = []
    for _ in range(plan.pool_add_runs):
        node = Node.objects.create(name=f"bench-add-{uuid.uuid4().hex[:10]}", fqdn="bench.test")
        started = time.perf_counter()
        result = pool_add(node=node, request=pool_parse(ips="198.51.100.7", ports=POOL_ADD_PORTS))
        times.append(time.perf_counter() - started)
        if result.created != POOL_ADD_COUNT:
            raise SystemExit(f"pool add created {result.created}, not {POOL_ADD_COUNT}")
        Allocation.objects.filter(node=node).delete()
        node.delete()
    report.add(
        Figure(
            f"Adding {POOL_ADD_COUNT:,} ports (1024-65535) to a node's pool (the pool service, "
            "as `addallocations` does)",
            f"{statistics.median(times):.2f} s (median of {len(times)}: "
            + ", ".join(f"{t:.2f}" for t in times)
            + ")",
        )
    )


# --- the run ---------------------------------------------------------------------------------


def _pool_text(count: int, first_ip_block: str) -> tuple[str, str]:
    """(ips, ports) giving `count` allocations: up to 62,500 ports per address."""
    if count <= 62_500:
        return first_ip_block.split("/")[0], f"1000-{1000 + count - 1}"
    addresses = -(-count // 62_500)
    assert addresses * 62_500 == count, "a whole number of addresses"
    prefix = 32 - (addresses - 1).bit_length()
    assert 2 ** (32 - prefix) == addresses, "a power of two of addresses"
    return f"{first_ip_block.split('/')[0]}/{prefix}", "1000-63499"


def run(plan: Plan, server_url: str, report: Report) -> None:
    name = create_database(server_url)
    database_url = _with_database(server_url, name)
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "panel.settings")
    os.environ.setdefault("PANEL_SECRET_KEY", harness.SECRET_KEY)
    os.environ.setdefault("PANEL_HTTPS", "0")
    os.environ["PANEL_API_RATE"] = harness.UNLIMITED_RATE
    redis = harness.PrivateRedis().start() if plan.redis else harness.PrivateRedis()
    if redis.url:  # this process's steps (measure_breakdown) use the same cache
        os.environ["PANEL_CACHE_URL"] = redis.url
    app = None
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from bench import seed

        print(f"scratch database {name}; migrating and seeding", flush=True)
        call_command("migrate", verbosity=0, interactive=False)
        report.postgres = _postgres_version()
        owner, token = seed.make_owner("bench-owner")

        # List: servers holding 1, LIST_SERVER_HOLDS and 500 allocations, on one node.
        list_node = seed.make_node(ips="127.0.0.1", ports="30000-30999")
        one = seed.make_server(owner=owner, node=list_node, limit=1)
        few = seed.make_server(owner=owner, node=list_node, limit=LIST_SERVER_HOLDS)
        seed.assign(server=few, owner=owner, count=LIST_SERVER_HOLDS - 1)
        many = seed.make_server(owner=owner, node=list_node, limit=500)
        seed.assign(server=many, owner=owner, count=499)

        # Create: one server on a pool of 1,000, one on a pool of 1,000,000.
        started = time.perf_counter()
        ips, ports = _pool_text(plan.large_pool if plan.wants("create") else 1000, "10.20.0.0")
        large_node = seed.make_node(ips=ips, ports=ports)
        built = time.perf_counter() - started
        small_ips, small_ports = _pool_text(SMALL_POOL, "10.10.0.1")
        small_node = seed.make_node(ips=small_ips, ports=small_ports)
        create_servers = {
            "small": seed.make_server(owner=owner, node=small_node, limit=10_000),
            "large": seed.make_server(owner=owner, node=large_node, limit=10_000),
        }
        if plan.wants("create"):
            report.notes.append(
                f"The {plan.large_pool:,}-allocation pool was built by the pool service in "
                f"{built:.1f} s."
            )

        # Concurrency: 16 servers of one node, two clients each, limit 20, pool of 2,000.
        race_node = seed.make_node(ips="127.0.0.3", ports="40000-41999")
        race_servers, race_tokens = [], {}
        for _ in range(CONCURRENT_CLIENTS // 2):
            user, user_token = seed.make_owner()
            server = seed.make_server(owner=user, node=race_node, limit=20)
            race_servers.append(server)
            race_tokens[server.pk] = user_token
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")  # what autovacuum does soon after a bulk load
        connection.close()  # the app's workers connect on their own

        env = {"PANEL_BENCH": "1"}
        if redis.url:
            env["PANEL_CACHE_URL"] = redis.url
        report.notes.append(
            "Rate-limit counters in "
            + (
                "a private Redis (as production with several workers)."
                if redis.url
                else "each worker's memory (redis-server not installed)."
            )
        )
        app = harness.Gunicorn(
            database_url=database_url,
            workers=WORKERS,
            conn_max_age=600,
            env=env,
            name="bench",
            extra_args=KEEP_FOR_THE_RUN,
        ).start()
        client = Client(app.url, token, timeout=30)
        print(f"gunicorn on {app.url}, {WORKERS} workers; measuring", flush=True)

        if plan.wants("throughput"):
            meter = harness.CpuMeter(
                app_pid=app.process.pid,
                database=name,
                redis_pid=redis.process.pid if redis.url else None,
            )
            measure_throughput(report, plan, app.url, token, few.identifier, meter)
        if plan.wants("list"):
            measure_list_latency(report, plan, client, one.identifier, many.identifier, 500)
        if plan.wants("create"):
            measure_create_latency(report, plan, client, create_servers, owner)
        if plan.wants("concurrency"):
            measure_concurrent_creates(report, plan, app.url, race_servers, race_tokens)
        app.stop()
        app = None
        if plan.wants("throughput"):
            measure_prepared(
                report, plan, database_url, env, token, few.identifier,
                redis.process.pid if redis.url else None,
            )  # fmt: skip
            measure_breakdown(report, plan, token, few, owner)
        if plan.wants("pool"):
            measure_pool_add(report, plan)
        connection.close()
    finally:
        if app is not None:
            app.stop()
        redis.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - Django may not even be set up
            pass
        drop_database(server_url, name)


def render(report: Report, plan: Plan, command: str, elapsed: float) -> str:
    lines = [
        START,
        "## Allocation changes: measured (`make bench`)",
        "",
        "Written by `bench/run.py`; rerun it to refresh this section. Every figure below is "
        "a median, and every goal a ratio of two things measured side by side in the same "
        "run (interleaved A, B, A, B), because absolute times differ from machine to machine. "
        "The app runs under gunicorn with `deploy/gunicorn.conf.py` (sync workers, the app "
        "preloaded, persistent connections with health checks; here workers and connections are "
        "kept for the whole run) "
        "against PostgreSQL over loopback; the client is a small threaded HTTP client "
        "(`bench/harness.py`) on the same machine.",
        "",
        f"- Command: `{command}`",
        f"- Machine: {os.cpu_count()} cores, {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}, {report.postgres}; it was shared with "
        "other jobs during the run, so read absolute times as orders of magnitude.",
        f"- Run took {elapsed:.0f} s.",
        "",
        "| What | Measured | Goal | Met |",
        "|---|---|---|---|",
    ]
    for f in report.figures:
        met = "" if f.met is None else ("yes" if f.met else "**no**")
        lines.append(f"| {f.what} | {f.measured} | {f.goal} | {met} |")
    lines += ["", "Details:", ""]
    for f in report.figures:
        if f.detail:
            detail = f.detail.replace("\n    ", "; ")
            lines.append(f"- {f.what}: {detail}")
    for note in report.notes:
        lines.append(f"- {note}")
    lines += _cpu_lines(report) + _breakdown_lines(report) + _fixes_lines()
    lines += _shortfall_lines(report)
    lines += ["", END]
    return "\n".join(lines)


def _us(report: Report, name: str) -> str:
    return f"{report.breakdown[name] * 1e6:.0f}" if name in report.breakdown else "?"


def _cpu_lines(report: Report) -> list[str]:
    cpu = report.cpu_per_request
    if not cpu or not any(cpu["list"].values()):
        return []
    kinds = {"app": "gunicorn workers", "postgres": "PostgreSQL backends", "redis": "Redis",
             "client": "the client"}  # fmt: skip
    total = {name: sum(cpu[name].values()) for name in cpu}
    lines = [
        "",
        "### CPU per request, by process",
        "",
        "Over the same throughput windows, the CPU time each process used divided by the "
        "requests answered (from /proc; microseconds). Two cores serve everything, so the "
        "ratio of the totals is the throughput ratio the machine allows when it is "
        "saturated, whatever else runs on it: "
        f"**{total['bare'] / total['list']:.2f}**.",
        "",
        "| Process | list | bare view |",
        "|---|---|---|",
    ]
    lines += [
        f"| {label} | {cpu['list'][kind] * 1e6:.0f} | {cpu['bare'][kind] * 1e6:.0f} |"
        for kind, label in kinds.items()
    ]
    lines.append(f"| **all** | {total['list'] * 1e6:.0f} | {total['bare'] * 1e6:.0f} |")
    return lines


def _breakdown_lines(report: Report) -> list[str]:
    if not report.breakdown:
        return []
    lines = [
        "",
        "### Where the list endpoint's own time goes",
        "",
        "Measured in the benchmark's own process against the same database and Redis, no HTTP "
        "(median microseconds per call, the steps interleaved). Everything but the first row "
        "is work the bare view does not do; the last two rows are the same steps as they "
        "were written before this benchmark, for comparison.",
        "",
        "| Step | us |",
        "|---|---|",
    ]
    lines += [f"| {name} | {seconds * 1e6:.0f} |" for name, seconds in report.breakdown.items()]
    return lines


def _fixes_lines() -> list[str]:
    return [
        "",
        "### What the measurements changed",
        "",
        "- The scoped server lookup every client API request makes "
        "(`servers.selectors.server_get_for_user`) is one SQL statement written out once, no "
        "longer built by the ORM on each request: building it cost several times what "
        "PostgreSQL spends answering it. `ServerQuerySet.visible_to` stays the rule's "
        "definition; tests/reliability/test_fast_paths.py holds the two to the same answers.",
        "- The list endpoint reads plain rows (`allocations.selectors.allocation_rows_for_server`)"
        ": no ORM query building and no model instance per allocation (the last row of the "
        "table above against its list row).",
        "- On Redis, the per-user rate limit counts a request with one command (a script: "
        "INCR, and EXPIRE on a key's first count) on a client kept with the cache, instead "
        "of three round trips (`add`, then Django's `incr`, which first asks whether the key "
        "exists) each through a client object made for it.",
        "- PostgreSQL connections bind parameters on the server, so psycopg prepares a "
        "statement once a connection has run it five times: PostgreSQL no longer parses and "
        "plans the same few statements on every request, which was about half of its CPU "
        "per request (`PANEL_DB_PREPARED_STATEMENTS=0` turns it off, for PgBouncer in "
        "transaction mode).",
        "- gunicorn loads the app before forking (`preload_app`) and recycles a worker every "
        "10,000 requests or so, not every 2,000: at these rates each worker was re-importing "
        "Django every few seconds, a stall that showed as windows of a few requests a second.",
    ]


def _shortfall_lines(report: Report) -> list[str]:
    short = [f for f in report.figures if f.met is False]
    if not short:
        return []
    lines = ["", "### Short of a goal, and why", ""]
    for figure in short:
        lines.append(f"- {figure.what}: {figure.measured}.")
        cpu = report.cpu_per_request
        if figure.what.startswith("List throughput") and cpu and any(cpu["list"].values()):
            more = {kind: (cpu["list"][kind] - cpu["bare"][kind]) * 1e6 for kind in cpu["list"]}
            lines[-1] += (
                f" Per request the list endpoint costs {sum(more.values()):.0f} us more CPU "
                f"than the bare view (table above): {more['app']:.0f} us in the gunicorn "
                f"worker, {more['postgres']:.0f} us in PostgreSQL, {more['redis']:.0f} us in "
                "Redis. That is the work the spec asks of the endpoint and the bare view does "
                "not do: the per-user rate limit (one Redis round trip), the scoped server "
                "lookup and the list (two indexed, prepared statements), each a round trip "
                "to another process on the same two cores. The in-process table shows each "
                "of them now costs a fraction of what it did; what is left is the round trips "
                "themselves, and dropping one would drop a check the spec requires."
            )
    return lines


def _postgres_version() -> str:
    try:
        from django.db import connection

        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return "PostgreSQL " + cursor.fetchone()[0].split()[0]
    except Exception:  # noqa: BLE001 - only a label
        return "PostgreSQL"


def write_section(section: str, path: Path = DOC, start: str = START, end: str = END) -> None:
    """Replace only the text between our markers; keep everything else of the file."""
    text = path.read_text() if path.exists() else "# Performance\n"
    if start in text and end in text:
        head, rest = text.split(start, 1)
        _, tail = rest.split(end, 1)
        text = head + section + tail
    else:
        text = text.rstrip("\n") + "\n\n" + section + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--database-url",
        default=os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL,
        help="a PostgreSQL server (its database part is ignored: a scratch one is made)",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run, not published")
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    parser.add_argument(
        "--only",
        choices=["throughput", "list", "create", "concurrency", "pool"],
        action="append",
        help="measure only these (not published)",
    )
    parser.add_argument(
        "--memory-cache",
        action="store_true",
        help="rate-limit counters in each worker's memory instead of a private Redis",
    )
    args = parser.parse_args(argv)
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        print("bench needs PostgreSQL: --database-url postgres://...", file=sys.stderr)
        return 2
    plan = Plan.quick() if args.quick else Plan()
    plan.only = set(args.only or [])
    plan.redis = not args.memory_cache
    report = Report()
    started = time.monotonic()
    run(plan, args.database_url, report)
    elapsed = time.monotonic() - started
    command = "make bench" + ("" if not args.quick else "  # --quick")
    section = render(report, plan, command, elapsed)
    print()
    print(section)
    if not args.quick and not args.no_write and not args.only:
        write_section(section)
        print(f"\nwrote {DOC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
