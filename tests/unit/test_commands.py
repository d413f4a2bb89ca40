"""The management commands: the operator's scripted interface (spec: operations.md)."""

import io
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from allocations.models import Allocation
from panel.api_keys import api_key_authenticate, normalize_allowed_ips
from panel.models import ActivityEntry, ApiKey
from servers.models import Node, Server, Subuser
from tests import factories

User = get_user_model()


def run_json(name: str, *args) -> dict:
    """Run a command with --json; its whole standard output must be one JSON object."""
    out, err = io.StringIO(), io.StringIO()
    call_command(name, *args, "--json", stdout=out, stderr=err)
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1, text
    data = json.loads(text)
    assert isinstance(data, dict)
    assert err.getvalue() == ""
    return data


def run_text(name: str, *args) -> str:
    out = io.StringIO()
    call_command(name, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def refused(name: str, *args) -> str:
    """Run a command expected to refuse its input; returns the one-line message."""
    with pytest.raises(CommandError) as caught:
        call_command(name, *args, stdout=io.StringIO(), stderr=io.StringIO())
    message = str(caught.value)
    assert "\n" not in message
    return message


# --- The shared contract, as a real process sees it -----------------------------------------


def _manage(tmp_path, *args):
    env = dict(os.environ)
    # A database no test uses: were the command to open it, the file would appear.
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'untouched.sqlite3'}"
    env.setdefault("PANEL_SECRET_KEY", "test-only-secret-key-for-a-subprocess-0123456789")
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_bad_input_exits_1_with_one_line_on_stderr_before_touching_the_database(tmp_path):
    result = _manage(
        tmp_path, "addallocations", "node-1", "--ip", "10.0.0.0/8", "--ports", "70000", "--json"
    )
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith("CommandError: ")
    assert "`10.0.0.0/8` is too large a block" in result.stderr
    assert "`70000` is not a port" in result.stderr
    assert not (tmp_path / "untouched.sqlite3").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["createserver", "--json"],
        ["setserverstate", "abcd1234", "--state", "bogus"],
        ["createnode", "n", "--fqdn", "h", "--no-such-option"],
    ],
)
def test_usage_errors_exit_2_with_one_line_on_stderr(tmp_path, args):
    result = _manage(tmp_path, *args)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert ": error: " in result.stderr
    assert not (tmp_path / "untouched.sqlite3").exists()


def test_usage_errors_in_process_raise_a_one_line_command_error():
    message = refused("setserverstate", "abcd1234", "--state", "bogus")
    assert message.startswith("Error: argument --state: invalid choice: 'bogus'")


# --- createuser -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_createuser_prints_id_and_username():
    data = run_json("createuser", "alice", "--email", "alice@example.com")
    alice = User.objects.get(username="alice")
    assert data == {"id": alice.pk, "username": "alice"}
    assert alice.email == "alice@example.com"
    assert alice.is_active and not alice.is_staff and not alice.is_superuser
    assert not alice.has_usable_password()


@pytest.mark.django_db
def test_createuser_superuser_inactive_and_password():
    run_json("createuser", "root", "--superuser", "--inactive", "--password", "tr0ub4dor&3x")
    root = User.objects.get(username="root")
    assert root.is_superuser and root.is_staff and not root.is_active
    assert root.check_password("tr0ub4dor&3x")


@pytest.mark.django_db
def test_createuser_readable_line():
    assert run_text("createuser", "bob") == f"Created user bob (id {User.objects.get().pk}).\n"


@pytest.mark.django_db
def test_createuser_refuses_a_taken_name():
    factories.make_user("alice")
    message = refused("createuser", "alice")
    assert "already exists" in message
    assert User.objects.count() == 1


@pytest.mark.django_db
def test_createuser_refuses_a_weak_password_and_creates_nothing():
    message = refused("createuser", "carol", "--password", "123")
    assert "too short" in message
    assert not User.objects.exists()


@pytest.mark.django_db
def test_createuser_refuses_a_bad_username_or_email():
    assert "username:" in refused("createuser", "no spaces please")
    assert "email:" in refused("createuser", "dave", "--email", "not-an-email")
    assert not User.objects.exists()


# --- createnode -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_createnode_prints_id_and_name():
    data = run_json("createnode", "node-1", "--fqdn", "node1.example.com")
    node = Node.objects.get()
    assert data == {"id": node.pk, "name": "node-1"}
    assert node.fqdn == "node1.example.com"


@pytest.mark.django_db
def test_createnode_refuses_an_all_digit_name():
    assert "cannot be all digits" in refused("createnode", "123", "--fqdn", "h.example")
    assert not Node.objects.exists()


@pytest.mark.django_db
def test_createnode_refuses_a_taken_name_and_a_bad_host():
    factories.make_node("node-1")
    assert "already exists" in refused("createnode", "node-1", "--fqdn", "h.example")
    assert "not a host name" in refused("createnode", "node-2", "--fqdn", "bad host")
    assert "not a host name" in refused("createnode", "node-2", "--fqdn=-x.example")
    assert Node.objects.count() == 1


@pytest.mark.django_db
def test_createnode_accepts_an_ip_as_host():
    assert run_json("createnode", "local", "--fqdn", "::1")["name"] == "local"


# --- addallocations -------------------------------------------------------------------------


@pytest.mark.django_db
def test_addallocations_by_name_counts_created_and_skipped():
    node = factories.make_node("node-1")
    assert run_json(
        "addallocations", "node-1", "--ip", "10.0.0.1", "--ports", "25565,25570-25580"
    ) == {"created": 12, "skipped": 0}
    # 25560-25570 is 11 ports, of which 25565 and 25570 exist already.
    assert run_json("addallocations", "node-1", "--ip", "10.0.0.1", "--ports", "25560-25570") == {
        "created": 9,
        "skipped": 2,
    }
    assert Allocation.objects.filter(node=node).count() == 21


@pytest.mark.django_db
def test_addallocations_by_id_with_cidr_ipv6_and_alias():
    node = factories.make_node("pool")
    data = run_json(
        "addallocations",
        str(node.pk),
        "--ip",
        "10.0.0.0/30, ::1",
        "--ports",
        "1 2",
        "--alias",
        "play.example.com",
    )
    assert data == {"created": 10, "skipped": 0}
    rows = Allocation.objects.filter(node=node)
    assert set(rows.values_list("ip", flat=True)) == {
        "10.0.0.0",
        "10.0.0.1",
        "10.0.0.2",
        "10.0.0.3",
        "::1",
    }
    assert set(rows.values_list("ip_alias", flat=True)) == {"play.example.com"}


@pytest.mark.django_db
def test_addallocations_readable_line():
    factories.make_node("node-1")
    text = run_text("addallocations", "node-1", "--ip", "10.0.0.1", "--ports", "1-3")
    assert text == "Node node-1: 3 allocations created, 0 already there and skipped.\n"


@pytest.mark.django_db
def test_addallocations_names_every_bad_entry_and_writes_nothing():
    node = factories.make_node("node-1")
    message = refused(
        "addallocations",
        "node-1",
        "--ip",
        "10.0.0.1, 10.0.0.0/8",
        "--ports",
        "25565,70000,25580-25570",
    )
    assert message == (
        "`10.0.0.0/8` is too large a block (at most /16 for IPv4); "
        "`70000` is not a port (ports are 1-65535); "
        "`25580-25570` is a reversed range. Nothing was added."
    )
    assert not Allocation.objects.filter(node=node).exists()


@pytest.mark.django_db
def test_addallocations_refuses_more_than_a_million():
    node = factories.make_node("node-1")
    message = refused("addallocations", "node-1", "--ip", "10.0.0.0/16", "--ports", "1-16")
    assert "1,048,576 allocations; at most 1,000,000" in message
    assert not Allocation.objects.filter(node=node).exists()


@pytest.mark.django_db
def test_addallocations_refuses_an_unknown_node():
    assert refused("addallocations", "nope", "--ip", "10.0.0.1", "--ports", "1") == (
        "No node named `nope`."
    )
    assert refused("addallocations", "999", "--ip", "10.0.0.1", "--ports", "1") == (
        "No node with id 999."
    )
    assert not Allocation.objects.exists()


# --- createserver ---------------------------------------------------------------------------


@pytest.fixture
def pool_node(db):
    node = factories.make_node("node-1")
    factories.make_pool(node, ip="10.0.0.1", ports=range(25565, 25570))
    factories.make_pool(node, ip="2001:db8::1", ports=[25565])
    return node


@pytest.mark.django_db
def test_createserver_takes_the_named_free_allocation_as_primary(pool_node, owner):
    data = run_json(
        "createserver",
        "Survival",
        "--owner",
        "owner",
        "--node",
        "node-1",
        "--primary",
        "10.0.0.1:25567",
        "--allocation-limit",
        "3",
    )
    server = Server.objects.get()
    primary = Allocation.objects.get(server=server)
    assert data == {
        "uuid": str(server.uuid),
        "identifier": server.identifier,
        "primary": {"id": primary.pk, "ip": "10.0.0.1", "port": 25567},
    }
    assert primary.is_primary
    assert (server.name, server.owner, server.node, server.allocation_limit) == (
        "Survival",
        owner,
        pool_node,
        3,
    )
    assert (server.state, server.status) == ("offline", "active")


@pytest.mark.django_db
def test_createserver_ipv6_primary_in_brackets_with_state_and_status(pool_node, owner):
    text = run_text(
        "createserver",
        "Six",
        "--owner",
        "owner",
        "--node",
        str(pool_node.pk),
        "--primary",
        "[2001:DB8:0::1]:25565",
        "--allocation-limit",
        "0",
        "--state",
        "running",
        "--status",
        "installing",
    )
    server = Server.objects.get()
    assert (server.state, server.status, server.allocation_limit) == ("running", "installing", 0)
    assert f"({server.identifier})" in text
    assert "primary [2001:db8::1]:25565" in text
    assert Allocation.objects.get(server=server).ip == "2001:db8::1"


@pytest.mark.django_db
def test_createserver_json_shows_ipv6_without_brackets(pool_node, owner):
    data = run_json(
        *["createserver", "Six", "--owner", "owner", "--node", "node-1"],
        *["--primary", "[2001:db8::1]:25565", "--allocation-limit", "1"],
    )
    assert data["primary"]["ip"] == "2001:db8::1"
    assert data["primary"]["port"] == 25565


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("primary", "message"),
    [
        ("10.0.0.1:25600", "Node node-1 has no allocation 10.0.0.1:25600."),
        ("10.0.0.2:25565", "Node node-1 has no allocation 10.0.0.2:25565."),
        ("2001:db8::1:25565", "write an IPv6 address in brackets"),
        ("10.0.0.1", "is not IP:PORT"),
        ("10.0.0.1:0", "`0` is not a port"),
        ("10.0.0.1:port", "`port` is not a port"),
        ("[10.0.0.1:25565", "is not IP:PORT"),
    ],
)
def test_createserver_refuses_a_bad_or_unknown_primary(pool_node, owner, primary, message):
    args = ["Bad", "--owner", "owner", "--node", "node-1", "--primary", primary]
    assert message in refused("createserver", *args, "--allocation-limit", "2")
    assert not Server.objects.exists()


@pytest.mark.django_db
def test_createserver_refuses_a_taken_primary_or_another_nodes(pool_node, owner):
    server = factories.make_server(owner, pool_node)  # takes 10.0.0.1:25565
    other = factories.make_node("node-2")
    factories.make_pool(other, ip="10.9.9.9", ports=[1])
    common = ["X", "--owner", "owner", "--allocation-limit", "2", "--node"]
    assert "10.0.0.1:25565 is already assigned" in refused(
        "createserver", *common, "node-1", "--primary", "10.0.0.1:25565"
    )
    assert "Node node-1 has no allocation 10.9.9.9:1." in refused(
        "createserver", *common, "node-1", "--primary", "10.9.9.9:1"
    )
    assert list(Server.objects.all()) == [server]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("owner_name", "node_name", "extra", "message"),
    [
        ("ghost", "node-1", ["--allocation-limit", "1"], "No user `ghost`."),
        ("owner", "node-9", ["--allocation-limit", "1"], "No node named `node-9`."),
        ("owner", "node-1", ["--allocation-limit", "-1"], "not a whole number 0 or more"),
        ("owner", "node-1", ["--allocation-limit", "x"], "not a whole number 0 or more"),
        (
            "owner",
            "node-1",
            ["--allocation-limit", "1", "--state", "stopping"],
            "invalid choice: 'stopping'",
        ),
        ("owner", "node-1", [], "required: --allocation-limit"),
    ],
)
def test_createserver_refuses_bad_owner_node_limit_and_state(
    pool_node, owner, owner_name, node_name, extra, message
):
    args = ["X", "--owner", owner_name, "--node", node_name, "--primary", "10.0.0.1:25565"]
    assert message in refused("createserver", *args, *extra)
    assert not Server.objects.exists()


# --- setserverstate -------------------------------------------------------------------------


@pytest.mark.django_db
def test_setserverstate_by_identifier_in_any_case(server):
    data = run_json("setserverstate", server.identifier.upper(), "--state", "running")
    assert data == {"uuid": str(server.uuid), "state": "running", "status": "active"}
    server.refresh_from_db()
    assert server.state == "running"


@pytest.mark.django_db
def test_setserverstate_by_uuid_sets_status_and_state(server):
    data = run_json(
        "setserverstate", str(server.uuid).upper(), "--state", "stopping", "--status", "suspended"
    )
    assert (data["state"], data["status"]) == ("stopping", "suspended")
    server.refresh_from_db()
    assert (server.state, server.status) == ("stopping", "suspended")


@pytest.mark.django_db
def test_setserverstate_without_options_shows_the_current_values(server):
    assert run_text("setserverstate", server.identifier) == (
        f"Server {server.identifier}: state offline, status active.\n"
    )


@pytest.mark.django_db
def test_setserverstate_refuses_an_unknown_server_or_value(server):
    assert "No server `00000000`" in refused("setserverstate", "00000000", "--state", "running")
    assert "No server" in refused("setserverstate", "not-a-server", "--state", "running")
    assert "invalid choice" in refused("setserverstate", server.identifier, "--status", "gone")
    server.refresh_from_db()
    assert (server.state, server.status) == ("offline", "active")


# --- addsubuser -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_addsubuser_adds_then_replaces_permissions(server):
    factories.make_user("bob")
    data = run_json(
        "addsubuser", server.identifier, "bob", "--permissions", "allocation.read,allocation.create"
    )
    assert data == {
        "server": str(server.uuid),
        "user": "bob",
        "permissions": ["allocation.create", "allocation.read"],
    }
    data = run_json("addsubuser", str(server.uuid), "bob", "--permissions", "control.start")
    assert data["permissions"] == ["control.start"]
    assert Subuser.objects.get().permissions == ["control.start"]


@pytest.mark.django_db
def test_addsubuser_refuses_the_owner(server):
    assert "the owner cannot be a subuser" in refused(
        "addsubuser", server.identifier, "owner", "--permissions", "allocation.read"
    )
    assert not Subuser.objects.exists()


@pytest.mark.django_db
def test_addsubuser_refuses_unknown_permissions_and_changes_nothing(server):
    bob = factories.make_user("bob")
    factories.make_subuser(server, bob, ["allocation.read"])
    message = refused(
        "addsubuser", server.identifier, "bob", "--permissions", "allocation.read,allocation.*,x"
    )
    assert message.startswith("Unknown permissions `allocation.*`, `x`; known: ")
    assert Subuser.objects.get().permissions == ["allocation.read"]


@pytest.mark.django_db
def test_addsubuser_refuses_unknown_user_or_server(server):
    assert refused(
        "addsubuser", server.identifier, "ghost", "--permissions", "allocation.read"
    ) == ("No user `ghost`.")
    factories.make_user("bob")
    assert "No server" in refused("addsubuser", "ffffffff", "bob", "--permissions", "control.stop")
    assert not Subuser.objects.exists()


# --- createapikey ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_createapikey_prints_the_token_once_and_it_authenticates(owner):
    data = run_json("createapikey", "owner", "--description", "billing")
    assert set(data) == {"identifier", "token"}
    assert len(data["token"]) == 48 and data["token"].startswith(data["identifier"])
    key = api_key_authenticate(data["token"])
    assert key is not None and key.user == owner and key.description == "billing"
    assert data["token"] not in json.dumps(list(ApiKey.objects.values()), default=str)


@pytest.mark.django_db
def test_createapikey_allowed_ips_and_expiry(owner):
    data = run_json(
        "createapikey",
        "owner",
        "--allowed-ip",
        "10.0.0.1",
        "--allowed-ip",
        "2001:db8::/32",
        "--expires-at",
        "2099-05-01T12:00:00+02:00",
    )
    key = ApiKey.objects.get(identifier=data["identifier"])
    assert key.allowed_ips == normalize_allowed_ips(["10.0.0.1", "2001:db8::/32"])
    assert key.expires_at.isoformat() == "2099-05-01T10:00:00+00:00"


@pytest.mark.django_db
def test_createapikey_reads_an_expiry_without_offset_as_utc(owner):
    data = run_json("createapikey", "owner", "--expires-at", "2099-01-01T00:00:00")
    key = ApiKey.objects.get(identifier=data["identifier"])
    assert key.expires_at.isoformat() == "2099-01-01T00:00:00+00:00"


@pytest.mark.django_db
def test_createapikey_readable_line_shows_the_token(owner):
    text = run_text("createapikey", "owner")
    key = ApiKey.objects.get()
    assert text.startswith(f"API key {key.identifier} for owner: {key.identifier}")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--allowed-ip", "nope"], "nope is not an IP address or range."),
        (["--expires-at", "tomorrow"], "`tomorrow` is not an ISO 8601 time"),
        (["--expires-at", "2001-01-01T00:00:00Z"], "has already passed"),
        (["--description", "x" * 501], "may not be greater than 500 characters"),
    ],
)
def test_createapikey_refuses_bad_input_and_issues_nothing(owner, args, message):
    assert message in refused("createapikey", "owner", *args)
    assert not ApiKey.objects.exists()


@pytest.mark.django_db
def test_createapikey_refuses_an_unknown_user():
    assert refused("createapikey", "ghost") == "No user `ghost`."


@pytest.mark.django_db
def test_createapikey_refuses_past_the_per_user_cap(owner):
    for _ in range(settings.PANEL_MAX_API_KEYS):
        factories.make_key(owner)
    assert "account limit" in refused("createapikey", "owner")
    assert ApiKey.objects.count() == settings.PANEL_MAX_API_KEYS


# --- seed_demo ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_seed_demo_makes_the_demo_data():
    data = run_json("seed_demo")
    assert set(data) == {"username", "password", "server", "api_key"}
    assert (data["username"], data["password"]) == ("demo", "demo-password")

    demo = User.objects.get(username="demo")
    assert demo.check_password("demo-password")
    assert demo.is_staff and demo.is_superuser and demo.is_active

    node = Node.objects.get(name="demo-node")
    pool = Allocation.objects.filter(node=node)
    assert set(pool.values_list("ip", flat=True)) == {"127.0.0.1"}
    assert sorted(pool.values_list("port", flat=True)) == list(range(25565, 25601))

    server = Server.objects.get(identifier=data["server"])
    assert (server.name, server.owner, server.node) == ("Demo Minecraft", demo, node)
    assert server.allocation_limit == 5
    held = list(Allocation.objects.filter(server=server).order_by("port"))
    assert [(a.address, a.is_primary) for a in held] == [
        ("127.0.0.1:25565", True),
        ("127.0.0.1:25566", False),
    ]
    assert held[1].notes

    key = api_key_authenticate(data["api_key"])
    assert key is not None and key.user == demo and key.description == "demo key"


@pytest.mark.django_db
def test_seed_demo_twice_changes_only_the_key():
    first = run_json("seed_demo")
    counts = (
        User.objects.count(),
        Node.objects.count(),
        Server.objects.count(),
        Allocation.objects.count(),
        Allocation.objects.filter(server__isnull=False).count(),
        ActivityEntry.objects.count(),
    )
    other = factories.make_key(User.objects.get(username="demo"), description="my own key")

    second = run_json("seed_demo")
    assert second["server"] == first["server"]
    assert second["api_key"] != first["api_key"]
    assert api_key_authenticate(first["api_key"]) is None  # the previous demo key is revoked
    assert api_key_authenticate(second["api_key"]) is not None
    assert api_key_authenticate(other) is not None  # other keys of the user are kept
    assert ApiKey.objects.filter(description="demo key").count() == 1
    assert counts == (
        User.objects.count(),
        Node.objects.count(),
        Server.objects.count(),
        Allocation.objects.count(),
        Allocation.objects.filter(server__isnull=False).count(),
        ActivityEntry.objects.count(),
    )


@pytest.mark.django_db
def test_seed_demo_keeps_a_changed_password_and_server_settings():
    first = run_json("seed_demo")
    demo = User.objects.get(username="demo")
    demo.set_password("changed-by-the-operator")
    demo.save()
    Server.objects.filter(identifier=first["server"]).update(allocation_limit=9)
    run_json("seed_demo")
    demo.refresh_from_db()
    assert demo.check_password("changed-by-the-operator")
    assert Server.objects.get().allocation_limit == 9


@pytest.mark.django_db
def test_seed_demo_readable_block():
    text = run_text("seed_demo")
    token = ApiKey.objects.get(description="demo key")
    assert "http://127.0.0.1:8000/" in text
    assert "demo" in text and "demo-password" in text
    assert token.identifier in text
    assert len(text.strip().splitlines()) > 1


@pytest.mark.django_db
def test_seed_demo_revokes_a_demo_key_it_did_not_issue_this_run():
    demo = factories.make_user("demo")
    stale = factories.make_key(
        demo, description="demo key", expires_at=timezone.now() + timedelta(days=1)
    )
    run_json("seed_demo")
    assert api_key_authenticate(stale) is None
    assert ApiKey.objects.filter(user=demo).count() == 1
