"""The "add to IP pool" page of a node: parsing, every bad entry named, nothing written on
error, existing pairs skipped and counted."""

import pytest
from django.contrib.admin.models import LogEntry
from django.core.management import call_command
from django.core.management.base import CommandError

from allocations.models import Allocation
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def node(db):
    return factories.make_node("pool-node")


def _url(node):
    return f"/admin/servers/node/{node.pk}/pool/"


def _add(client, node, ip, ports, alias="", follow=True):
    return client.post(_url(node), {"ip": ip, "ports": ports, "alias": alias}, follow=follow)


def _messages(response) -> list[str]:
    return [str(m) for m in response.context["messages"]]


def _form_errors(response) -> list[str]:
    form = response.context["form"]
    return [message for messages in form.errors.values() for message in messages]


def test_pool_page_shows_the_form_with_its_help(admin_client, node):
    response = admin_client.get(_url(node))
    assert response.status_code == 200
    html = response.content.decode()
    for name in ("ip", "ports", "alias"):
        assert f'name="{name}"' in html
    assert "25565, 25570-25580 27015" in html
    assert "IPv4 /16 to /32 and IPv6 /112 to /128" in html
    assert "The pool is empty." in html


def test_node_page_links_to_its_pool_page(admin_client, node):
    html = admin_client.get(f"/admin/servers/node/{node.pk}/change/").content.decode()
    assert f'href="{_url(node)}"' in html


def test_ports_and_ranges_separated_by_commas_or_spaces_are_all_added(admin_client, node):
    response = _add(admin_client, node, "203.0.113.10", "25565, 25570-25580 27015", "play.test")
    assert response.redirect_chain[-1][0] == _url(node)
    ports = sorted(Allocation.objects.filter(node=node).values_list("port", flat=True))
    assert ports == [25565, *range(25570, 25581), 27015]
    assert set(Allocation.objects.values_list("ip", "ip_alias")) == {("203.0.113.10", "play.test")}
    assert any(
        "Added 13 allocations to pool-node; 0 already existed and were skipped." in m
        for m in _messages(response)
    )


def test_rows_added_in_bulk_sort_by_address_like_rows_saved_one_by_one(admin_client, node):
    _add(admin_client, node, "10.0.0.10 10.0.0.9 ::1", "80")
    ordered = list(Allocation.objects.filter(node=node).order_by("ip_key").values_list("ip"))
    assert ordered == [("10.0.0.9",), ("10.0.0.10",), ("::1",)]


def test_existing_pairs_are_skipped_and_counted_not_refused(admin_client, node):
    _add(admin_client, node, "10.0.0.1", "100-104")
    response = _add(admin_client, node, "10.0.0.1", "103-107")
    assert Allocation.objects.filter(node=node).count() == 8
    assert any(
        "Added 3 allocations to pool-node; 2 already existed and were skipped." in m
        for m in _messages(response)
    )


def test_a_cidr_block_adds_every_address_of_it(admin_client, node):
    _add(admin_client, node, "192.0.2.0/30, 2001:db8::/127", "27015 27016")
    ips = set(Allocation.objects.filter(node=node).values_list("ip", flat=True))
    assert ips == {"192.0.2.0", "192.0.2.1", "192.0.2.2", "192.0.2.3", "2001:db8::", "2001:db8::1"}
    assert Allocation.objects.filter(node=node).count() == 12


def test_every_malformed_entry_is_named_and_nothing_is_written(admin_client, node):
    response = _add(
        admin_client,
        node,
        "10.0.0.1 10.0.0.0/8 not-an-ip 2001:db8::/64",
        "25565 70000 abc 30-20",
        follow=False,
    )
    assert response.status_code == 200
    errors = _form_errors(response)
    text = " | ".join(errors)
    assert "`10.0.0.0/8` is too large a block" in text
    assert "`not-an-ip` is not an IP address or CIDR block" in text
    assert "`2001:db8::/64` is too large a block" in text
    assert "`70000` is not a port" in text
    assert "`abc` is not a port" in text
    assert "`30-20` is a reversed range" in text
    assert "Nothing was added" in response.content.decode()
    assert not Allocation.objects.exists()


def test_errors_show_beside_their_own_field(admin_client, node):
    response = _add(admin_client, node, "10.0.0.300", "0", follow=False)
    form = response.context["form"]
    assert form.errors["ip"] == ["`10.0.0.300` is not an IP address or CIDR block"]
    assert form.errors["ports"][0].startswith("`0` is not a port")


def test_empty_fields_are_named_too(admin_client, node):
    response = _add(admin_client, node, "", "", follow=False)
    form = response.context["form"]
    assert form.errors["ip"] and form.errors["ports"]
    assert not Allocation.objects.exists()


def test_more_than_a_million_allocations_at_once_is_refused(admin_client, node):
    # A /16 is 65,536 addresses; 16 ports make 1,048,576 allocations.
    response = _add(admin_client, node, "10.1.0.0/16", "1-16", follow=False)
    assert response.status_code == 200
    assert any("at most 1,000,000" in e for e in _form_errors(response))
    assert not Allocation.objects.exists()


def test_an_alias_longer_than_255_characters_is_refused(admin_client, node):
    response = _add(admin_client, node, "10.0.0.1", "80", alias="a" * 256, follow=False)
    assert "alias" in response.context["form"].errors
    assert not Allocation.objects.exists()


def test_adding_to_a_pool_is_recorded_in_the_nodes_admin_history(admin_client, node):
    _add(admin_client, node, "10.0.0.1", "80-81")
    entry = LogEntry.objects.get(object_id=str(node.pk))
    assert "Added 2 allocations" in entry.get_change_message()


def test_page_and_command_accept_and_refuse_the_same_input(admin_client, node):
    """One service behind both: the same text gives the same rows or the same refusals."""
    other = factories.make_node("cmd-node")
    _add(admin_client, node, "10.0.0.0/31", "1-3, 9")
    call_command("addallocations", other.name, "--ip", "10.0.0.0/31", "--ports", "1-3, 9")

    def pairs(n):
        return set(Allocation.objects.filter(node=n).values_list("ip", "port"))

    assert pairs(node) == pairs(other)
    bad = _add(admin_client, node, "10.0.0.0/8", "70000", follow=False)
    with pytest.raises(CommandError) as refused:
        call_command("addallocations", other.name, "--ip", "10.0.0.0/8", "--ports", "70000")
    for message in _form_errors(bad):
        assert message in str(refused.value)
