"""405 answers name the allowed methods; account key changes are in the activity log."""

from panel.models import ActivityEntry
from tests.api.conftest import assert_error
from tests.conftest import allocations_url


def test_405_lists_the_methods_the_path_serves_in_allow(api, server):
    response = api.put(allocations_url(server))
    assert_error(response, 405, "MethodNotAllowedHttpException")
    allowed = {m.strip() for m in response["Allow"].split(",")}
    assert allowed == {"GET", "POST", "HEAD"}


def test_405_on_an_allocation_path_allows_only_post_and_delete(api, server):
    response = api.get(allocations_url(server, 1))
    assert_error(response, 405, "MethodNotAllowedHttpException")
    assert {m.strip() for m in response["Allow"].split(",")} == {"POST", "DELETE"}


def test_creating_and_deleting_an_account_key_writes_activity_entries(api, owner):
    created = api.post(
        "/api/client/account/api-keys", {"description": "bot", "allowed_ips": []}, format="json"
    )
    assert created.status_code == 200
    identifier = created.json()["attributes"]["identifier"]
    deleted = api.delete(f"/api/client/account/api-keys/{identifier}")
    assert deleted.status_code == 204
    events = list(
        ActivityEntry.objects.filter(actor=owner, server=None)
        .order_by("id")
        .values_list("event", "properties")
    )
    assert events == [
        ("user:api-key.create", {"identifier": identifier}),
        ("user:api-key.delete", {"identifier": identifier}),
    ]
    assert all(identifier + "x" not in str(p) for _, p in events)


def test_a_refused_key_deletion_writes_no_activity(api, owner):
    response = api.delete("/api/client/account/api-keys/ptlc_AAAAAAAAAAA")
    assert_error(response, 404, "NotFoundHttpException")
    assert not ActivityEntry.objects.filter(event__startswith="user:api-key").exists()
