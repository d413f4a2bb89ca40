"""The activity log: who changed what, written inside the change's own transaction."""

from dataclasses import dataclass

from panel.client_ip import client_ip
from panel.models import ActivityEntry, ApiKey


@dataclass(frozen=True)
class Actor:
    """Who acts: the user, the API key used (if any), and the caller's address."""

    user: object
    api_key_identifier: str = ""
    ip: str | None = None

    @classmethod
    def from_request(cls, request) -> "Actor":
        auth = getattr(request, "auth", None)
        return cls(
            user=request.user,
            api_key_identifier=auth.identifier if isinstance(auth, ApiKey) else "",
            ip=client_ip(request),
        )


def activity_log(*, event: str, server, actor: Actor, properties: dict) -> ActivityEntry:
    user = actor.user if getattr(actor.user, "is_authenticated", False) else None
    return ActivityEntry.objects.create(
        event=event,
        server=server,
        actor=user,
        api_key_identifier=actor.api_key_identifier,
        ip=actor.ip,
        properties=properties,
    )
