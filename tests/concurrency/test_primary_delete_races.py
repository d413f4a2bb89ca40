"""Set-primary, delete (and notes updates) racing on one server never break "exactly one
primary", never fail with a 500, and never deadlock (which would answer 503)."""

import random

import pytest

from allocations.models import Allocation
from allocations.services import allocation_assign
from panel.activity import Actor
from tests import factories
from tests.concurrency.race import api_call, primaries_of, run_together
from tests.conftest import allocations_url

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

ROUNDS = 20
HELD_PER_ROUND = 4

ALLOWED = {
    "primary": {(200, None), (404, "NotFoundHttpException")},
    "delete": {
        (204, None),
        (400, "CannotDeletePrimaryAllocationException"),
        (404, "NotFoundHttpException"),
    },
    "notes": {(200, None), (404, "NotFoundHttpException")},
}


def _request(key, server, op, pk):
    if op == "primary":
        return api_call(key, "post", allocations_url(server, pk, "primary"))
    if op == "delete":
        return api_call(key, "delete", allocations_url(server, pk))
    return api_call(key, "post", allocations_url(server, pk), {"notes": f"note {pk}"})


@pytest.mark.parametrize(
    "kinds", [("primary", "delete"), ("primary", "delete", "notes")], ids=lambda k: "-".join(k)
)
def test_parallel_set_primary_and_delete_always_leave_exactly_one_primary(settings, kinds):
    # ~10 requests a round: keep the per-user rate limit out of the picture.
    settings.PANEL_API_RATE = "100000/min"
    owner = factories.make_user(password=None)
    server = factories.make_server(owner, limit=HELD_PER_ROUND, state="offline")
    key = factories.make_key(owner)
    actor = Actor(user=owner)
    rng = random.Random(20260101)

    for round_no in range(ROUNDS):
        while Allocation.objects.filter(server=server).count() < HELD_PER_ROUND:
            allocation_assign(server=server, actor=actor)
        held = list(Allocation.objects.filter(server=server).values_list("id", flat=True))
        # Every held allocation gets every kind of request, the current primary included,
        # plus a few repeats, all in a shuffled order.
        ops = [(kind, pk) for kind in kinds for pk in held]
        ops += [(rng.choice(kinds), rng.choice(held)) for _ in range(2)]
        rng.shuffle(ops)

        answers = run_together([_request(key, server, op, pk) for op, pk in ops])

        for (op, pk), answer in zip(ops, answers, strict=True):
            assert (answer.status, answer.code) in ALLOWED[op], (round_no, op, pk, answer)
        assert primaries_of(server) == 1, f"round {round_no}"
        assert Allocation.objects.filter(server=server).exists()
        for (op, pk), answer in zip(ops, answers, strict=True):
            if op == "primary" and answer.status == 200:
                # A 200 names the allocation it made primary.
                assert answer.body["attributes"]["id"] == pk
                assert answer.body["attributes"]["is_default"] is True
            if op == "delete" and answer.status == 204:
                # Deleted rows went back to the pool: free, not primary, notes cleared.
                row = Allocation.objects.get(pk=pk)
                assert (row.server_id, row.is_primary, row.notes) == (None, False, None)
