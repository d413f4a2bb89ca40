"""Schemathesis against the API's own OpenAPI schema, in process (the Django WSGI app: no
socket at all), with a valid bearer key, a fixed seed and a bounded number of examples per
operation: no 5xx, no answer the schema does not declare (status, content type, headers,
body), and no cross-tenant access (another user's server, allocation or key is a 404).

Requests mutate the database as they go (allocations assigned and removed, power sent, keys
made): any state is fair game, every answer must still be a declared one."""

from types import SimpleNamespace

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from allocations.models import Allocation
from panel.models import ActivityEntry, ApiKey
from servers.models import Server
from tests import factories
from tests.api.conftest import NOT_FOUND

pytestmark = pytest.mark.django_db

SEED = 20261127
EXAMPLES_PER_OPERATION = 25
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    ignored_auth,  # the same request without (or with a wrong) key must not be served
]
FUZZ_SETTINGS = settings(
    max_examples=EXAMPLES_PER_OPERATION,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(autouse=True)
def _keep_the_test_transactions_connection():
    """The bare WSGI app closes "old" connections around each request, which on PostgreSQL
    would close the one holding the test's transaction; Django's own test client turns that
    off the same way."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def tenants(settings):
    """Two users, each with a key, a server holding three allocations and a free pool."""
    # Thousands of requests from one address and one user: the limits have tests of their own.
    settings.PANEL_API_RATE = "1000000/min"
    settings.PANEL_AUTH_FAILURE_RATE = "1000000/min"

    def tenant(name: str, ip: str):
        user = factories.make_user(f"fuzz-{name}")
        server = factories.make_server(user, limit=6, ip=ip, ports=range(25565, 25580))
        Allocation.objects.filter(node=server.node, port__in=[25566, 25567]).update(server=server)
        held = list(Allocation.objects.filter(server=server).order_by("id"))
        token = factories.make_key(user, description=f"fuzz {name}")
        return SimpleNamespace(user=user, server=server, held=held, token=token)

    return SimpleNamespace(me=tenant("me", "10.0.0.1"), them=tenant("them", "10.0.0.2"))


# Loaded once, at collection, from the app itself: the schema needs no database and no key.
SCHEMA = schemathesis.openapi.from_wsgi(
    "/api/schema",
    get_wsgi_application(),
    config=schemathesis.Config.from_dict(
        {
            "seed": SEED,
            "generation": {
                "max-examples": EXAMPLES_PER_OPERATION,
                "deterministic": True,
                # The key is ours to give (below), never a generated one.
                "with-security-parameters": False,
            },
            # One case at a time, each checked on its own: no stateful sequences.
            "phases": {"stateful": {"enabled": False}},
        }
    ),
)
# The operations that name a tenant's resource in their path, and those that name an
# allocation.
TENANT_OPERATIONS = SCHEMA.include(path_regex=r"\{(server|identifier)\}")
ALLOCATION_OPERATIONS = SCHEMA.include(path_regex=r"\{allocation\}")


def _as(case, tenant, **path) -> dict:
    """These path parameters where the path has them; the headers that carry `tenant`'s
    key, to send with the case and to hand to the checks (`ignored_auth` then knows the key
    is a real one and proves the answer changes without it)."""
    for name, value in path.items():
        if name in (case.path_parameters or {}):
            case.path_parameters[name] = value
    return {"Authorization": f"Bearer {tenant.token}"}


def _call_and_check(case, headers: dict):
    response = case.call(headers=headers)
    case.validate_response(response, checks=CHECKS, headers=headers)
    return response


def _assert_not_found(case, response):
    """404, the same body as for a server that does not exist; a method the path does not
    serve (the coverage phase sends some) is refused with 405 before any lookup."""
    if case.method.upper() != case.operation.method.upper():
        assert response.status_code == 405, (case.method, case.formatted_path, response.text)
        return
    assert response.status_code == 404, (case.method, case.formatted_path, response.text)
    assert response.json() == NOT_FOUND


def _state_of(tenant) -> tuple:
    """Everything of `tenant`'s that a request could change."""
    server = Server.objects.values_list("state", "status", "name").get(pk=tenant.server.pk)
    allocations = list(
        Allocation.objects.filter(node=tenant.server.node)
        .order_by("id")
        .values_list("id", "server_id", "is_primary", "notes")
    )
    keys = list(ApiKey.objects.filter(user=tenant.user).values_list("identifier", flat=True))
    activity = ActivityEntry.objects.filter(server=tenant.server).count()
    return server, allocations, keys, activity


@FUZZ_SETTINGS
@SCHEMA.parametrize()
def test_fuzz_with_my_own_server_finds_only_declared_answers(case, tenants):
    me = tenants.me
    headers = _as(case, me, server=me.server.identifier, allocation=me.held[1].id)

    _call_and_check(case, headers)


@FUZZ_SETTINGS
@SCHEMA.parametrize()
def test_fuzz_with_generated_path_parameters_finds_only_declared_answers(case, tenants):
    _call_and_check(case, _as(case, tenants.me))


@FUZZ_SETTINGS
@TENANT_OPERATIONS.parametrize()
def test_fuzz_never_reaches_another_users_server_or_key(case, tenants):
    them = tenants.them
    headers = _as(
        case,
        tenants.me,
        server=them.server.identifier,
        allocation=them.held[1].id,
        identifier=them.token[:16],
    )
    before = _state_of(them)

    response = _call_and_check(case, headers)

    _assert_not_found(case, response)
    assert _state_of(them) == before


@FUZZ_SETTINGS
@ALLOCATION_OPERATIONS.parametrize()
def test_fuzz_never_reaches_another_users_allocation_through_my_server(case, tenants):
    headers = _as(
        case, tenants.me, server=tenants.me.server.identifier, allocation=tenants.them.held[1].id
    )
    before = _state_of(tenants.them)

    response = _call_and_check(case, headers)

    _assert_not_found(case, response)
    assert _state_of(tenants.them) == before
