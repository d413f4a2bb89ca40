"""Helpers shared by the client API contract tests."""

import json

import pytest
from rest_framework.test import APIClient

from allocations.models import Allocation
from panel.models import ActivityEntry
from tests import factories

NOT_FOUND = {
    "errors": [
        {
            "code": "NotFoundHttpException",
            "status": "404",
            "detail": "The requested resource could not be found.",
        }
    ]
}


def assert_error(response, status: int, code: str, detail: str | None = None) -> dict:
    """The response is the error envelope with this status and first code; returns it."""
    assert response.status_code == status, (response.status_code, response.content)
    assert response["Content-Type"].startswith("application/json"), response["Content-Type"]
    body = json.loads(response.content)
    assert list(body) == ["errors"], body
    first = body["errors"][0]
    assert first["code"] == code, body
    assert first["status"] == str(status), body
    if detail is not None:
        assert first["detail"] == detail, body
    return body


def bearer_client(token: str, **extra) -> APIClient:
    client = APIClient(**extra)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def snapshot() -> list[tuple]:
    """Every allocation row and the activity count: what a failed request must not change."""
    rows = list(
        Allocation.objects.order_by("id").values_list(
            "id", "server_id", "is_primary", "notes", "ip", "port"
        )
    )
    return [*rows, ("activity", ActivityEntry.objects.count())]


@pytest.fixture
def stranger(db):
    return factories.make_user("stranger")


@pytest.fixture
def stranger_api(stranger):
    return bearer_client(factories.make_key(stranger))


@pytest.fixture
def second(server):
    """A second, non-primary allocation the owner's server holds (10.0.0.1:25566)."""
    row = Allocation.objects.get(node=server.node, port=25566)
    Allocation.objects.filter(pk=row.pk).update(server=server)
    row.refresh_from_db()
    return row


# A fixed instant 15.3 s into a minute (and into an hour and a day): rate-limit windows are
# fixed, so a test whose requests straddled a window boundary would otherwise flake.
FROZEN_NOW = 86400 * 20000 + 43200 + 15.3


@pytest.fixture
def frozen_window():
    from types import SimpleNamespace
    from unittest import mock

    with mock.patch("panel.api.throttles.time", SimpleNamespace(time=lambda: FROZEN_NOW)):
        yield FROZEN_NOW
