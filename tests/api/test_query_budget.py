"""The list endpoint's query budget: a fixed number of queries however many allocations the
server holds (no N+1), pinned exactly so that any new query is a deliberate change.

Each measured request comes after a warm-up request with the same key, so the key's
`last_used_at` write (at most once a minute) is not part of the count."""

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from allocations.models import Allocation
from servers import permissions as perms
from tests import factories
from tests.conftest import allocations_url

pytestmark = pytest.mark.django_db

# The owner's list request:
#   1. panel_apikey JOIN auth_user   - the bearer key and its user (select_related)
#   2. servers_server                - the server by identifier, among those visible to the
#                                      caller (owner OR subuser subquery, in one query)
#   3. allocations_allocation        - the server's allocations, ordered by id
# (the owner holds every permission: no permission query; rate limits live in the cache)
OWNER_LIST_QUERIES = 3
OWNER_TABLES = ["panel_apikey", "servers_server", "allocations_allocation"]

# A subuser's: the same, plus
#   3. servers_subuser               - the subuser's permission strings for this server
SUBUSER_LIST_QUERIES = 4
SUBUSER_TABLES = ["panel_apikey", "servers_server", "servers_subuser", "allocations_allocation"]

_FROM = re.compile(r'\bFROM\s+"?(\w+)"?', re.IGNORECASE)


def _tables(captured: CaptureQueriesContext) -> list[str]:
    """The table each captured query reads, in order (its first FROM)."""
    return [_FROM.search(q["sql"]).group(1) for q in captured.captured_queries]


def _client_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {factories.make_key(user)}")
    return client


def _server_holding(owner, count: int):
    """A server holding `count` allocations (its primary and count - 1 more)."""
    server = factories.make_server(owner, limit=count, ports=range(20000, 20000 + count))
    Allocation.objects.filter(node=server.node, server__isnull=True).update(server=server)
    assert Allocation.objects.filter(server=server).count() == count
    return server


def _measured_list(client: APIClient, server, expected_items: int) -> CaptureQueriesContext:
    warm_up = client.get(allocations_url(server))
    assert warm_up.status_code == 200
    with CaptureQueriesContext(connection) as captured:
        response = client.get(allocations_url(server))
    assert response.status_code == 200
    assert len(response.json()["data"]) == expected_items
    return captured


@pytest.fixture
def owner():
    return factories.make_user("budget-owner")


@pytest.fixture
def small(owner):
    return _server_holding(owner, 1)


@pytest.fixture
def large(owner):
    return _server_holding(owner, 500)


def test_owner_list_costs_the_same_queries_for_1_and_500_allocations(owner, small, large):
    client = _client_for(owner)

    one = _measured_list(client, small, 1)
    many = _measured_list(client, large, 500)

    assert len(one) == len(many) == OWNER_LIST_QUERIES
    assert _tables(one) == _tables(many) == OWNER_TABLES


def test_subuser_list_costs_one_permission_query_more_for_1_and_500_allocations(
    owner, small, large
):
    subuser = factories.make_user("budget-subuser")
    factories.make_subuser(small, subuser, [perms.ALLOCATION_READ])
    factories.make_subuser(large, subuser, [perms.ALLOCATION_READ])
    client = _client_for(subuser)

    one = _measured_list(client, small, 1)
    many = _measured_list(client, large, 500)

    assert len(one) == len(many) == SUBUSER_LIST_QUERIES
    assert _tables(one) == _tables(many) == SUBUSER_TABLES


def test_a_fresh_keys_first_list_adds_only_the_last_used_write(owner, large):
    client = _client_for(owner)

    with CaptureQueriesContext(connection) as first:
        response = client.get(allocations_url(large))

    assert response.status_code == 200
    # The owner's three reads, plus one UPDATE of panel_apikey.last_used_at after the key
    # lookup; the next request within the minute skips it (measured above).
    assert len(first) == OWNER_LIST_QUERIES + 1
    assert first.captured_queries[1]["sql"].lstrip().upper().startswith("UPDATE")
    assert "last_used_at" in first.captured_queries[1]["sql"]
