"""The allocation item and list envelopes, keys in the spec's exact order. Plain dicts: the
list endpoint is a hot path and has nothing to validate on the way out."""

from allocations.models import Allocation
from allocations.selectors import AllocationRow


def allocation_item(allocation: Allocation | AllocationRow) -> dict:
    return {
        "object": "allocation",
        "attributes": {
            "id": allocation.id,
            "ip": allocation.ip,
            "ip_alias": allocation.ip_alias or None,
            "port": allocation.port,
            "notes": allocation.notes,
            "is_default": bool(allocation.is_primary),
        },
    }


def allocation_list(allocations: list[Allocation] | list[AllocationRow]) -> dict:
    return {"object": "list", "data": [allocation_item(a) for a in allocations]}
