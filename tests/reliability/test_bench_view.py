"""The benchmark's bare reference view (bench/views.py) exists only in a process started
with PANEL_BENCH=1: the app as deployed never serves it."""

import pytest
from rest_framework.test import APIClient

from bench import harness
from tests import factories


@pytest.mark.django_db
def test_the_bench_view_is_not_served_without_panel_bench(api):
    response = api.get("/api/bench/bare-allocations")
    assert response.status_code == 404
    assert response.json()["errors"][0]["code"] == "NotFoundHttpException"
    assert APIClient().get("/api/bench/bare-allocations").status_code == 404


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_with_panel_bench_the_bench_view_answers_only_with_a_valid_key(app_servers):
    token = factories.make_key(factories.make_user(password=None))
    app = app_servers(name="bench", workers=1, env={"PANEL_BENCH": "1"})
    url = app.url + "/api/bench/bare-allocations"

    answer = harness.request("GET", url, token=token)
    assert answer.status == 200
    assert answer.body["object"] == "list" and len(answer.body["data"]) == 5
    refused = harness.request("GET", url)
    assert refused.status == 401 and refused.is_envelope
