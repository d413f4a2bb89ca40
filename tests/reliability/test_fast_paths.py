"""The hot paths `make bench` measured and made faster answer exactly as before:

- the scoped server lookup, written out as one SQL statement, finds exactly what
  `ServerQuerySet.visible_to` (the rule's definition) allows, with the same field values;
- the list endpoint's rows, read without model instances, make the same envelope;
- on Redis, the per-user rate limit counts every request in one command (a script doing
  INCR, and EXPIRE on the first count) and still refuses the request over the limit."""

import uuid

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.test import override_settings

from allocations.api.serializers import allocation_list
from allocations.models import Allocation
from allocations.selectors import allocation_list_for_server, allocation_rows_for_server
from allocations.services import allocation_assign, allocation_set_notes
from bench.harness import PrivateRedis
from panel.activity import Actor
from panel.errors import NotFound
from servers.models import Server
from servers.selectors import server_get_for_user
from tests import factories
from tests.conftest import allocations_url

pytestmark = pytest.mark.django_db


def _fields(server: Server) -> dict:
    return {f.attname: getattr(server, f.attname) for f in Server._meta.concrete_fields}


@pytest.fixture
def people(server, owner):
    subuser = factories.make_user("helper", password=None)
    factories.make_subuser(server, subuser, ["allocation.read"])
    inactive = factories.make_user("gone", password=None, is_active=False)
    factories.make_subuser(server, inactive, ["allocation.read"])
    return {
        "owner": owner,
        "subuser": subuser,
        "stranger": factories.make_user("stranger", password=None),
        "superuser": factories.make_user("root", password=None, is_superuser=True),
        "inactive subuser": inactive,
        "anonymous": AnonymousUser(),
    }


@pytest.mark.parametrize(
    "who", ["owner", "subuser", "stranger", "superuser", "inactive subuser", "anonymous"]
)
@pytest.mark.parametrize("named_by", ["identifier", "IDENTIFIER", "uuid", "UUID"])
def test_the_written_out_server_lookup_finds_exactly_what_visible_to_allows(
    people, server, who, named_by
):
    factories.make_server(factories.make_user(password=None))  # someone else's, never found
    user = people[who]
    name = str(server.uuid) if named_by.lower() == "uuid" else server.identifier
    name = name.upper() if named_by.isupper() else name
    lookup = {"uuid": uuid.UUID(name.lower())} if len(name) == 36 else {"identifier": name.lower()}
    expected = Server.objects.visible_to(user).filter(**lookup).first()

    try:
        found = server_get_for_user(user=user, identifier=name)
    except NotFound:
        found = None

    assert (found is None) == (expected is None)
    assert (found is not None) == (who in ("owner", "subuser", "superuser"))
    if found is not None:
        assert _fields(found) == _fields(expected)
        assert isinstance(found.uuid, uuid.UUID) and found.created_at.tzinfo is not None
        assert not found._state.adding and found._state.db == connection.alias


def test_the_written_out_list_rows_make_the_same_envelope_as_the_orm(owner):
    node = factories.make_node()
    factories.make_pool(node, ip="10.0.0.1", ports=range(25565, 25570), alias="play.example")
    factories.make_pool(node, ip="2001:db8::1", ports=range(25565, 25570))
    server = factories.make_server(owner, node=node, limit=10)
    for _ in range(7):
        allocation_assign(server=server, actor=Actor(user=owner), ip=None)
    allocation_assign(server=server, actor=Actor(user=owner), ip="2001:db8::1")
    row = Allocation.objects.filter(server=server, is_primary=False).last()
    allocation_set_notes(allocation=row, actor=Actor(user=owner), notes="with notes")

    rows = allocation_rows_for_server(server=server)

    assert allocation_list(rows) == allocation_list(allocation_list_for_server(server=server))
    assert [r.id for r in rows] == sorted(r.id for r in rows)
    assert len(rows) == 9


@pytest.fixture
def redis_cache():
    """The default cache on a Redis of this test's own (never a shared one: the suite clears
    the cache around every test). Back to the memory cache before that Redis stops."""
    redis = PrivateRedis().start()
    if not redis.url:
        pytest.skip("redis-server is not installed: the Redis path cannot be run here")
    backend = {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis.url}
    try:
        with override_settings(CACHES={"default": backend}):
            yield redis.url
    finally:
        redis.stop()


def _command_calls(url: str) -> dict[str, int]:
    import redis

    stats = redis.Redis.from_url(url).info("commandstats")
    return {name.removeprefix("cmdstat_"): value["calls"] for name, value in stats.items()}


def test_on_redis_the_user_rate_limit_counts_each_request_in_one_round_trip(
    redis_cache, settings, api, server
):
    settings.PANEL_API_RATE = "3/min"

    answers = [api.get(allocations_url(server)) for _ in range(4)]

    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[3].json()["errors"][0]["code"] == "TooManyRequestsHttpException"
    assert 1 <= int(answers[3]["Retry-After"]) <= 60
    calls = _command_calls(redis_cache)
    assert calls.get("incr") == 4  # each request counted once, by the script
    # One command a request (the first finds Redis without the script and loads it).
    assert calls.get("evalsha") == 4 + calls.get("script|load", 0)
    assert "exists" not in calls and "incrby" not in calls  # Django's own add + incr
    import redis

    client = redis.Redis.from_url(redis_cache)
    (key,) = [k for k in client.keys("*rl:user:*")]
    assert int(client.get(key)) == 4
    assert 0 < client.ttl(key) <= 61
