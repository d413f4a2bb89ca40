"""The port test and health endpoints: the checks of the other network endpoints, in the
same order (server 404, allocation 404, status 400, permission 403), then the test's own
per-server rate limit (429, in the service, so every path to a test has it). Neither reads
the body: the target is the allocation's own address, always."""

from drf_spectacular.utils import extend_schema
from rest_framework.response import Response

from allocations.api.schema import ALLOCATION_PARAMETER
from allocations.selectors import allocation_get_for_server
from monitoring.api import schema
from monitoring.api.serializers import allocation_health_item, allocation_test_item
from monitoring.selectors import allocation_health
from monitoring.services import allocation_port_test
from panel.api.schema import RESPONSE_HEADERS, SERVER_PARAMETER, errors
from panel.api.views import ClientApiView
from servers import permissions as perms
from servers.selectors import (
    server_get_for_user,
    server_require_permission,
    server_require_usable,
)

_ON_ALLOCATION = [SERVER_PARAMETER, ALLOCATION_PARAMETER, *RESPONSE_HEADERS]


class _AllocationView(ClientApiView):
    def allocation_for(self, request, server: str, allocation: str):
        """The network endpoints' order: server 404, allocation 404 (only among the
        server's own), status 400, permission 403."""
        found = server_get_for_user(user=request.user, identifier=server)
        row = allocation_get_for_server(server=found, allocation_id=allocation)
        server_require_usable(server=found)
        server_require_permission(server=found, user=request.user, permission=perms.ALLOCATION_READ)
        return row


class AllocationTestView(_AllocationView):
    http_method_names = ["post"]

    @extend_schema(
        tags=["network"],
        operation_id="client_server_allocation_test",
        summary="Test now whether the allocation's port accepts TCP connections "
        "(permission allocation.read)",
        description="One TCP connection to the allocation's own ip:port, with a short "
        "timeout; any body is ignored. At most PANEL_PORT_TEST_RATE (default 10/min) a "
        "server (429 past it). The result is recorded like a monitor check.",
        parameters=_ON_ALLOCATION,
        request=None,
        responses={200: schema.AllocationTestSerializer, **errors(400, 404)},
    )
    def post(self, request, server: str, allocation: str):
        row = self.allocation_for(request, server, allocation)
        return Response(allocation_test_item(allocation_port_test(allocation=row)))


class AllocationHealthView(_AllocationView):
    http_method_names = ["get", "head"]

    @extend_schema(
        tags=["network"],
        operation_id="client_server_allocation_health",
        summary="The allocation's monitored status, uptime and latency "
        "(permission allocation.read)",
        description="`status` up, down or unknown (never checked); uptimes are percentages "
        "of the checks in the window, null without checks; `latency_24h` oldest first.",
        parameters=_ON_ALLOCATION,
        responses={200: schema.AllocationHealthSerializer, **errors(400, 404)},
    )
    def get(self, request, server: str, allocation: str):
        row = self.allocation_for(request, server, allocation)
        return Response(allocation_health_item(allocation_health(allocation=row)))
