from panel.errors import ConflictingServerState, PanelError


class TooManyAllocations(PanelError):
    code, status = "TooManyAllocationsException", 400
    detail = "This server has reached its allocation limit."


class CannotDeletePrimaryAllocation(PanelError):
    code, status = "CannotDeletePrimaryAllocationException", 400
    detail = "Cannot remove the primary allocation. Set another allocation as primary first."


class ServerMustBeStoppedForPrimary(ConflictingServerState):
    detail = "Server must be stopped to change the primary allocation."


class ServerMustBeStoppedForRemoval(ConflictingServerState):
    detail = "Server must be stopped to remove allocations."


class AllocationNotAvailable(PanelError):
    code, status = "AllocationNotAvailableException", 409
    detail = "The requested allocation is not available or already in use."


class NoAvailableAllocations(PanelError):
    code, status = "NoAvailableAllocationsException", 503
    detail = "No available allocations found on this node."
