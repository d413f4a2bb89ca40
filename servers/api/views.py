"""Client endpoints about servers: list, detail, permissions, resources, power, activity."""

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from panel.activity import Actor
from panel.api.inputs import BODY_OBJECT
from panel.api.pagination import paginate
from panel.api.schema import (
    BODY_ERRORS,
    NO_CONTENT,
    RESPONSE_HEADERS,
    SERVER_PARAMETER,
    errors,
    page_parameters,
)
from panel.api.views import ClientApiView
from panel.errors import ValidationFailed
from panel.models import ActivityEntry
from servers import permissions as perms
from servers.api import schema
from servers.api.listing import servers_for_listing
from servers.api.serializers import activity_item, server_item, server_meta
from servers.models import ServerStatus, Subuser
from servers.selectors import (
    permissions_granted,
    server_get_for_user,
    server_permissions_for_user,
    server_require_any_permission,
    server_require_permission,
    server_require_usable,
)
from servers.services import CONTROL_PERMISSIONS, server_set_power

SERVER_LIST_PER_PAGE = 50
ACTIVITY_PER_PAGE = 25  # Pterodactyl's default for the activity log


class ServerListView(ClientApiView):
    http_method_names = ["get", "head"]

    @extend_schema(
        tags=["servers"],
        operation_id="client_servers_list",
        summary="The servers the caller owns or is a subuser of",
        description="Pterodactyl's list envelope with `meta.pagination`.",
        parameters=[
            *schema.LIST_PARAMETERS,
            *page_parameters(SERVER_LIST_PER_PAGE),
            *RESPONSE_HEADERS,
        ],
        responses={200: schema.ServerListSerializer, **errors()},
    )
    def get(self, request):
        user = request.user
        servers = servers_for_listing(
            user=user,
            list_type=request.query_params.get("type"),
            search=request.query_params.get("filter[*]"),
        ).prefetch_related(
            Prefetch("allocations", to_attr="held"),
            Prefetch("subusers", queryset=Subuser.objects.filter(user=user), to_attr="mine"),
        )

        def render(rows):
            return [
                server_item(
                    server,
                    user=user,
                    granted=_granted(server, user),
                    allocations=sorted(server.held, key=lambda a: a.pk),
                )
                for server in rows
            ]

        return Response(paginate(request, servers, render, default_per_page=SERVER_LIST_PER_PAGE))


def _granted(server, user) -> frozenset[str] | None:
    """Permissions from the prefetched subuser row: no query a server."""
    if user.is_superuser or server.owner_id == user.pk:
        return None
    mine = getattr(server, "mine", [])
    return permissions_granted(mine[0].permissions if mine else None)


class ServerDetailView(ClientApiView):
    http_method_names = ["get", "head"]

    @extend_schema(
        tags=["servers"],
        operation_id="client_server_retrieve",
        summary="One server, with the caller's permissions on it",
        description="Answers for suspended and installing servers too.",
        parameters=[SERVER_PARAMETER, *RESPONSE_HEADERS],
        responses={200: schema.ServerDetailSerializer, **errors(404)},
    )
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

    @extend_schema(
        tags=["servers"],
        operation_id="client_permissions_retrieve",
        summary="Every permission string a subuser can be given, grouped, with descriptions",
        description="Pterodactyl's `system_permissions` object.",
        parameters=RESPONSE_HEADERS,
        responses={200: schema.SystemPermissionsSerializer, **errors()},
    )
    def get(self, request):
        groups = {
            group: {"description": perms.GROUP_DESCRIPTIONS.get(group, ""), "keys": dict(keys)}
            for group, keys in perms.PERMISSION_GROUPS.items()
        }
        return Response({"object": "system_permissions", "attributes": {"permissions": groups}})


class ServerResourcesView(ClientApiView):
    http_method_names = ["get", "head"]

    @extend_schema(
        tags=["servers"],
        operation_id="client_server_resources_retrieve",
        summary="The server's recorded power state",
        description="Answers for suspended and installing servers too.",
        parameters=[SERVER_PARAMETER, *RESPONSE_HEADERS],
        responses={200: schema.StatsSerializer, **errors(404)},
    )
    def get(self, request, server: str):
        found = server_get_for_user(user=request.user, identifier=server)
        # No node daemon reports usage yet, so no usage figures are invented here: the
        # recorded power state is all that is known.
        return Response(
            {
                "object": "stats",
                "attributes": {
                    "current_state": found.state,
                    "is_suspended": found.status == ServerStatus.SUSPENDED,
                },
            }
        )


class ServerActivityView(ClientApiView):
    http_method_names = ["get", "head"]

    @extend_schema(
        tags=["servers"],
        operation_id="client_server_activity_list",
        summary="The server's activity log, newest first (permission activity.read)",
        description="Pterodactyl's `activity_log` items, paginated.",
        parameters=[
            SERVER_PARAMETER,
            *schema.ACTIVITY_PARAMETERS,
            *page_parameters(ACTIVITY_PER_PAGE),
            *RESPONSE_HEADERS,
        ],
        responses={200: schema.ActivityLogListSerializer, **errors(400, 404)},
    )
    def get(self, request, server: str):
        found = server_get_for_user(user=request.user, identifier=server)
        # As Pterodactyl: of a server's own endpoints only detail and resources answer for
        # a suspended or installing server.
        server_require_usable(server=found)
        server_require_permission(server=found, user=request.user, permission=perms.ACTIVITY_READ)
        entries = ActivityEntry.objects.filter(server=found)
        event = request.query_params.get("filter[event]")
        if event:
            # No event holds a NUL (PostgreSQL text cannot): such a filter matches nothing.
            entries = (
                entries.filter(event__icontains=event) if "\x00" not in event else entries.none()
            )
        if request.query_params.get("sort") == "timestamp":
            entries = entries.order_by("created_at", "id")
        else:
            entries = entries.order_by("-created_at", "-id")
        return Response(
            paginate(
                request,
                entries,
                lambda rows: [activity_item(e, viewer=request.user) for e in rows],
                default_per_page=ACTIVITY_PER_PAGE,
            )
        )


class ServerPowerView(ClientApiView):
    http_method_names = ["post"]

    @extend_schema(
        tags=["servers"],
        operation_id="client_server_power_create",
        summary="Send a power signal: the server's recorded state changes",
        description="`start` needs control.start, `stop` and `kill` control.stop, `restart` "
        "control.restart. A suspended or installing server answers 400.",
        parameters=[SERVER_PARAMETER, *RESPONSE_HEADERS],
        request=schema.PowerRequestSerializer,
        responses={204: NO_CONTENT, **errors(404, *BODY_ERRORS)},
    )
    def post(self, request, server: str):
        found = server_get_for_user(user=request.user, identifier=server)
        server_require_usable(server=found)
        # The permission before the body (spec section 5): which one depends on the signal,
        # but a caller holding none of them is refused whatever the body says.
        server_require_any_permission(
            server=found, user=request.user, permissions=CONTROL_PERMISSIONS
        )
        data = request.data
        if not hasattr(data, "get"):
            raise ValidationFailed([BODY_OBJECT])
        server_set_power(server=found, actor=Actor.from_request(request), signal=data.get("signal"))
        return Response(status=204)
