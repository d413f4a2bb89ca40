"""The monitor worker: claims what is due, probes it (asyncio, bounded), records it.

Any number of workers, on one machine or many, share the work through the database (see
`services.monitor_claim_due`). A worker outlives database outages: it closes its connection,
waits (1 s, doubling up to 30 s) and tries again, keeping the results it could not record
yet. SIGTERM or SIGINT lets the current batch finish and be recorded, then the loop ends."""

import asyncio
import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass
from datetime import timedelta

from django.db import InterfaceError, OperationalError, close_old_connections, connections
from django.db.models import Max, Min
from django.db.models.functions import Now

from monitoring.models import AllocationMonitor
from monitoring.probe import ProbeResult, probe_many
from monitoring.services import (
    monitor_claim_due,
    monitor_prune,
    monitor_record,
    monitor_sync_schedules,
)

logger = logging.getLogger("monitoring")

DB_ERRORS = (OperationalError, InterfaceError)
BACKOFF_FIRST, BACKOFF_MAX = 1.0, 30.0
PRUNE_EVERY = 3600.0
# Results kept for recording while the database is away; beyond this the oldest are lost.
MAX_PENDING = 100_000


@dataclass
class Totals:
    passes: int = 0
    checked: int = 0
    pruned: int = 0

    def as_dict(self) -> dict:
        return {"passes": self.passes, "checked": self.checked, "pruned": self.pruned}


class Worker:
    def __init__(
        self,
        *,
        interval: float,
        concurrency: int,
        timeout: float,
        retention_days: float,
        batch_size: int | None = None,
    ):
        self.interval = timedelta(seconds=interval)
        self.concurrency = max(1, concurrency)
        self.timeout = timeout
        self.retention = timedelta(days=retention_days)
        self.batch_size = batch_size or max(100, 4 * self.concurrency)
        self.stopping = threading.Event()
        self.totals = Totals()
        self._pending: list[ProbeResult] = []
        self._pruned_at: float | None = None

    # --- stopping ------------------------------------------------------------------------

    def stop(self, *_args) -> None:
        self.stopping.set()

    @contextlib.contextmanager
    def stopped_by_signals(self):
        """While inside, SIGTERM and SIGINT stop the worker after the current batch; the
        previous handlers come back afterwards. Only the main thread can take signals."""
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.getsignal(signum) for signum in (signal.SIGTERM, signal.SIGINT)}
        for signum in previous:
            signal.signal(signum, self.stop)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    # --- one pass ------------------------------------------------------------------------

    def run_pass(self) -> int:
        """Every allocation due now, batch by batch; returns how many were recorded."""
        self._flush_pending()
        monitor_sync_schedules()
        checked = 0
        while not self.stopping.is_set():
            targets = monitor_claim_due(limit=self.batch_size, interval=self.interval)
            if not targets:
                break
            started = time.monotonic()
            results = asyncio.run(
                probe_many(targets, concurrency=self.concurrency, timeout=self.timeout)
            )
            self._pending.extend(results)
            checked += self._flush_pending()
            elapsed = time.monotonic() - started
            logger.debug("checked %d allocations in %.2fs", len(targets), elapsed)
        self.totals.passes += 1
        self.totals.checked += checked
        return checked

    def prune(self, *, force: bool = False) -> int:
        now = time.monotonic()
        if not force and self._pruned_at is not None and now - self._pruned_at < PRUNE_EVERY:
            return 0
        pruned = monitor_prune(retention=self.retention)
        self._pruned_at = now
        self.totals.pruned += pruned
        return pruned

    def _flush_pending(self) -> int:
        if not self._pending:
            return 0
        recorded = monitor_record(self._pending)
        self._pending = []
        return recorded

    # --- the loop ------------------------------------------------------------------------

    def run_once(self) -> Totals:
        self.run_pass()
        if not self.stopping.is_set():
            self.prune(force=True)
        return self.totals

    def run_forever(self) -> Totals:
        backoff = BACKOFF_FIRST
        while not self.stopping.is_set():
            try:
                close_old_connections()
                checked = self.run_pass()
                self.prune()
                wait = self._seconds_until_due()
                backoff = BACKOFF_FIRST
                logger.info("pass done: %d checked; next in %.1fs", checked, wait)
            except DB_ERRORS as exc:
                wait, backoff = backoff, min(backoff * 2, BACKOFF_MAX)
                logger.warning(
                    "database unavailable (%s); retrying in %.0fs", _first_line(exc), wait
                )
                self._reset_connections()
                del self._pending[:-MAX_PENDING]
            self.stopping.wait(wait)
        # A last attempt at what a stop interrupted; the database may still be away.
        try:
            self.totals.checked += self._flush_pending()
        except DB_ERRORS as exc:
            logger.warning("%d results not recorded: %s", len(self._pending), _first_line(exc))
        self._reset_connections()
        return self.totals

    def _seconds_until_due(self) -> float:
        """Until the soonest row is due, by the database's clock; between 0.2 s and one
        interval (new allocations are found at the next pass)."""
        soonest = AllocationMonitor.objects.aggregate(due=Min("next_due_at"), now=Max(Now()))
        interval = self.interval.total_seconds()
        if soonest["due"] is None or soonest["now"] is None:
            return interval
        wait = (soonest["due"] - soonest["now"]).total_seconds()
        return min(max(wait, 0.2), interval)

    @staticmethod
    def _reset_connections() -> None:
        for conn in connections.all(initialized_only=True):
            with contextlib.suppress(DB_ERRORS):
                conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else exc.__class__.__name__
