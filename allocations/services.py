"""Every write to a server's allocations. Each service owns one short transaction.

Locking protocol (the reason these guarantees hold under concurrency):
1. The server row is locked first (`select_for_update().get()`): every change to one server's
   allocations is serialized, so the allocation limit and the one-primary rule are checked
   against a count nobody else can change until commit.
2. Free rows are then picked with `SKIP LOCKED`, so requests for other servers pass over
   rows being claimed and never wait on each other; a request naming one exact row waits
   for it (bounded by `lock_timeout`) and answers by the outcome.
3. The claim itself is conditional (`WHERE server_id IS NULL`), and the unique constraints
   are the last line of defence, so even a database without row locks never double-assigns.
Locks are always taken server row first, allocation rows second: no cycles, no deadlocks."""

from django.db import transaction
from django.db.models import QuerySet

from allocations.addresses import ip_sort_key, parse_ip
from allocations.errors import (
    AllocationNotAvailable,
    CannotDeletePrimaryAllocation,
    NoAvailableAllocations,
    ServerMustBeStoppedForPrimary,
    ServerMustBeStoppedForRemoval,
    TooManyAllocations,
)
from allocations.models import Allocation
from panel.activity import Actor, activity_log
from panel.errors import NotFound
from servers.models import PowerState, Server

# Attempts at claiming a picked row before giving up (only a database without row locks,
# i.e. SQLite, can lose a claim after picking).
_CLAIM_ATTEMPTS = 5


def _lock_server(server_id: int) -> Server:
    # NO KEY UPDATE: serializes our writers on this server, yet lets the foreign-key checks
    # of concurrent inserts (activity entries) through, which a plain FOR UPDATE would block.
    return Server.objects.select_for_update(no_key=True).get(pk=server_id)


def _free_rows(node_id: int) -> QuerySet[Allocation]:
    return Allocation.objects.filter(node_id=node_id, server__isnull=True)


def _first_skip_locked(queryset: QuerySet[Allocation]) -> Allocation | None:
    return queryset.select_for_update(skip_locked=True).first()


def _pick(*, server: Server, primary: Allocation | None, ip_key: str | None, port: int | None):
    """The free allocation the create algorithm chooses (spec section 7), locked."""
    node_id = server.node_id
    if ip_key is not None and port is not None:
        # Named exactly: wait for it if someone is claiming it, then judge.
        row = (
            Allocation.objects.select_for_update()
            .filter(node_id=node_id, ip_key=ip_key, port=port)
            .first()
        )
        if row is None or row.server_id is not None:
            raise AllocationNotAvailable()
        return row
    free = _free_rows(node_id)
    if ip_key is not None:
        row = _first_skip_locked(free.filter(ip_key=ip_key).order_by("port"))
        if row is None:
            raise AllocationNotAvailable()
        return row
    if port is not None:
        row = None
        if primary is not None:
            row = _first_skip_locked(free.filter(ip_key=primary.ip_key, port=port))
        if row is None:
            row = _first_skip_locked(free.filter(port=port).order_by("ip_key"))
        if row is None:
            raise AllocationNotAvailable()
        return row
    row = None
    if primary is not None:
        same_ip = free.filter(ip_key=primary.ip_key).order_by("port")
        row = _first_skip_locked(same_ip.filter(port__gt=primary.port)) or _first_skip_locked(
            same_ip
        )
    if row is None:
        row = _first_skip_locked(free.order_by("ip_key", "port"))
    if row is None:
        raise NoAvailableAllocations()
    return row


def allocation_assign(
    *,
    server: Server,
    actor: Actor,
    ip: str | None = None,
    port: int | None = None,
    enforce_limit: bool = True,
) -> Allocation:
    """Give `server` a free allocation of its node: the one named by ip/port, or the next
    available. The first allocation a server gets becomes its primary."""
    ip_key = None
    if ip is not None:
        address = parse_ip(ip)
        if address is None:
            raise AllocationNotAvailable()
        ip_key = ip_sort_key(address)
    with transaction.atomic():
        server = _lock_server(server.pk)
        held = list(
            Allocation.objects.filter(server=server).only("id", "ip_key", "port", "is_primary")
        )
        if enforce_limit and len(held) >= server.allocation_limit:
            raise TooManyAllocations()
        primary = next((a for a in held if a.is_primary), None)
        make_primary = primary is None
        for _ in range(_CLAIM_ATTEMPTS):
            row = _pick(server=server, primary=primary, ip_key=ip_key, port=port)
            claimed = Allocation.objects.filter(pk=row.pk, server__isnull=True).update(
                server=server, notes=None, is_primary=make_primary
            )
            if claimed:
                break
            if ip_key is not None and port is not None:
                raise AllocationNotAvailable()
        else:
            # Every pick was lost to another claim: answer as if nothing had been free.
            if ip_key is None and port is None:
                raise NoAvailableAllocations()
            raise AllocationNotAvailable()
        row.server, row.server_id, row.notes, row.is_primary = server, server.pk, None, make_primary
        activity_log(
            event="server:allocation.create",
            server=server,
            actor=actor,
            properties={"allocation": row.address},
        )
    return row


def allocation_set_notes(*, allocation: Allocation, actor: Actor, notes: str | None) -> Allocation:
    """Set the notes (already cleaned: trimmed, empty as None). Logged only on a change."""
    with transaction.atomic():
        # OF self: a plain FOR UPDATE would also lock the joined server row, allocation row
        # first, against the protocol's order, and deadlock with set-primary or delete.
        row = (
            Allocation.objects.select_for_update(of=("self",))
            .filter(pk=allocation.pk, server_id=allocation.server_id)
            .select_related("server")
            .first()
        )
        if row is None or row.server_id is None:
            raise NotFound()
        old = row.notes
        if old != notes:
            Allocation.objects.filter(pk=row.pk).update(notes=notes)
            row.notes = notes
            activity_log(
                event="server:allocation.notes",
                server=row.server,
                actor=actor,
                properties={"allocation": row.address, "old": old, "new": notes},
            )
    return row


def _lock_server_and_row(allocation: Allocation) -> tuple[Server, Allocation]:
    """Lock the server, then re-read the allocation under that lock: it may have moved."""
    if allocation.server_id is None:
        raise NotFound()
    server = _lock_server(allocation.server_id)
    row = Allocation.objects.filter(pk=allocation.pk, server=server).first()
    if row is None:
        raise NotFound()
    return server, row


def allocation_set_primary(
    *, allocation: Allocation, actor: Actor, enforce_state: bool = True
) -> Allocation:
    with transaction.atomic():
        server, row = _lock_server_and_row(allocation)
        if enforce_state and server.state != PowerState.OFFLINE:
            raise ServerMustBeStoppedForPrimary()
        if row.is_primary:
            return row
        # Old primary off first: the partial unique index allows one primary at a time.
        Allocation.objects.filter(server=server, is_primary=True).update(is_primary=False)
        Allocation.objects.filter(pk=row.pk).update(is_primary=True)
        row.is_primary = True
        activity_log(
            event="server:allocation.primary",
            server=server,
            actor=actor,
            properties={"allocation": row.address},
        )
    return row


def allocation_unassign(*, allocation: Allocation, actor: Actor, enforce_state: bool = True):
    """Return the allocation to the node's pool, notes cleared. The row is never deleted."""
    with transaction.atomic():
        server, row = _lock_server_and_row(allocation)
        if row.is_primary:
            raise CannotDeletePrimaryAllocation()
        if enforce_state and server.state != PowerState.OFFLINE:
            raise ServerMustBeStoppedForRemoval()
        Allocation.objects.filter(pk=row.pk).update(server=None, notes=None, is_primary=False)
        activity_log(
            event="server:allocation.delete",
            server=server,
            actor=actor,
            properties={"allocation": row.address},
        )


def server_create(
    *,
    name: str,
    owner,
    primary: Allocation,
    allocation_limit: int,
    state: str = PowerState.OFFLINE,
    status: str = "active",
    actor: Actor | None = None,
) -> Server:
    """Create a server on `primary`'s node, holding `primary` (which must be free) as its
    primary allocation."""
    with transaction.atomic():
        row = Allocation.objects.select_for_update().filter(pk=primary.pk).first()
        if row is None or row.server_id is not None:
            raise AllocationNotAvailable()
        while True:
            server = Server(
                name=name,
                owner=owner,
                node_id=row.node_id,
                allocation_limit=allocation_limit,
                state=state,
                status=status,
            )
            server.identifier = str(server.uuid)[:8]
            # The identifier is the uuid's first 8 characters; a clash is rare but possible.
            if not Server.objects.filter(identifier=server.identifier).exists():
                break
        server.save()
        Allocation.objects.filter(pk=row.pk).update(server=server, notes=None, is_primary=True)
    return server
