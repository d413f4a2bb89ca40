"""Helpers for the real race tests: threads released together, each on its own connection.

Every thread closes its database connection when it ends, so the test database can be
flushed afterwards, and every wait is bounded so a deadlock fails a test instead of hanging
the run."""

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection
from rest_framework.test import APIClient

from allocations.models import Allocation

# Long enough for a loaded CI machine, short enough that a hang is a quick failure.
JOIN_TIMEOUT = 30.0


@dataclass
class Outcome:
    value: Any = None
    error: BaseException | None = None
    finished_at: float = 0.0

    def get(self):
        if self.error is not None:
            raise self.error
        return self.value


def _thread_body(task: Callable[[], Any], outcome: Outcome, before: Callable[[], None]):
    try:
        before()
        outcome.value = task()
    except BaseException as exc:  # handed to the test, which decides
        outcome.error = exc
    finally:
        outcome.finished_at = time.monotonic()
        connection.close()


def start(task: Callable[[], Any], *, name: str = "") -> tuple[threading.Thread, Outcome]:
    """Run `task` in a new thread now; its result (or exception) lands in the Outcome."""
    outcome = Outcome()
    thread = threading.Thread(
        target=_thread_body, args=(task, outcome, lambda: None), name=name or None, daemon=True
    )
    thread.start()
    return thread, outcome


def join(thread: threading.Thread, timeout: float = JOIN_TIMEOUT) -> None:
    thread.join(timeout)
    assert not thread.is_alive(), f"thread {thread.name} still running after {timeout}s"


def run_together(tasks: list[Callable[[], Any]], *, timeout: float = JOIN_TIMEOUT) -> list[Any]:
    """Run every task in its own thread, released at the same moment by a barrier, and return
    their results in order. An exception in any task is re-raised here."""
    barrier = threading.Barrier(len(tasks), timeout=timeout)
    outcomes = [Outcome() for _ in tasks]
    threads = [
        threading.Thread(
            target=_thread_body, args=(task, outcome, barrier.wait), name=f"racer-{i}", daemon=True
        )
        for i, (task, outcome) in enumerate(zip(tasks, outcomes, strict=True))
    ]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        join(thread, max(0.0, deadline - time.monotonic()))
    return [outcome.get() for outcome in outcomes]


@dataclass(frozen=True)
class Answer:
    """What one HTTP request answered: enough to assert on after the thread is gone."""

    status: int
    body: Any

    @property
    def code(self) -> str | None:
        if isinstance(self.body, dict) and self.body.get("errors"):
            return self.body["errors"][0]["code"]
        return None


def api_call(key: str, method: str, url: str, data: dict | None = None) -> Callable[[], Answer]:
    """A task that sends one bearer-authenticated request with its own client."""

    def task() -> Answer:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {key}")
        if method == "post":
            response = client.post(url, data or {}, format="json")
        else:
            response = getattr(client, method)(url)
        body = response.json() if response.content else None
        return Answer(response.status_code, body)

    return task


def wait_for_lock_waiter(timeout: float = 5.0) -> bool:
    """Whether some other session of this database is (or soon is) waiting on a lock, as
    PostgreSQL itself reports it: proof that a thread is blocked, not merely slow."""
    deadline = time.monotonic() + timeout
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()"
            )
            if cursor.fetchone()[0]:
                return True
            time.sleep(0.02)
    return False


def primaries_of(server) -> int:
    return Allocation.objects.filter(server=server, is_primary=True).count()
