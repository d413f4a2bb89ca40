"""The monitor's two tables: one schedule row per assigned allocation (when it is next due,
and its latest state), and one row per check made (by the monitor or the "Test" button).

Both point at `allocations` and `servers` without database constraints and without a Django
cascade (`DO_NOTHING`, `db_constraint=False`): an allocation or server that goes away must
not have its delete slowed down or blocked by monitoring rows. The monitor drops schedule
rows whose allocation is gone, free or held by another server; check rows are pruned by age,
and every read is scoped to the allocation's current server, so a stale row is never shown."""

from django.db import models
from django.db.models import Q

from allocations.models import Allocation
from servers.models import Server

MAX_ERROR = 64


class AllocationMonitor(models.Model):
    allocation = models.OneToOneField(
        Allocation,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        primary_key=True,
        related_name="monitor",
    )
    # The server that held the allocation when this row was made: a row of another server's
    # tenancy is stale and never shown.
    server = models.ForeignKey(
        Server, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    next_due_at = models.DateTimeField(db_index=True)
    last_checked_at = models.DateTimeField(null=True, blank=True)
    last_reachable = models.BooleanField(null=True)
    last_latency_ms = models.FloatField(null=True, blank=True)
    last_error = models.CharField(max_length=MAX_ERROR, null=True, blank=True)
    # Set by the first failed check after a success (or the first check), cleared by a success.
    down_since = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "allocation status"
        verbose_name_plural = "allocation statuses"
        indexes = [
            # The admin's "down now" list, per node.
            models.Index(
                fields=["down_since"], condition=Q(down_since__isnull=False), name="monitor_down"
            ),
        ]

    def __str__(self) -> str:
        return f"monitor of allocation {self.allocation_id}"


class DownAllocation(AllocationMonitor):
    """The allocations that are down now (admin only)."""

    class Meta:
        proxy = True
        verbose_name = "down allocation"
        verbose_name_plural = "down allocations"


class AllocationCheck(models.Model):
    # Indexed with `checked_at` below; the server is only ever compared, never searched by.
    allocation = models.ForeignKey(
        Allocation,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    server = models.ForeignKey(
        Server, on_delete=models.DO_NOTHING, db_constraint=False, db_index=False, related_name="+"
    )
    checked_at = models.DateTimeField(db_index=True)
    reachable = models.BooleanField()
    latency_ms = models.FloatField(null=True, blank=True)
    error = models.CharField(max_length=MAX_ERROR, null=True, blank=True)

    class Meta:
        indexes = [
            # The health endpoint's windows: one allocation's checks by time.
            models.Index(fields=["allocation", "checked_at"], name="check_allocation_time"),
        ]

    def __str__(self) -> str:
        state = "up" if self.reachable else f"down ({self.error})"
        return f"allocation {self.allocation_id} at {self.checked_at:%Y-%m-%d %H:%M:%S}: {state}"
