"""The five network endpoints. Thin: look up, check, validate, call a service, render."""

from rest_framework.response import Response

from allocations import services
from allocations.api.inputs import NOTES_MISSING, Body, parse_create, parse_notes
from allocations.api.serializers import allocation_item, allocation_list
from allocations.selectors import allocation_get_for_server, allocation_list_for_server
from panel.activity import Actor
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


class AllocationListView(_NetworkView):
    def get(self, request, server: str):
        found = self.server_for(request, server, perms.ALLOCATION_READ)
        return Response(allocation_list(allocation_list_for_server(server=found)))

    def post(self, request, server: str):
        found = self.server_for(request, server, perms.ALLOCATION_CREATE)
        data = parse_create(Body.from_request(request))
        allocation = services.allocation_assign(
            server=found, actor=Actor.from_request(request), ip=data.ip, port=data.port
        )
        return Response(allocation_item(allocation))


class AllocationDetailView(_NetworkView):
    http_method_names = ["post", "delete"]

    def post(self, request, server: str, allocation: str):
        _, row = self.allocation_for(request, server, allocation, perms.ALLOCATION_UPDATE)
        notes = parse_notes(Body.from_request(request))
        if notes is not NOTES_MISSING:
            row = services.allocation_set_notes(
                allocation=row, actor=Actor.from_request(request), notes=notes
            )
        return Response(allocation_item(row))

    def delete(self, request, server: str, allocation: str):
        _, row = self.allocation_for(request, server, allocation, perms.ALLOCATION_DELETE)
        services.allocation_unassign(allocation=row, actor=Actor.from_request(request))
        return Response(status=204)


class AllocationPrimaryView(_NetworkView):
    http_method_names = ["post"]

    def post(self, request, server: str, allocation: str):
        _, row = self.allocation_for(request, server, allocation, perms.ALLOCATION_UPDATE)
        row = services.allocation_set_primary(allocation=row, actor=Actor.from_request(request))
        return Response(allocation_item(row))
