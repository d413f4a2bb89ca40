"""A few seconds of the load run's mixed workload (bench/load.py) against gunicorn: every
answer is the expected one and every guarantee holds. `make load` runs the same code for
two minutes with 50 users and publishes its latencies; this keeps that code honest in CI."""

import pytest
from django.db import connection

from bench import harness
from bench.load import OPERATIONS, check_database, run_load, seed_users

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_a_short_mixed_load_answers_only_what_is_expected_and_keeps_every_guarantee(
    app_servers,
):
    users = seed_users(6, limit=4, ports="20000-20099")
    with connection.cursor() as cursor:
        before = harness.baseline(cursor)
    app = app_servers(name="load", workers=2)

    result = run_load(base_url=app.url, users=users, duration=5.0, think=(0.0, 0.05))

    assert result.unexpected == []
    assert check_database(result, before) == []
    done = {operation for operation, _ in result.statuses}
    assert done == set(OPERATIONS), done  # every kind of request was made
    assert result.requests >= 50
