"""The benchmark's reference: a bare authenticated DRF view answering a constant allocation
list. Served only when the app runs with PANEL_BENCH=1 (bench/run.py sets it); panel/urls.py
never includes it otherwise, so production cannot serve it.

It authenticates exactly as the client API does (bearer key, the same authentication class)
and answers through the same middleware, renderer and DRF machinery, so the list endpoint's
throughput against this one is the cost of everything the endpoint itself does: the rate
limit, the scoped server lookup, the checks, the query and the envelope."""

from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from panel.api.authentication import ApiKeyAuthentication

# As many items as the server the benchmark lists (bench/run.py, LIST_SERVER_HOLDS).
CONSTANT_ITEMS = 5
CONSTANT_LIST = {
    "object": "list",
    "data": [
        {
            "object": "allocation",
            "attributes": {
                "id": 1000 + i,
                "ip": "127.0.0.1",
                "ip_alias": None,
                "port": 25565 + i,
                "notes": None,
                "is_default": i == 0,
            },
        }
        for i in range(CONSTANT_ITEMS)
    ],
}


class BareAllocationListView(APIView):
    authentication_classes = [ApiKeyAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request):
        return Response(CONSTANT_LIST)
