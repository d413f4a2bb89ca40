"""Subusers in the admin: permissions are checkboxes with their descriptions."""

import pytest

from servers.models import Subuser
from servers.permissions import ALL_PERMISSIONS, PERMISSION_GROUPS
from tests import factories

pytestmark = pytest.mark.django_db

LIST = "/admin/servers/subuser/"


def test_add_page_offers_every_permission_as_a_checkbox_with_its_description(admin_client):
    html = admin_client.get(f"{LIST}add/").content.decode()
    for group, names in PERMISSION_GROUPS.items():
        for name, description in names.items():
            assert f'type="checkbox" name="permissions" value="{group}.{name}"' in html
            assert description.replace("'", "&#x27;") in html
    assert "<textarea" not in html


def test_ticked_permissions_are_saved_as_a_list(admin_client, server):
    friend = factories.make_user("friend")
    response = admin_client.post(
        f"{LIST}add/",
        {
            "server": server.pk,
            "user": friend.pk,
            "permissions": ["allocation.read", "allocation.create"],
        },
    )
    assert response.status_code == 302, response.content[:3000]
    subuser = Subuser.objects.get(server=server, user=friend)
    assert subuser.permissions == ["allocation.create", "allocation.read"]


def test_an_unknown_permission_string_is_refused(admin_client, server):
    friend = factories.make_user("friend")
    response = admin_client.post(
        f"{LIST}add/", {"server": server.pk, "user": friend.pk, "permissions": ["allocation.*"]}
    )
    assert response.status_code == 200
    assert "Select a valid choice" in response.content.decode()
    assert not Subuser.objects.exists()


def test_the_owner_cannot_be_their_own_servers_subuser(admin_client, server):
    response = admin_client.post(
        f"{LIST}add/",
        {"server": server.pk, "user": server.owner_id, "permissions": ["allocation.read"]},
    )
    assert "The server&#x27;s owner cannot also be its subuser." in response.content.decode()
    assert not Subuser.objects.exists()


def test_change_page_ticks_the_subusers_permissions(admin_client, server):
    subuser = factories.make_subuser(server, factories.make_user("friend"), ["allocation.read"])
    html = admin_client.get(f"{LIST}{subuser.pk}/change/").content.decode()
    assert 'value="allocation.read" id="id_permissions_1_0" checked' in html
    assert 'value="allocation.create" id="id_permissions_1_1" checked' not in html
    assert len(ALL_PERMISSIONS) == html.count('name="permissions"')


def test_subusers_are_edited_on_the_servers_page_too(admin_client, server):
    factories.make_subuser(server, factories.make_user("friend"), ["activity.read"])
    html = admin_client.get(f"/admin/servers/server/{server.pk}/change/").content.decode()
    assert 'name="subusers-0-permissions" value="activity.read"' in html
    assert "Allows a user to view the activity logs for the server." in html


def test_subuser_list_shows_user_server_and_permissions(admin_client, server):
    factories.make_subuser(server, factories.make_user("friend"), ["allocation.read"])
    html = admin_client.get(LIST).content.decode()
    assert "friend" in html and server.name in html and "allocation.read" in html
