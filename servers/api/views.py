"""Client endpoints about servers: list, detail, permissions, resources, power, activity."""

from django.db.models import Prefetch
from rest_framework.response import Response

from allocations.api.inputs import BODY_OBJECT
from panel.activity import Actor
from panel.api.pagination import paginate
from panel.api.views import ClientApiView
from panel.errors import ValidationFailed
from panel.models import ActivityEntry
from servers import permissions as perms
from servers.api.listing import servers_for_listing
from servers.api.serializers import activity_item, server_item, server_meta
from servers.models import Subuser
from servers.selectors import (
    permissions_granted,
    server_get_for_user,
    server_permissions_for_user,
    server_require_permission,
    server_require_usable,
)
from servers.services import server_set_power


def _allocations_of(server) -> list:
    return sorted(server.allocations.all(), key=lambda a: a.pk)


class ServerListView(ClientApiView):
    http_method_names = ["get", "head"]

    def get(self, request):
        user = request.user
        servers = servers_for_listing(
            user=user,
            list_type=request.query_params.get("type"),
            search=request.query_params.get("filter[*]"),
        ).prefetch_related(
            "allocations",
            Prefetch("subusers", queryset=Subuser.objects.filter(user=user), to_attr="mine"),
        )

        def render(rows):
            items = []
            for server in rows:
                granted = _granted(server, user)
                items.append(
                    server_item(
                        server, user=user, granted=granted, allocations=_allocations_of(server)
                    )
                )
            return items

        return Response(paginate(request, servers, render))


def _granted(server, user) -> frozenset[str] | None:
    """Permissions from the prefetched subuser row: no query a server."""
    if user.is_superuser or server.owner_id == user.pk:
        return None
    mine = getattr(server, "mine", [])
    return permissions_granted(mine[0].permissions if mine else None)


class ServerDetailView(ClientApiView):
    http_method_names = ["get", "head"]

    def get(self, request, server: str):
        found = server_get_for_user(user=request.user, identifier=server)
        granted = server_permissions_for_user(server=found, user=request.user)
        item = server_item(
            found,
            user=request.user,
            granted=granted,
            allocations=list(found.allocations.order_by("id")),
        )
        item["meta"] = server_meta(found, user=request.user, granted=granted)
        return Response(item)


class PermissionsView(ClientApiView):
    http_method_names = ["get", "head"]

    def get(self, request):
        groups = {
            group: {"description": perms.GROUP_DESCRIPTIONS.get(group, ""), "keys": dict(keys)}
            for group, keys in perms.PERMISSION_GROUPS.items()
        }
        return Response({"object": "system_permissions", "attributes": {"permissions": groups}})


class ServerResourcesView(ClientApiView):
    http_method_names = ["get", "head"]

    def get(self, request, server: str):
        found = server_get_for_user(user=request.user, identifier=server)
        # No node daemon reports usage yet, so no usage figures are invented here: the
        # recorded power state is all that is known.
        return Response(
            {
                "object": "stats",
                "attributes": {
                    "current_state": found.state,
                    "is_suspended": found.status == "suspended",
                },
            }
        )


class ServerActivityView(ClientApiView):
    http_method_names = ["get", "head"]

    def get(self, request, server: str):
        found = server_get_for_user(user=request.user, identifier=server)
        server_require_permission(server=found, user=request.user, permission=perms.ACTIVITY_READ)
        entries = ActivityEntry.objects.filter(server=found).order_by("-created_at", "-id")
        return Response(
            paginate(
                request,
                entries,
                lambda rows: [activity_item(e, viewer=request.user) for e in rows],
            )
        )


class ServerPowerView(ClientApiView):
    http_method_names = ["post"]

    def post(self, request, server: str):
        found = server_get_for_user(user=request.user, identifier=server)
        server_require_usable(server=found)
        data = request.data
        if not hasattr(data, "get"):
            raise ValidationFailed([BODY_OBJECT])
        server_set_power(server=found, actor=Actor.from_request(request), signal=data.get("signal"))
        return Response(status=204)
