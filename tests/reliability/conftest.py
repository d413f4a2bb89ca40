"""Fixtures of the reliability tests: the app served by real gunicorn processes over the test
database, threads released together, and the guarantees checked in the database.

Every wait is bounded and every process started here is stopped at teardown, before the
test database is flushed (a server holding connections would block that)."""

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection

from bench.harness import Gunicorn, url_from_settings

# Long enough for a loaded 2-core machine, short enough that a hang is a quick failure.
JOIN_TIMEOUT = 60.0


@pytest.fixture
def app_servers(transactional_db, tmp_path):
    """Starts `gunicorn -c deploy/gunicorn.conf.py panel.wsgi` processes on 127.0.0.1 over
    the test database; each call is one more separate server process (its own port)."""
    started: list[Gunicorn] = []

    def start(*, name: str, workers: int = 2, conn_max_age: int = 60, env=None) -> Gunicorn:
        app = Gunicorn(
            database_url=url_from_settings(connection.settings_dict),
            workers=workers,
            conn_max_age=conn_max_age,
            env=env,
            name=name,
            log_dir=tmp_path,
        )
        started.append(app)
        return app.start()

    yield start
    for app in started:
        app.stop()


def run_together(tasks: list[Callable[[], Any]], timeout: float = JOIN_TIMEOUT) -> list[Any]:
    """Each task in its own thread, all released at once; their results in order. An
    exception in a task is re-raised here; a thread still running at `timeout` fails."""
    barrier = threading.Barrier(len(tasks), timeout=timeout)
    results: list[Any] = [None] * len(tasks)
    errors: list[BaseException] = []

    def body(index: int, task):
        try:
            barrier.wait()
            results[index] = task()
        except BaseException as exc:  # handed to the test
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=body, args=(i, t), daemon=True) for i, t in enumerate(tasks)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), f"threads still running after {timeout}s"
    if errors:
        raise errors[0]
    return results
