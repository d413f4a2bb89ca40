"""`make load`: a bounded load run of the client API, its latencies published.

    .venv/bin/python bench/load.py [--users 50] [--duration 120] [--no-write]

Like bench/run.py it makes a scratch PostgreSQL database (DATABASE_URL's server, default
postgres://postgres@127.0.0.1:5432), serves the app on 127.0.0.1 with gunicorn and
deploy/gunicorn.conf.py as `make serve` does (2 x cores + 1 workers, a private Redis for the
rate-limit counters, the default rate limits), and drops the database afterwards.

Each simulated user owns one server of a shared node and, after a think time, does one of:
list, create (next available), set notes, set primary, delete; always something its server
allows (it creates only under the limit, deletes only what is not the primary), so every
answer is known in advance: 200, or 204 for a delete. Anything else is unexpected and
counted, and so is a list that does not show exactly what the user holds. Afterwards the
guarantees of spec section 7 are checked in the database. The run writes its own section of
docs/performance.md, between its markers."""

import argparse
import os
import random
import sys
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import harness  # noqa: E402
from bench.harness import Answer, Client, allocations_path, percentile  # noqa: E402

START, END = "<!-- load:start -->", "<!-- load:end -->"
OPERATIONS = ("list", "create", "notes", "primary", "delete")
# How often each is picked when the user's server allows it.
WEIGHTS = {"list": 40, "create": 20, "notes": 15, "primary": 10, "delete": 15}


@dataclass(frozen=True)
class LoadUser:
    server_id: int
    identifier: str
    token: str
    limit: int
    primary_id: int


@dataclass
class LoadResult:
    duration: float = 0.0
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)
    ledger: harness.Ledger = field(default_factory=harness.Ledger)

    @property
    def requests(self) -> int:
        return sum(len(v) for v in self.latencies.values())

    def all_latencies(self) -> list[float]:
        return [t for values in self.latencies.values() for t in values]


class _User:
    """One simulated user: what it holds, and what it may do next."""

    def __init__(self, user: LoadUser, base_url: str, rng: random.Random, timeout: float):
        self.user = user
        self.client = Client(base_url, user.token, timeout=timeout)
        self.rng = rng
        self.held = {user.primary_id}
        self.primary = user.primary_id

    def choose(self) -> str:
        extra = len(self.held) > 1
        allowed = {
            "list": True,
            "create": len(self.held) < self.user.limit,
            "notes": True,
            "primary": extra,
            "delete": extra,
        }
        names = [name for name in OPERATIONS if allowed[name]]
        return self.rng.choices(names, weights=[WEIGHTS[n] for n in names])[0]

    def act(self, operation: str, result: LoadResult) -> tuple[Answer, str | None]:
        """Do it; the answer, and what was wrong with it (None when as expected)."""
        path = allocations_path(self.user.identifier)
        if operation == "list":
            answer = self.client.call("GET", path)
            if answer.status != 200:
                return answer, "status"
            shown = {item["attributes"]["id"] for item in answer.body["data"]}
            primaries = [
                i["attributes"]["id"] for i in answer.body["data"] if i["attributes"]["is_default"]
            ]
            if shown != self.held or primaries != [self.primary]:
                return (
                    answer,
                    f"list shows {sorted(shown)} (primary {primaries}), "
                    f"user holds {sorted(self.held)} (primary {self.primary})",
                )
            return answer, None
        if operation == "create":
            answer = self.client.call("POST", path)
            if answer.status != 200:
                return answer, "status"
            allocation_id = answer.body["attributes"]["id"]
            self.held.add(allocation_id)
            result.ledger.claimed(self.user.server_id, allocation_id)
            return answer, None
        target = self.rng.choice(sorted(self.held - {self.primary}) or [self.primary])
        if operation == "notes":
            notes = f"load {self.rng.randrange(10**6)}"
            answer = self.client.call(
                "POST", allocations_path(self.user.identifier, target), {"notes": notes}
            )
            ok = answer.status == 200 and answer.body["attributes"]["notes"] == notes
            return answer, None if ok else "status"
        if operation == "primary":
            answer = self.client.call(
                "POST", allocations_path(self.user.identifier, target, "primary")
            )
            if answer.status != 200 or not answer.body["attributes"]["is_default"]:
                return answer, "status"
            self.primary = target
            return answer, None
        answer = self.client.call("DELETE", allocations_path(self.user.identifier, target))
        if answer.status != 204:
            return answer, "status"
        self.held.discard(target)
        result.ledger.released(self.user.server_id, target)
        return answer, None


def run_load(
    *,
    base_url: str,
    users: list[LoadUser],
    duration: float,
    think: tuple[float, float] = (0.2, 0.5),
    timeout: float = 30.0,
    seed: int = 1,
) -> LoadResult:
    """Every user in its own thread for `duration` seconds (each finishes the request it is
    in); bounded: a request waits at most `timeout`, a thread is joined at most
    duration + timeout + 10 s."""
    result = LoadResult()
    lock = threading.Lock()
    stop_at = time.monotonic() + duration

    def body(index: int, user: LoadUser):
        rng = random.Random(seed * 100_003 + index)
        actor = _User(user, base_url, rng, timeout)
        local = LoadResult()
        time.sleep(rng.uniform(0, think[1]))  # do not all start at once
        while time.monotonic() < stop_at:
            operation = actor.choose()
            answer, problem = actor.act(operation, local)
            local.latencies[operation].append(answer.elapsed)
            local.statuses[operation, answer.status] += 1
            if problem is not None:
                detail = (
                    problem
                    if problem != "status"
                    else f"{answer.status} {answer.code or answer.error or answer.body}"
                )
                local.unexpected.append(f"{operation} on {user.identifier}: {detail}")
            time.sleep(rng.uniform(*think))
        with lock:
            for name, values in local.latencies.items():
                result.latencies[name].extend(values)
            result.statuses.update(local.statuses)
            result.unexpected.extend(local.unexpected)
            result.ledger.merge(local.ledger)

    threads = [threading.Thread(target=body, args=(i, u), daemon=True) for i, u in enumerate(users)]
    started = time.monotonic()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(0.0, stop_at - time.monotonic()) + timeout + 10)
    result.duration = time.monotonic() - started
    alive = sum(thread.is_alive() for thread in threads)
    if alive:
        result.unexpected.append(f"{alive} users still running after the run's bound")
    return result


def seed_users(count: int, *, limit: int = 6, ports: str = "20000-21999") -> list[LoadUser]:
    """`count` users, each owning one server (holding its primary) of one shared node."""
    from bench import seed

    node = seed.make_node(ips="127.0.0.1", ports=ports)
    users = []
    for _ in range(count):
        owner, token = seed.make_owner()
        server = seed.make_server(owner=owner, node=node, limit=limit)
        primary = server.allocations.get(is_primary=True)
        users.append(LoadUser(server.pk, server.identifier, token, limit, primary.pk))
    return users


def check_database(result: LoadResult, before: harness.Baseline) -> list[str]:
    from django.db import connection

    with connection.cursor() as cursor:
        return (
            harness.invariant_violations(cursor)
            + harness.ledger_violations(cursor, result.ledger)
            + harness.activity_violations(cursor, before)
        )


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def render(
    result: LoadResult, problems: list[str], users: int, workers: int, think, command, redis
):
    every = result.all_latencies()
    lines = [
        START,
        f"## Load: {users} users on a mixed workload (`make load`)",
        "",
        "Written by `bench/load.py`. Each user owns a server of one shared node and, after a "
        f"think time of {think[0]}-{think[1]} s, lists, creates (next available), sets notes, "
        "sets the primary or deletes, always something its server allows, so every answer is "
        "known in advance (200, or 204 for a delete). Served as `make serve` serves: gunicorn "
        f"with deploy/gunicorn.conf.py, {workers} workers, persistent connections, "
        + ("a private Redis for" if redis else "each worker's memory (no redis-server) for")
        + " the rate-limit counters and the default rate limits; PostgreSQL and the "
        "client on the same loopback.",
        "",
        f"- Command: `{command}`",
        f"- Machine: {os.cpu_count()} cores, shared with other jobs during the run.",
        f"- {users} users for {result.duration:.0f} s: {result.requests:,} requests, "
        f"{result.requests / result.duration:.0f} per second.",
        f"- Unexpected answers: {len(result.unexpected)}; guarantees checked afterwards in the "
        "database (no allocation on two servers, none over its limit, one primary per server "
        "holding any, every acknowledged change present, every change logged): "
        + ("all hold." if not problems else f"{len(problems)} BROKEN."),
        "",
        "| Operation | Requests | p50 ms | p95 ms | p99 ms | Answers |",
        "|---|---|---|---|---|---|",
    ]
    for name in OPERATIONS:
        values = result.latencies.get(name, [])
        answers = ", ".join(
            f"{status}: {n}" for (op, status), n in sorted(result.statuses.items()) if op == name
        )
        lines.append(
            f"| {name} | {len(values):,} | {_ms(percentile(values, 0.5))} | "
            f"{_ms(percentile(values, 0.95))} | {_ms(percentile(values, 0.99))} | {answers} |"
        )
    lines.append(
        f"| **all** | {len(every):,} | {_ms(percentile(every, 0.5))} | "
        f"{_ms(percentile(every, 0.95))} | {_ms(percentile(every, 0.99))} | |"
    )
    if result.unexpected or problems:
        lines += ["", "What went wrong (the first 20):", ""]
        lines += [f"- {line}" for line in (result.unexpected + problems)[:20]]
    lines += ["", END]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    from bench.run import (
        DEFAULT_SERVER_URL,
        _with_database,
        create_database,
        drop_database,
        write_section,
    )

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--duration", type=float, default=120.0, help="seconds (at most 600)")
    parser.add_argument("--workers", type=int, default=(os.cpu_count() or 1) * 2 + 1)
    parser.add_argument(
        "--database-url", default=os.environ.get("DATABASE_URL") or DEFAULT_SERVER_URL
    )
    parser.add_argument("--no-write", action="store_true", help="do not touch docs/")
    args = parser.parse_args(argv)
    duration = min(args.duration, 600.0)
    think = (0.2, 0.5)

    name = create_database(args.database_url)
    database_url = _with_database(args.database_url, name)
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "panel.settings")
    os.environ.setdefault("PANEL_SECRET_KEY", harness.SECRET_KEY)
    os.environ.setdefault("PANEL_HTTPS", "0")
    redis = harness.PrivateRedis().start()
    app = None
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        call_command("migrate", verbosity=0, interactive=False)
        users = seed_users(args.users)
        with connection.cursor() as cursor:
            before = harness.baseline(cursor)
        connection.close()
        env = {"PANEL_API_RATE": "256/min", "PANEL_AUTH_FAILURE_RATE": "30/min"}
        if redis.url:
            env["PANEL_CACHE_URL"] = redis.url
        app = harness.Gunicorn(
            database_url=database_url, workers=args.workers, env=env, name="load"
        ).start()
        print(f"{args.users} users for {duration:.0f} s against {app.url}", flush=True)
        result = run_load(base_url=app.url, users=users, duration=duration, think=think)
        app.stop()
        app = None
        problems = check_database(result, before)
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
        drop_database(args.database_url, name)
    command = (
        "make load"
        if (args.users, duration) == (50, 120.0)
        else (f"python bench/load.py --users {args.users} --duration {duration:.0f}")
    )
    section = render(result, problems, args.users, args.workers, think, command, redis.url)
    print(section)
    if not args.no_write:
        write_section(section, start=START, end=END)
        print("\nwrote docs/performance.md")
    return 1 if (result.unexpected or problems) else 0


if __name__ == "__main__":
    sys.exit(main())
