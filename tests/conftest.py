import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from tests import factories


@pytest.fixture(autouse=True)
def _fresh_rate_limits():
    """Rate-limit counters live in the cache; every test starts with none."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Every test makes users; the production hasher would make most of the suite's time."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def pytest_collection_modifyitems(config, items):
    from django.db import connections

    vendor = connections["default"].vendor
    skip = pytest.mark.skip(
        reason="needs PostgreSQL: SQLite ignores row locks, so a race test there proves "
        "nothing (set DATABASE_URL=postgres://... to run it)"
    )
    for item in items:
        if "postgres" in item.keywords and vendor != "postgresql":
            item.add_marker(skip)


@pytest.fixture
def owner(db):
    return factories.make_user("owner")


@pytest.fixture
def server(owner):
    """An offline, active server: limit 5, primary 10.0.0.1:25565, pool of 10 ports."""
    return factories.make_server(owner)


@pytest.fixture
def owner_key(owner):
    return factories.make_key(owner)


@pytest.fixture
def api(owner_key):
    """An API client authenticated with the owner's bearer key."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {owner_key}")
    return client


def allocations_url(server, *parts) -> str:
    base = f"/api/client/servers/{server.identifier}/network/allocations"
    return "/".join([base, *map(str, parts)]) if parts else base
