"""What the benchmarks (bench/run.py, bench/load.py) and the reliability tests
(tests/reliability/) share: the app served by gunicorn with its production configuration on a
loopback port the kernel picks, a small HTTP client, and the guarantees of spec section 7
checked in the database afterwards.

Every wait here is bounded: a server that does not come up, a request that does not answer
and a process that does not stop all end in an error or a kill after a set time."""

import contextlib
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

ROOT = Path(__file__).resolve().parent.parent
GUNICORN_CONF = ROOT / "deploy" / "gunicorn.conf.py"
# Only ever used on loopback, by processes this harness starts.
SECRET_KEY = "bench-and-reliability-only-secret-key-0123456789-abcdefghijkl"
# Rate limits are not what these runs measure: high enough never to answer 429.
UNLIMITED_RATE = "100000000/min"

_LISTENING = re.compile(r"Listening at: http://127\.0\.0\.1:(\d+)")


def postgres_url(*, name: str, user: str = "", host: str = "", port: str | int = "", password=""):
    """A `DATABASE_URL` for panel/settings.py."""
    credentials = quote(user or "", safe="")
    if password:
        credentials += ":" + quote(password, safe="")
    netloc = f"{credentials}@" if credentials else ""
    netloc += host or "127.0.0.1"
    if port:
        netloc += f":{port}"
    return f"postgres://{netloc}/{quote(name, safe='')}"


def url_from_settings(settings_dict: dict) -> str:
    """The `DATABASE_URL` of a Django database settings dict (e.g. the test database's)."""
    return postgres_url(
        name=settings_dict["NAME"],
        user=settings_dict.get("USER") or "",
        host=settings_dict.get("HOST") or "",
        port=settings_dict.get("PORT") or "",
        password=settings_dict.get("PASSWORD") or "",
    )


class Gunicorn:
    """`gunicorn -c deploy/gunicorn.conf.py panel.wsgi` on 127.0.0.1, an ephemeral port.

    Its output goes to a log file (`log_path`), read to learn the port and shown when
    something fails. The process runs in its own session, so `stop` ends it and its
    workers, and nothing else."""

    def __init__(
        self,
        *,
        database_url: str,
        workers: int = 2,
        conn_max_age: int = 60,
        env: dict[str, str] | None = None,
        name: str = "app",
        log_dir: str | Path | None = None,
        extra_args: tuple[str, ...] = (),
    ):
        self.database_url = database_url
        self.extra_args = tuple(extra_args)
        self.workers = workers
        self.name = name
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "panel.settings",
            "DATABASE_URL": database_url,
            "PANEL_SECRET_KEY": os.environ.get("PANEL_SECRET_KEY") or SECRET_KEY,
            "PANEL_DEBUG": "0",
            "PANEL_HTTPS": "0",
            "PANEL_API_RATE": UNLIMITED_RATE,
            "PANEL_AUTH_FAILURE_RATE": UNLIMITED_RATE,
            "PANEL_DB_CONN_MAX_AGE": str(conn_max_age),
            "PANEL_ACCESS_LOG": "",  # no access log: it would only fill the log file
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        # pytest's own settings must not leak into the served app.
        for key in ("PYTEST_CURRENT_TEST", "PYTEST_ADDOPTS"):
            self.env.pop(key, None)
        log_dir = Path(log_dir or tempfile.gettempdir())
        self.log_path = log_dir / f"gunicorn-{name}-{os.getpid()}-{time.monotonic_ns()}.log"
        self.process: subprocess.Popen | None = None
        self.port: int | None = None
        # Kept after `stop` only when asked (a failing test prints its tail before stopping).
        self.keep_log = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60.0) -> "Gunicorn":
        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "--config",
            str(GUNICORN_CONF),
            "--chdir",
            str(ROOT),
            "--bind",
            "127.0.0.1:0",
            # On the command line, so it overrides the configuration file's worker count
            # (which refuses more than one without a shared cache: rates here are unlimited).
            "--workers",
            str(self.workers),
            *self.extra_args,
            "panel.wsgi",
        ]
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while self.port is None:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn {self.name} exited early:\n{self.log_tail()}")
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn {self.name} did not listen in {timeout}s")
            match = _LISTENING.search(self.log_path.read_text(errors="replace"))
            if match:
                self.port = int(match.group(1))
            else:
                time.sleep(0.05)
        # Listening is not serving: wait until a worker has loaded the app and answers.
        while True:
            answer = request("GET", self.url + "/api/client/no-such-path", timeout=5.0)
            if answer.status == 404:
                return self
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gunicorn {self.name} never answered:\n{self.log_tail()}")
            time.sleep(0.1)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM (graceful), then SIGKILL to the whole session after `timeout`."""
        process = self.process
        if process is None or process.poll() is not None:
            return
        try:
            os.killpg(process.pid, signal.SIGTERM)
        except ProcessLookupError:
            return
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
        # Workers outlive a master killed mid-shutdown only by moments; take them all.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(5)
        if not self.keep_log:
            self.log_path.unlink(missing_ok=True)

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def __enter__(self) -> "Gunicorn":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """A Redis of our own on a loopback port, keeping nothing on disk: the shared cache the
    gunicorn workers' rate-limit counters need, as in production, without touching anyone
    else's Redis. None of this when redis-server is not installed."""

    def __init__(self):
        self.process = None
        self.url = ""

    def start(self) -> "PrivateRedis":
        binary = shutil.which("redis-server")
        if binary is None:
            return self
        port = free_port()
        self.process = subprocess.Popen(
            [
                binary,
                "--port",
                str(port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        self.url = f"redis://127.0.0.1:{port}/0"
                        return self
            except OSError:
                time.sleep(0.05)
        self.stop()
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)


class CpuMeter:
    """CPU seconds used so far by the processes serving a run, by kind, from /proc (Linux):
    the gunicorn workers (children of `app_pid`), the client backends of `database`,
    the `redis_pid` process, and this process (the client). Unlike throughput, CPU per
    request hardly depends on what else the machine is doing."""

    KINDS = ("app", "postgres", "redis", "client")

    def __init__(self, *, app_pid: int, database: str, redis_pid: int | None = None):
        self.app_pid, self.redis_pid = app_pid, redis_pid
        self.database = database.encode()
        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self.available = Path("/proc/self/stat").exists()

    def sample(self) -> dict[str, float]:
        used = dict.fromkeys(self.KINDS, 0.0)
        used["client"] = time.process_time()
        if not self.available:
            return used
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as f:
                    stat = f.read()
                with open(f"/proc/{entry.name}/cmdline", "rb") as f:
                    cmdline = f.read()
            except OSError:
                continue
            fields = stat.rsplit(b")", 1)[1].split()
            parent, cpu = int(fields[1]), (int(fields[11]) + int(fields[12])) / self.tick
            if int(entry.name) == self.app_pid:
                # The master, and the workers it has reaped (recycled every N requests).
                used["app"] += cpu + (int(fields[13]) + int(fields[14])) / self.tick
            elif parent == self.app_pid:
                used["app"] += cpu
            elif int(entry.name) == self.redis_pid:
                used["redis"] += cpu
            elif (
                cmdline.startswith(b"postgres: ")
                and self.database in cmdline
                and b"autovacuum" not in cmdline  # comes and goes, taking its count along
            ):
                used["postgres"] += cpu
        return used


# --- HTTP ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """One request's outcome. `status` 0: no HTTP answer at all (timeout, refused, reset)."""

    status: int
    body: Any
    elapsed: float
    started: float = 0.0
    error: str = ""
    content_type: str = ""

    @property
    def code(self) -> str | None:
        if isinstance(self.body, dict) and self.body.get("errors"):
            return self.body["errors"][0].get("code")
        return None

    @property
    def is_envelope(self) -> bool:
        """The spec's error envelope, served as JSON."""
        return (
            self.content_type.startswith("application/json")
            and isinstance(self.body, dict)
            and list(self.body) == ["errors"]
            and self.body["errors"][0].get("status") == str(self.status)
        )


def request(
    method: str,
    url: str,
    *,
    token: str | None = None,
    body: dict | None = None,
    timeout: float = 15.0,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTP request on a fresh connection (gunicorn's sync workers close every
    connection after its answer, so there is nothing to keep alive)."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    headers = {"Accept": "application/json", **(headers or {})}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    started = time.monotonic()
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)
    try:
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        raw = response.read()
        status = response.status
        content_type = response.getheader("Content-Type", "")
    except (OSError, http.client.HTTPException) as exc:
        return Answer(0, None, time.monotonic() - started, started, f"{type(exc).__name__}: {exc}")
    finally:
        connection.close()
    elapsed = time.monotonic() - started
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw[:200]
    return Answer(status, parsed, elapsed, started, "", content_type)


def raw_get(host: str, port: int, payload: bytes, timeout: float = 10.0) -> int:
    """Send a prepared HTTP/1.1 request and read the whole answer; its status, 0 if none.

    The throughput measurement's client: next to `request` it spends a fraction of the CPU
    per request (no header parsing, no JSON), so on a machine the client shares with the
    server, the figures are more the server's own."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as sock:
            sock.sendall(payload)
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
    except OSError:
        return 0
    head = b"".join(chunks[:1])[:12]
    return int(head[9:12]) if head.startswith(b"HTTP/1.") and head[9:12].isdigit() else 0


def get_request_bytes(url: str, token: str) -> bytes:
    """A GET of `url` with a bearer key, asking the server to close the connection after."""
    parts = urlsplit(url)
    return (
        f"GET {parts.path} HTTP/1.1\r\nHost: {parts.hostname}:{parts.port}\r\n"
        f"Authorization: Bearer {token}\r\nAccept: application/json\r\n"
        "Connection: close\r\n\r\n"
    ).encode()


class Client:
    """A caller of the client API with one bearer key, on one base URL."""

    def __init__(self, base_url: str, token: str, *, timeout: float = 15.0):
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout

    def call(self, method: str, path: str, body: dict | None = None) -> Answer:
        return request(
            method, self.base_url + path, token=self.token, body=body, timeout=self.timeout
        )


def allocations_path(identifier: str, *parts) -> str:
    base = f"/api/client/servers/{identifier}/network/allocations"
    return "/".join([base, *map(str, parts)]) if parts else base


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (fraction in 0..1); NaN for no values."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, min(len(ordered), int(-(-fraction * len(ordered) // 1))))
    return ordered[rank - 1]


# --- The guarantees, checked in the database ---------------------------------------------------


def _tables() -> dict[str, str]:
    from allocations.models import Allocation
    from panel.models import ActivityEntry
    from servers.models import Server

    return {
        "allocation": Allocation._meta.db_table,
        "server": Server._meta.db_table,
        "activity": ActivityEntry._meta.db_table,
    }


def invariant_violations(cursor) -> list[str]:
    """What the database shows against spec section 7, through any DB-API cursor on
    PostgreSQL: servers over their limit, servers holding allocations without exactly one
    primary, allocations held by a server of another node. Empty when all holds."""
    t = _tables()
    problems = []
    cursor.execute(
        f"SELECT s.id, count(a.id), s.allocation_limit FROM {t['server']} s "
        f"JOIN {t['allocation']} a ON a.server_id = s.id "
        "GROUP BY s.id, s.allocation_limit HAVING count(a.id) > s.allocation_limit"
    )
    problems += [f"server {s} holds {n} > limit {limit}" for s, n, limit in cursor.fetchall()]
    cursor.execute(
        f"SELECT server_id, count(*) FILTER (WHERE is_primary) FROM {t['allocation']} "
        "WHERE server_id IS NOT NULL GROUP BY server_id "
        "HAVING count(*) FILTER (WHERE is_primary) <> 1"
    )
    problems += [f"server {s} has {n} primaries" for s, n in cursor.fetchall()]
    cursor.execute(
        f"SELECT a.id, a.node_id, s.node_id FROM {t['allocation']} a "
        f"JOIN {t['server']} s ON s.id = a.server_id WHERE a.node_id <> s.node_id"
    )
    problems += [f"allocation {a} of node {n} on a server of node {m}" for a, n, m in cursor]
    cursor.execute(
        f"SELECT count(*) FROM {t['allocation']} WHERE server_id IS NULL "
        "AND (is_primary OR notes IS NOT NULL)"
    )
    (stale,) = cursor.fetchone()
    if stale:
        problems.append(f"{stale} free allocations still marked primary or carrying notes")
    return problems


@dataclass
class Ledger:
    """What the API told clients: which allocation each server holds (200 on create adds it,
    204 on delete removes it). Each client records only its own server's changes."""

    held: dict[int, set[int]] = field(default_factory=dict)

    def claimed(self, server_id: int, allocation_id: int) -> None:
        self.held.setdefault(server_id, set()).add(allocation_id)

    def released(self, server_id: int, allocation_id: int) -> None:
        self.held.setdefault(server_id, set()).discard(allocation_id)

    def merge(self, other: "Ledger") -> None:
        for server_id, ids in other.held.items():
            self.held.setdefault(server_id, set()).update(ids)


def ledger_violations(cursor, ledger: Ledger) -> list[str]:
    """Every allocation a 200 said a server holds (and no later 204 gave back) is held by
    that server in the database, and no allocation was told to two servers."""
    t = _tables()
    problems = []
    owners: dict[int, int] = {}
    for server_id, ids in ledger.held.items():
        for allocation_id in ids:
            if allocation_id in owners:
                problems.append(
                    f"allocation {allocation_id} acknowledged to servers "
                    f"{owners[allocation_id]} and {server_id}"
                )
            owners[allocation_id] = server_id
    if owners:
        cursor.execute(
            f"SELECT id, server_id FROM {t['allocation']} WHERE id = ANY(%s)", [list(owners)]
        )
        actual = dict(cursor.fetchall())
        for allocation_id, server_id in sorted(owners.items()):
            if actual.get(allocation_id) != server_id:
                problems.append(
                    f"allocation {allocation_id} acknowledged to server {server_id} is held "
                    f"by {actual.get(allocation_id)} (an acknowledged change was lost)"
                )
    return problems


@dataclass(frozen=True)
class Baseline:
    """Where the activity log and the holdings stood before a run."""

    activity_id: int
    held: frozenset[tuple[int, str]]


def _held_addresses(cursor) -> set[tuple[int, str]]:
    from allocations.addresses import format_ip_port

    t = _tables()
    cursor.execute(
        f"SELECT server_id, host(ip), port FROM {t['allocation']} WHERE server_id IS NOT NULL"
    )
    return {(server_id, format_ip_port(ip, port)) for server_id, ip, port in cursor.fetchall()}


def baseline(cursor) -> Baseline:
    t = _tables()
    cursor.execute(f"SELECT coalesce(max(id), 0) FROM {t['activity']}")
    (last,) = cursor.fetchone()
    return Baseline(last, frozenset(_held_addresses(cursor)))


def activity_violations(cursor, before: Baseline) -> list[str]:
    """Each change and its activity entry were written together (spec section 8): for every
    (server, allocation), the creates minus the deletes logged since `before` equal what
    changed in its holdings. A claim without its entry, or an entry without its claim,
    shows here."""
    t = _tables()
    cursor.execute(
        "SELECT server_id, properties->>'allocation', "
        "count(*) FILTER (WHERE event = 'server:allocation.create'), "
        "count(*) FILTER (WHERE event = 'server:allocation.delete') "
        f"FROM {t['activity']} WHERE id > %s AND server_id IS NOT NULL "
        "AND event IN ('server:allocation.create', 'server:allocation.delete') "
        "GROUP BY 1, 2",
        [before.activity_id],
    )
    logged = {(s, a): creates - deletes for s, a, creates, deletes in cursor.fetchall()}
    now = _held_addresses(cursor)
    problems = []
    for key in sorted(set(logged) | now | before.held):
        changed = (key in now) - (key in before.held)
        if logged.get(key, 0) != changed:
            problems.append(
                f"server {key[0]} {key[1]}: holding changed by {changed:+d}, activity log "
                f"says {logged.get(key, 0):+d}"
            )
    return problems
