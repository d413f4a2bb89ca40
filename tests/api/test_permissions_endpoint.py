"""`GET /api/client/permissions`: every permission string, grouped, with descriptions, in
Pterodactyl's `system_permissions` shape."""

import pytest
from rest_framework.test import APIClient

from servers import permissions as perms
from tests.api.conftest import assert_error

pytestmark = pytest.mark.django_db

URL = "/api/client/permissions"


def test_permissions_are_grouped_with_descriptions(api):
    response = api.get(URL)

    assert response.status_code == 200
    body = response.json()
    assert body["object"] == "system_permissions"
    groups = body["attributes"]["permissions"]
    assert list(groups) == ["control", "allocation", "activity"]
    assert groups["control"]["keys"] == {
        "start": "Allows a user to start the server if it is stopped.",
        "stop": "Allows a user to stop a server if it is running.",
        "restart": "Allows a user to perform a server restart.",
    }
    assert list(groups["allocation"]["keys"]) == ["read", "create", "update", "delete"]
    for group in groups.values():
        assert isinstance(group["description"], str) and group["description"]
        assert all(isinstance(text, str) and text for text in group["keys"].values())


def test_permissions_name_every_string_a_subuser_can_hold_and_no_other(api):
    groups = api.get(URL).json()["attributes"]["permissions"]

    named = {f"{group}.{key}" for group, value in groups.items() for key in value["keys"]}

    assert named == perms.ALL_PERMISSIONS
    assert {"control.start", "allocation.read", "activity.read"} <= named


def test_permissions_need_credentials(db):
    assert_error(APIClient().get(URL), 401, "InvalidCredentialsException")


def test_permissions_answer_with_or_without_trailing_slash(api):
    assert api.get(URL + "/").json() == api.get(URL).json()


def test_permissions_serve_get_only(api):
    assert_error(api.post(URL, {}, format="json"), 405, "MethodNotAllowedHttpException")
