"""The five network endpoints. Thin: look up, check, validate, call a service, render."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from allocations import services
from allocations.api import schema
from allocations.api.inputs import NOTES_MISSING, Body, parse_create, parse_notes
from allocations.api.serializers import allocation_item, allocation_list
from allocations.selectors import allocation_get_for_server, allocation_rows_for_server
from panel.activity import Actor
from panel.api.schema import (
    BODY_ERRORS,
    NO_CONTENT,
    RESPONSE_HEADERS,
    SERVER_PARAMETER,
    errors,
)
from panel.api.views import ClientApiView
from servers import permissions as perms
from servers.selectors import (
    server_get_for_user,
    server_require_permission,
    server_require_usable,
)


class _NetworkView(ClientApiView):
    def server_for(self, request, server: str, permission: str):
        found = server_get_for_user(user=request.user, identifier=server)
        server_require_usable(server=found)
        server_require_permission(server=found, user=request.user, permission=permission)
        return found

    def allocation_for(self, request, server: str, allocation: str, permission: str):
        found = server_get_for_user(user=request.user, identifier=server)
        row = allocation_get_for_server(server=found, allocation_id=allocation)
        server_require_usable(server=found)
        server_require_permission(server=found, user=request.user, permission=permission)
        return found, row


_ON_SERVER = [SERVER_PARAMETER, *RESPONSE_HEADERS]
_ON_ALLOCATION = [SERVER_PARAMETER, schema.ALLOCATION_PARAMETER, *RESPONSE_HEADERS]


class AllocationListView(_NetworkView):
    @extend_schema(
        tags=["network"],
        operation_id="client_server_allocations_list",
        summary="Every allocation the server holds, by id (permission allocation.read)",
        description="Ordered by id, the primary included.",
        parameters=_ON_SERVER,
        responses={200: schema.AllocationListSerializer, **errors(400, 404)},
    )
    def get(self, request, server: str):
        found = self.server_for(request, server, perms.ALLOCATION_READ)
        return Response(allocation_list(allocation_rows_for_server(server=found)))

    @extend_schema(
        tags=["network"],
        operation_id="client_server_allocations_create",
        summary="Assign a free allocation of the server's node (permission allocation.create)",
        description="With `ip` and/or `port`, that free allocation (409 if none); with "
        "neither, the next available one (503 if the node has none free). 400 at the "
        "allocation limit.",
        parameters=_ON_SERVER,
        request=schema.AllocationCreateRequestSerializer,
        responses={200: schema.AllocationSerializer, **errors(404, 409, *BODY_ERRORS)},
    )
    def post(self, request, server: str):
        found = self.server_for(request, server, perms.ALLOCATION_CREATE)
        data = parse_create(Body.from_request(request))
        allocation = services.allocation_assign(
            server=found, actor=Actor.from_request(request), ip=data.ip, port=data.port
        )
        return Response(allocation_item(allocation))


class AllocationDetailView(_NetworkView):
    http_method_names = ["post", "delete"]

    @extend_schema(
        tags=["network"],
        operation_id="client_server_allocation_notes_update",
        summary="Set an allocation's notes (permission allocation.update)",
        description="Absent `notes` changes nothing; a string is trimmed and an empty "
        "result stored as null.",
        parameters=_ON_ALLOCATION,
        request=schema.AllocationNotesRequestSerializer,
        responses={200: schema.AllocationSerializer, **errors(404, *BODY_ERRORS)},
    )
    def post(self, request, server: str, allocation: str):
        _, row = self.allocation_for(request, server, allocation, perms.ALLOCATION_UPDATE)
        notes = parse_notes(Body.from_request(request))
        if notes is not NOTES_MISSING:
            row = services.allocation_set_notes(
                allocation=row, actor=Actor.from_request(request), notes=notes
            )
        return Response(allocation_item(row))

    @extend_schema(
        tags=["network"],
        operation_id="client_server_allocation_destroy",
        summary="Return an allocation to the pool (permission allocation.delete)",
        description="Not the primary, and only while the server is offline (400 "
        "otherwise); its notes are cleared.",
        parameters=_ON_ALLOCATION,
        responses={204: NO_CONTENT, **errors(400, 404)},
    )
    def delete(self, request, server: str, allocation: str):
        _, row = self.allocation_for(request, server, allocation, perms.ALLOCATION_DELETE)
        services.allocation_unassign(allocation=row, actor=Actor.from_request(request))
        return Response(status=204)


class AllocationPrimaryView(_NetworkView):
    http_method_names = ["post"]

    @extend_schema(
        tags=["network"],
        operation_id="client_server_allocation_primary_update",
        summary="Make an allocation the primary (permission allocation.update)",
        description="Only while the server is offline (400 otherwise). Takes no body.",
        parameters=_ON_ALLOCATION,
        request=None,
        responses={200: schema.AllocationSerializer, **errors(400, 404)},
    )
    def post(self, request, server: str, allocation: str):
        _, row = self.allocation_for(request, server, allocation, perms.ALLOCATION_UPDATE)
        row = services.allocation_set_primary(allocation=row, actor=Actor.from_request(request))
        return Response(allocation_item(row))
