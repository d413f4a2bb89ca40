"""Writes to a server itself. Framework-free: the HTMX views and the API call the same code.

The panel records the power state a signal leads to; it drives no daemon. What matters is
that the state is changed under the server row's lock, the same lock every allocation write
takes first, so "stop, then change the primary" can never interleave with a start."""

from django.db import transaction

from panel.activity import Actor, activity_log
from panel.errors import FieldError, ValidationFailed
from servers.models import PowerState, Server
from servers.selectors import (
    server_require_any_permission,
    server_require_permission,
    server_require_usable,
)

SIGNALS: dict[str, tuple[str, str]] = {
    # signal: (permission needed, the state it leads to)
    "start": ("control.start", PowerState.RUNNING),
    "stop": ("control.stop", PowerState.OFFLINE),
    "restart": ("control.restart", PowerState.RUNNING),
    # Kill is a harder stop: Pterodactyl guards it with the stop permission.
    "kill": ("control.stop", PowerState.OFFLINE),
}

CONTROL_PERMISSIONS = frozenset(permission for permission, _ in SIGNALS.values())

SIGNAL_INVALID = FieldError("signal", "in", "The selected signal is invalid.")


def server_set_power(*, server: Server, actor: Actor, signal: str) -> Server:
    """Send a power signal: record the state it leads to and log `server:power.<signal>`.

    Checks, first failure wins (the API's order: permission before body): the server is
    neither suspended nor installing (400); a valid signal needs its own permission (403);
    a signal that is not one of start, stop, restart, kill is 403 for an actor holding no
    control permission at all, else 422."""
    with transaction.atomic():
        # NO KEY UPDATE, as the allocation services take it: one writer per server at a time.
        locked = Server.objects.select_for_update(no_key=True).get(pk=server.pk)
        server_require_usable(server=locked)
        if not isinstance(signal, str) or signal not in SIGNALS:
            server_require_any_permission(
                server=locked, user=actor.user, permissions=CONTROL_PERMISSIONS
            )
            raise ValidationFailed([SIGNAL_INVALID])
        permission, new_state = SIGNALS[signal]
        server_require_permission(server=locked, user=actor.user, permission=permission)
        if locked.state != new_state:
            Server.objects.filter(pk=locked.pk).update(state=new_state)
            locked.state = new_state
        activity_log(event=f"server:power.{signal}", server=locked, actor=actor, properties={})
    return locked
