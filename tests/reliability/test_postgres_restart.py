"""PostgreSQL restarted under traffic, on a private cluster (never the shared server).

Two gunicorn processes serve the same database, one keeping its connections (persistent,
with health checks, as `make serve` runs) and one connecting per request. While clients
create, delete and list through both, PostgreSQL is stopped, left down, and started again.
Spec section 5: while it is down every answer is the 503 envelope, quickly (never a bare
500, never a wait past statement_timeout); once it is back, every client's next request
succeeds; and no change a client was told about is lost."""

import json
import os
import subprocess
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass

import pytest

from bench import harness
from bench.harness import Answer, Gunicorn, allocations_path
from tests.reliability.private_postgres import PrivatePostgres, unavailable_reason

pytestmark = pytest.mark.postgres

STATEMENT_TIMEOUT_S = 5
# The app's own settings for these servers: a short statement timeout makes "never a wait
# past statement_timeout" a tight bound.
APP_ENV = {
    "PANEL_DB_STATEMENT_TIMEOUT_MS": str(STATEMENT_TIMEOUT_S * 1000),
    "PANEL_DB_LOCK_TIMEOUT_MS": "2000",
}
# The slowest an answer may be: the statement timeout and a margin for a loaded machine.
ANSWER_BOUND_S = STATEMENT_TIMEOUT_S + 3
UNAVAILABLE = "ServiceUnavailableHttpException"


@pytest.fixture(scope="module")
def cluster():
    """A private PostgreSQL with a migrated, seeded database `panel`; deleted afterwards."""
    reason = unavailable_reason()
    if reason:
        pytest.skip(f"no private PostgreSQL cluster can be started here: {reason}")
    pg = PrivatePostgres()
    try:
        pg.init()
        pg.start()
        url = pg.create_database("panel")
        seeded = subprocess.run(
            [sys.executable, "-m", "bench.seed", "--migrate", "--servers", "4",
             "--ip", "127.0.0.1", "--ports", "20000-22999", "--limit", "3000", "--session"],
            cwd=harness.ROOT,
            env={**os.environ, "DATABASE_URL": url},
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip
        assert seeded.returncode == 0, seeded.stderr
        yield pg, url, json.loads(seeded.stdout.strip().splitlines()[-1])
    finally:
        pg.destroy()


@dataclass(frozen=True)
class Record:
    client: str
    operation: str
    answer: Answer

    @property
    def finished(self) -> float:
        return self.answer.started + self.answer.elapsed


class Traffic:
    """Clients in threads until stopped: each owns one server and creates, lists and deletes
    (only allocations it was told it holds), keeping a ledger of what was acknowledged; one
    more client per app server lists with a browser session instead of a key."""

    def __init__(self, apps: list[Gunicorn], seeded: dict):
        self.apps, self.seeded = apps, seeded
        self.stop_event = threading.Event()
        self.records: list[Record] = []
        self.ledger = harness.Ledger()
        self.acknowledged: Counter = Counter()  # (server id, "create"|"delete")
        self.lock = threading.Lock()
        self.threads = [
            threading.Thread(target=self._keyed, args=(i,), daemon=True)
            for i in range(len(seeded["servers"]))
        ] + [threading.Thread(target=self._session, args=(app,), daemon=True) for app in apps]

    def _record(self, client: str, operation: str, answer: Answer) -> None:
        with self.lock:
            self.records.append(Record(client, operation, answer))

    def _keyed(self, index: int) -> None:
        server = self.seeded["servers"][index]
        app = self.apps[index % len(self.apps)]
        name = f"key-{index}@{app.name}"
        client = harness.Client(app.url, self.seeded["token"], timeout=30)
        mine: list[int] = []
        step = 0
        while not self.stop_event.is_set():
            step += 1
            if step % 3 == 0 and mine:
                allocation_id = mine.pop(0)  # whatever the answer, never asked again
                answer = client.call(
                    "DELETE", allocations_path(server["identifier"], allocation_id)
                )
                self._record(name, "delete", answer)
                if answer.status == 204:
                    with self.lock:
                        self.ledger.released(server["id"], allocation_id)
                        self.acknowledged[server["id"], "delete"] += 1
            elif step % 3 == 1:
                answer = client.call("POST", allocations_path(server["identifier"]))
                self._record(name, "create", answer)
                if answer.status == 200:
                    allocation_id = answer.body["attributes"]["id"]
                    mine.append(allocation_id)
                    with self.lock:
                        self.ledger.claimed(server["id"], allocation_id)
                        self.acknowledged[server["id"], "create"] += 1
            else:
                self._record(
                    name, "list", client.call("GET", allocations_path(server["identifier"]))
                )
            time.sleep(0.02)

    def _session(self, app: Gunicorn) -> None:
        url = app.url + allocations_path(self.seeded["servers"][0]["identifier"])
        cookie = {"Cookie": self.seeded["session_cookie"]}
        while not self.stop_event.is_set():
            answer = harness.request("GET", url, headers=cookie, timeout=30)
            self._record(f"session@{app.name}", "list", answer)
            time.sleep(0.05)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def stop(self) -> None:
        self.stop_event.set()
        for thread in self.threads:
            thread.join(40)
        assert not any(t.is_alive() for t in self.threads), "a client never came back"


def _logged_counts(cursor, since: int) -> Counter:
    cursor.execute(
        "SELECT server_id, event, count(*) FROM panel_activityentry WHERE id > %s "
        "AND event IN ('server:allocation.create', 'server:allocation.delete') GROUP BY 1, 2",
        [since],
    )
    return Counter({(s, e.rsplit(".", 1)[1]): n for s, e, n in cursor.fetchall()})


@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_requests_during_a_postgres_restart_answer_503_and_nothing_acknowledged_is_lost(
    cluster, mode, tmp_path
):
    pg, url, seeded = cluster
    apps = [
        Gunicorn(database_url=url, workers=2, conn_max_age=60, env=APP_ENV, name="persistent",
                 log_dir=tmp_path),
        Gunicorn(database_url=url, workers=2, conn_max_age=0, env=APP_ENV, name="per-request",
                 log_dir=tmp_path),
    ]  # fmt: skip
    # One more server, asked only before and after: its one worker keeps a connection that
    # dies during the outage unseen, so the first request after must not trip over it.
    idle = Gunicorn(database_url=url, workers=1, conn_max_age=60, env=APP_ENV,
                    name="idle-during-outage", log_dir=tmp_path)  # fmt: skip
    idle_list = lambda: harness.request(  # noqa: E731
        "GET", idle.url + allocations_path(seeded["servers"][0]["identifier"]),
        token=seeded["token"], timeout=30,
    )  # fmt: skip
    traffic = Traffic(apps, seeded)
    try:
        for app in [*apps, idle]:
            app.start()
        assert [idle_list().status for _ in range(3)] == [200, 200, 200]
        with pg.connect("panel") as conn:
            before = harness.baseline(conn.cursor())
        traffic.start()
        time.sleep(1.5)  # normal traffic first
        pg.stop(mode)  # "immediate" is a crash: no checkpoint, recovery on start
        down_at = time.monotonic()
        time.sleep(2.5)
        starting_at = time.monotonic()
        pg.start()  # returns once it accepts connections
        back_at = time.monotonic()
        idle_after = idle_list()
        time.sleep(2.0)
        traffic.stop()
    finally:
        traffic.stop_event.set()
        for app in [*apps, idle]:
            app.stop()
    records = traffic.records

    # Every answer: a success, or the 503 envelope; none missing, none slow.
    bad = [
        (r.client, r.operation, r.answer.status, r.answer.code, r.answer.error)
        for r in records
        if not (
            r.answer.status in (200, 204)
            or (r.answer.status == 503 and r.answer.is_envelope and r.answer.code == UNAVAILABLE)
        )
    ]
    assert bad == []
    slowest = max(r.answer.elapsed for r in records)
    assert slowest < ANSWER_BOUND_S, f"an answer took {slowest:.1f}s"

    # While it was down: answers, and every one of them the 503 envelope.
    during = [r for r in records if r.answer.started >= down_at and r.finished <= starting_at]
    assert len(during) >= 10, "the clients kept asking during the outage"
    assert {r.answer.status for r in during} == {503}
    assert {r.client.split("@")[0].split("-")[0] for r in during} == {"key", "session"}

    # Once it was back: every client's first request succeeded, on every server.
    assert idle_after.status == 200, idle_after
    for client in sorted({r.client for r in records}):
        after = [r for r in records if r.client == client and r.answer.started >= back_at]
        assert after, f"{client} asked nothing after the restart"
        first = min(after, key=lambda r: r.answer.started)
        assert first.answer.status in (200, 204), (client, first.answer)

    # Nothing acknowledged was lost, and the database is consistent.
    with pg.connect("panel") as conn:
        cursor = conn.cursor()
        assert harness.ledger_violations(cursor, traffic.ledger) == []
        assert harness.invariant_violations(cursor) == []
        assert harness.activity_violations(cursor, before) == []
        logged = _logged_counts(cursor, before.activity_id)
    lost = {key: n for key, n in traffic.acknowledged.items() if logged[key] < n}
    assert lost == {}, f"acknowledged but not in the database: {lost}"
    assert sum(traffic.acknowledged.values()) > 0
