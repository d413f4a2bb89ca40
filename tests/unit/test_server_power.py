"""servers.services.server_set_power: the state a signal leads to, who may send it, when."""

import pytest

from panel.activity import Actor
from panel.errors import (
    InsufficientPermissions,
    ServerNotInstalled,
    ServerSuspended,
    ValidationFailed,
)
from panel.models import ActivityEntry
from servers.models import Server
from servers.services import server_set_power
from tests import factories

pytestmark = pytest.mark.django_db


def state_of(server) -> str:
    return Server.objects.values_list("state", flat=True).get(pk=server.pk)


@pytest.mark.parametrize(
    ("start", "signal", "end"),
    [
        ("offline", "start", "running"),
        ("running", "stop", "offline"),
        ("running", "restart", "running"),
        ("offline", "restart", "running"),
        ("stopping", "kill", "offline"),
        ("starting", "stop", "offline"),
    ],
)
def test_signal_records_the_state_it_leads_to(owner, start, signal, end):
    server = factories.make_server(owner, state=start)
    result = server_set_power(server=server, actor=Actor(user=owner), signal=signal)
    assert result.state == end
    assert state_of(server) == end


def test_each_signal_writes_one_activity_entry(owner, server):
    server_set_power(server=server, actor=Actor(user=owner, ip="192.0.2.7"), signal="start")
    entry = ActivityEntry.objects.get()
    assert entry.event == "server:power.start"
    assert entry.server_id == server.pk
    assert entry.actor_id == owner.pk
    assert entry.ip == "192.0.2.7"


@pytest.mark.parametrize(
    ("signal", "needs"),
    [
        ("start", "control.start"),
        ("stop", "control.stop"),
        ("restart", "control.restart"),
        ("kill", "control.stop"),
    ],
)
def test_a_subuser_needs_the_signals_permission(server, signal, needs):
    others = sorted({"control.start", "control.stop", "control.restart"} - {needs})
    refused = factories.make_user()
    factories.make_subuser(server, refused, others)
    with pytest.raises(InsufficientPermissions):
        server_set_power(server=server, actor=Actor(user=refused), signal=signal)

    allowed = factories.make_user()
    factories.make_subuser(server, allowed, [needs])
    server_set_power(server=server, actor=Actor(user=allowed), signal=signal)
    assert ActivityEntry.objects.filter(event=f"server:power.{signal}").count() == 1


@pytest.mark.parametrize(
    ("status", "error"),
    [
        ("suspended", ServerSuspended),
        ("installing", ServerNotInstalled),
        ("install_failed", ServerNotInstalled),
    ],
)
def test_an_unusable_server_refuses_every_signal(owner, status, error):
    server = factories.make_server(owner, status=status)
    with pytest.raises(error) as caught:
        server_set_power(server=server, actor=Actor(user=owner), signal="start")
    assert caught.value.code == "ConflictingServerStateException"
    assert caught.value.status == 400
    assert state_of(server) == "offline"
    assert not ActivityEntry.objects.exists()


def test_the_server_state_is_checked_before_the_permission(owner):
    server = factories.make_server(owner, status="suspended")
    nobody = factories.make_user()
    factories.make_subuser(server, nobody, [])
    with pytest.raises(ServerSuspended):
        server_set_power(server=server, actor=Actor(user=nobody), signal="start")


@pytest.mark.parametrize("signal", ["", "START", "reboot", None, 1])
def test_an_unknown_signal_is_a_validation_error(owner, server, signal):
    with pytest.raises(ValidationFailed) as caught:
        server_set_power(server=server, actor=Actor(user=owner), signal=signal)
    assert caught.value.errors[0].field == "signal"
    assert caught.value.detail == "The selected signal is invalid."
    assert not ActivityEntry.objects.exists()


def test_the_state_is_read_fresh_not_from_the_callers_copy(owner, server):
    Server.objects.filter(pk=server.pk).update(status="suspended")  # server is stale now
    with pytest.raises(ServerSuspended):
        server_set_power(server=server, actor=Actor(user=owner), signal="start")
