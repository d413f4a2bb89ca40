"""The locking protocol itself: which locks reach PostgreSQL, who waits for whom.

Interleavings are forced with events: a thread is paused inside the service (by wrapping one
of its steps) while it holds its locks, and the test checks whether a second request waits
or goes by. Every wait is bounded; the pauses stay well under the connections'
`lock_timeout`, so a waiter never turns into a 503 here."""

import re
import threading
import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from allocations import services
from allocations.errors import AllocationNotAvailable, TooManyAllocations
from allocations.models import Allocation
from allocations.services import (
    allocation_assign,
    allocation_set_notes,
    allocation_set_primary,
    allocation_unassign,
)
from panel.activity import Actor
from tests import factories
from tests.concurrency.race import join, primaries_of, start, wait_for_lock_waiter

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

# How long a thread must stay unfinished before we call it blocked.
BLOCKED_FOR = 0.5
# Bound on every wait for an event; a pause never lasts longer than this.
EVENT_TIMEOUT = 10.0
HOLDER = "holder"
THREAD_NAMES = {HOLDER, "waiter", "other"}


class Pause:
    """Wraps one service step so that, in the holder thread only, it stops right after the
    step ran (its locks held, its transaction open) until the test releases it."""

    def __init__(self, monkeypatch, name: str, *, fail_after: bool = False):
        self.reached = threading.Event()
        self.release = threading.Event()
        self.fail_after = fail_after
        real = getattr(services, name)

        def wrapper(*args, **kwargs):
            result = real(*args, **kwargs)
            if threading.current_thread().name == HOLDER:
                self.reached.set()
                assert self.release.wait(EVENT_TIMEOUT), "holder never released"
                if self.fail_after:
                    raise RuntimeError("holder gives up: its transaction rolls back")
            return result

        monkeypatch.setattr(services, name, wrapper)

    def wait_reached(self):
        assert self.reached.wait(EVENT_TIMEOUT), "holder never reached its pause"


@pytest.fixture
def pauses(monkeypatch):
    """Makes Pauses; whatever happens in the test, releases them and waits for its threads
    before the database is flushed (a paused holder keeps its locks and would block that)."""
    made: list[Pause] = []

    def make(name: str, **kwargs) -> Pause:
        made.append(Pause(monkeypatch, name, **kwargs))
        return made[-1]

    yield make
    for p in made:
        p.release.set()
    for thread in threading.enumerate():
        if thread is not threading.current_thread() and thread.name in THREAD_NAMES:
            thread.join(EVENT_TIMEOUT)


def _user():
    return factories.make_user(password=None)


def _sql(captured) -> list[str]:
    return [q["sql"] for q in captured.captured_queries]


def _first(sqls: list[str], pattern: str) -> int:
    regex = re.compile(pattern, re.DOTALL)
    for i, sql in enumerate(sqls):
        if regex.search(sql):
            return i
    raise AssertionError(f"no query matches {pattern!r} in:\n" + "\n".join(sqls))


def test_assign_locks_the_server_row_before_counting_and_skips_locked_free_rows():
    owner = _user()
    server = factories.make_server(owner)

    with CaptureQueriesContext(connection) as captured:
        row = allocation_assign(server=server, actor=Actor(user=owner))

    sqls = _sql(captured)
    server_lock = _first(sqls, r'^SELECT .* FROM "servers_server" WHERE .* FOR NO KEY UPDATE$')
    held_count = _first(sqls, r'^SELECT .* FROM "allocations_allocation" WHERE .*"server_id" = ')
    pick = _first(sqls, r'^SELECT .* FROM "allocations_allocation" .* FOR UPDATE SKIP LOCKED$')
    claim = _first(sqls, r'^UPDATE "allocations_allocation" SET .*"server_id" IS NULL')
    assert server_lock < held_count < pick < claim
    # The lock is a real row lock taken with the query, not a lazy queryset left unevaluated.
    assert f'"servers_server"."id" = {server.pk}' in sqls[server_lock]
    assert row.server_id == server.pk


def test_assign_naming_ip_and_port_waits_for_the_row_instead_of_skipping_it():
    owner = _user()
    server = factories.make_server(owner)

    with CaptureQueriesContext(connection) as captured:
        allocation_assign(server=server, actor=Actor(user=owner), ip="10.0.0.1", port=25570)

    sqls = _sql(captured)
    server_lock = _first(sqls, r'^SELECT .* FROM "servers_server" WHERE .* FOR NO KEY UPDATE$')
    pick = _first(sqls, r'^SELECT .* FROM "allocations_allocation" .* FOR UPDATE$')
    assert server_lock < pick
    assert not any("SKIP LOCKED" in sql for sql in sqls)


def test_second_assign_on_the_same_server_waits_until_the_first_commits(pauses):
    owner = _user()
    # One allocation held, limit 2: only one of the two assigns can succeed, and the second
    # can only know that if it counts after the first has committed.
    server = factories.make_server(owner, limit=2)
    actor = Actor(user=owner)
    pause = pauses("_pick")

    holder, held = start(lambda: allocation_assign(server=server, actor=actor), name=HOLDER)
    pause.wait_reached()
    waiter, waited = start(lambda: allocation_assign(server=server, actor=actor), name="waiter")
    assert wait_for_lock_waiter(), "the second assign did not wait for the server lock"
    time.sleep(BLOCKED_FOR)
    assert waiter.is_alive()
    pause.release.set()
    join(holder)
    join(waiter)

    assert held.get().server_id == server.pk
    assert isinstance(waited.error, TooManyAllocations)
    assert waited.finished_at > held.finished_at
    assert Allocation.objects.filter(server=server).count() == 2
    assert primaries_of(server) == 1


@pytest.mark.parametrize("pause_after", ["_pick", "activity_log"], ids=["picked", "claimed"])
def test_assign_for_another_server_passes_over_a_row_being_claimed(pauses, pause_after):
    node = factories.make_node()
    factories.make_pool(node, ports=range(25565, 25575))
    first = factories.make_server(_user(), node=node)  # primary 25565
    second = factories.make_server(_user(), node=node)  # primary 25566
    # Both servers' next available is 25567 (lowest free port above their primary).
    pause = pauses(pause_after)

    holder, held = start(
        lambda: allocation_assign(server=first, actor=Actor(user=first.owner)), name=HOLDER
    )
    pause.wait_reached()
    started = time.monotonic()
    other, got = start(
        lambda: allocation_assign(server=second, actor=Actor(user=second.owner)), name="other"
    )
    join(other, timeout=EVENT_TIMEOUT)
    elapsed = time.monotonic() - started
    # It finished while the holder still had its row locked, without waiting on it.
    assert holder.is_alive()
    pause.release.set()
    join(holder)

    # Well under the 3 s lock_timeout: it never sat in a lock wait.
    assert elapsed < 2.5
    assert held.get().port == 25567
    assert got.get().port == 25568
    assert Allocation.objects.get(node=node, port=25567).server_id == first.pk
    assert Allocation.objects.get(node=node, port=25568).server_id == second.pk


@pytest.mark.parametrize(
    ("holder_commits", "waiter_gets_it"),
    [(True, False), (False, True)],
    ids=["holder-commits-waiter-409", "holder-rolls-back-waiter-gets-it"],
)
def test_request_naming_a_row_being_claimed_waits_and_answers_by_the_outcome(
    pauses, holder_commits, waiter_gets_it
):
    node = factories.make_node()
    factories.make_pool(node, ports=range(25565, 25575))
    first = factories.make_server(_user(), node=node)
    second = factories.make_server(_user(), node=node)
    pause = pauses("_pick", fail_after=not holder_commits)
    wanted = {"ip": "10.0.0.1", "port": 25570}

    holder, held = start(
        lambda: allocation_assign(server=first, actor=Actor(user=first.owner), **wanted),
        name=HOLDER,
    )
    pause.wait_reached()
    waiter, waited = start(
        lambda: allocation_assign(server=second, actor=Actor(user=second.owner), **wanted),
        name="waiter",
    )
    assert wait_for_lock_waiter(), "the request naming the row did not wait for it"
    time.sleep(BLOCKED_FOR)
    assert waiter.is_alive()
    pause.release.set()
    join(holder)
    join(waiter)

    row = Allocation.objects.get(node=node, port=25570)
    if waiter_gets_it:
        assert isinstance(held.error, RuntimeError)
        assert waited.get().pk == row.pk
        assert row.server_id == second.pk
    else:
        assert held.get().pk == row.pk
        assert isinstance(waited.error, AllocationNotAvailable)
        assert row.server_id == first.pk


@pytest.mark.parametrize("change", ["set-primary", "delete"])
def test_notes_update_during_a_change_of_the_same_allocation_does_not_deadlock(pauses, change):
    owner = _user()
    server = factories.make_server(owner)
    actor = Actor(user=owner)
    other = allocation_assign(server=server, actor=actor)
    service = {"set-primary": allocation_set_primary, "delete": allocation_unassign}[change]
    # The change holds the server row and is about to update `other`; a notes update of
    # `other` arrives in between. Before the fix, the notes update locked `other` and then
    # waited for the server row: a lock cycle, which PostgreSQL broke by failing one of them.
    pause = pauses("_lock_server_and_row")

    holder, held = start(lambda: service(allocation=other, actor=actor), name=HOLDER)
    pause.wait_reached()
    noter, noted = start(
        lambda: allocation_set_notes(allocation=other, actor=actor, notes="game port"),
        name="waiter",
    )
    time.sleep(BLOCKED_FOR)
    pause.release.set()
    join(holder)
    join(noter)

    held.get()  # neither side failed: no deadlock, no lock timeout
    assert noted.get().notes == "game port"
    row = Allocation.objects.get(pk=other.pk)
    if change == "set-primary":
        assert (row.server_id, row.is_primary, row.notes) == (server.pk, True, "game port")
    else:
        # The notes landed first (they did not wait), then the delete cleared them.
        assert (row.server_id, row.is_primary, row.notes) == (None, False, None)
    assert primaries_of(server) == 1


def test_notes_update_locks_only_the_allocation_row():
    owner = _user()
    server = factories.make_server(owner)
    other = allocation_assign(server=server, actor=Actor(user=owner))

    with CaptureQueriesContext(connection) as captured:
        allocation_set_notes(allocation=other, actor=Actor(user=owner), notes="x")

    sqls = _sql(captured)
    lock = _first(sqls, r'^SELECT .* FROM "allocations_allocation" .* FOR UPDATE OF ')
    # A plain FOR UPDATE over the join would also lock the server row, out of the protocol's
    # order (server first): that is the deadlock the test above guards against.
    assert sqls[lock].endswith('FOR UPDATE OF "allocations_allocation"')
