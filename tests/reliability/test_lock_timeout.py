"""A lock held elsewhere past `lock_timeout`: the request gives up when the timeout runs out,
answers the 503 envelope (spec section 5), and leaves nothing behind: no row changed, no
activity entry, no lock, and the same request succeeds once the other holder lets go.

The holder is a separate connection of this test's own database, as another app server or
an operator's psql session would be."""

import time

import psycopg
import pytest
from django.db import connection

from allocations.models import Allocation
from allocations.services import allocation_assign
from bench import harness
from panel.activity import Actor
from panel.models import ActivityEntry
from servers.models import Server
from tests.conftest import allocations_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

UNAVAILABLE = "ServiceUnavailableHttpException"
MARGIN_S = 5.0  # on top of the lock timeout, for a loaded machine


def _lock_timeout_s() -> float:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXTRACT(epoch FROM current_setting('lock_timeout')::interval)::float8"
        )
        return cursor.fetchone()[0]


def _holder():
    s = connection.settings_dict
    return psycopg.connect(
        dbname=s["NAME"],
        user=s["USER"] or None,
        host=s["HOST"] or None,
        port=s["PORT"] or None,
        password=s["PASSWORD"] or None,
        connect_timeout=10,
    )


def _snapshot():
    return (
        list(
            Allocation.objects.order_by("id").values_list("id", "server_id", "is_primary", "notes")
        ),
        ActivityEntry.objects.count(),
    )


# What each request needs locked first, and how to ask for it.
OPERATIONS = {
    "create": (
        Server,
        lambda api, server, extra: api.post(allocations_url(server), {}, format="json"),
    ),
    "notes": (
        Allocation,
        lambda api, server, extra: api.post(
            allocations_url(server, extra.pk), {"notes": "x"}, format="json"
        ),
    ),
    "primary": (
        Server,
        lambda api, server, extra: api.post(allocations_url(server, extra.pk, "primary")),
    ),
    "delete": (Server, lambda api, server, extra: api.delete(allocations_url(server, extra.pk))),
}


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_a_lock_held_past_lock_timeout_fails_cleanly_with_503(api, server, owner, operation):
    extra = allocation_assign(server=server, actor=Actor(user=owner))
    model, ask = OPERATIONS[operation]
    row_id = server.pk if model is Server else extra.pk
    timeout = _lock_timeout_s()
    assert 0 < timeout <= 10, "the connection has a lock_timeout"
    with connection.cursor() as cursor:
        before_log = harness.baseline(cursor)
    before = _snapshot()

    with _holder() as holder:
        holder.execute(
            f"SELECT 1 FROM {model._meta.db_table} WHERE id = %s FOR UPDATE", [row_id]
        ).fetchone()
        started = time.monotonic()
        response = ask(api, server, extra)
        elapsed = time.monotonic() - started
        holder.rollback()

    assert response.status_code == 503, response.content
    body = response.json()
    assert body["errors"][0]["code"] == UNAVAILABLE and body["errors"][0]["status"] == "503"
    assert timeout * 0.9 <= elapsed < timeout + MARGIN_S, elapsed
    assert _snapshot() == before
    assert not connection.in_atomic_block
    with connection.cursor() as cursor:
        assert harness.activity_violations(cursor, before_log) == []
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND state LIKE 'idle in transaction%%'"
        )
        assert cursor.fetchone()[0] == 0, "a transaction was left open"
    # Nothing was left behind: once the holder lets go, the same request goes through.
    again = ask(api, server, extra)
    assert again.status_code in (200, 204), again.content
