"""The probe: one TCP connection to an allocation's own address, classified briefly."""

import asyncio
import socket
import time
from unittest import mock

import pytest

from allocations.models import Allocation
from monitoring import probe as probe_module
from monitoring.probe import Target, probe, probe_async, probe_many
from tests.monitoring.conftest import LOOPBACK, ClosedPort, Listener


def target(port: int, ip: str = LOOPBACK, allocation_id: int = 1) -> Target:
    return Target(allocation_id=allocation_id, server_id=1, ip=ip, port=port)


def test_probe_of_an_open_port_is_reachable_with_a_latency(listener):
    result = probe(target(listener.port), timeout=2)

    assert result.reachable is True
    assert result.error is None
    assert isinstance(result.latency_ms, float)
    assert 0 <= result.latency_ms < 2000
    assert result.latency_ms == round(result.latency_ms, 2)
    assert listener.accept_peer()[0] == LOOPBACK


def test_probe_of_a_port_closed_by_the_test_is_refused(listener):
    port = listener.port
    assert probe(target(port), timeout=2).reachable is True
    listener.close()

    result = probe(target(port), timeout=2)

    assert (result.reachable, result.latency_ms, result.error) == (
        False,
        None,
        "connection refused",
    )


def test_async_probe_sees_the_same_up_and_down(listener, closed_port):
    up = asyncio.run(probe_async(target(listener.port), timeout=2))
    down = asyncio.run(probe_async(target(closed_port.port), timeout=2))

    assert (up.reachable, up.error) == (True, None)
    assert up.latency_ms is not None
    assert (down.reachable, down.latency_ms, down.error) == (False, None, "connection refused")


@pytest.fixture
def full_listener():
    """A loopback listener whose accept queue is full: further SYNs are dropped, so a
    connection attempt hangs until its timeout."""
    listener = Listener(backlog=0)
    fillers = []
    for _ in range(8):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex((LOOPBACK, listener.port))
        fillers.append(filler)
    time.sleep(0.1)
    yield listener
    for filler in fillers:
        filler.close()
    listener.close()


@pytest.mark.parametrize("how", ["sync", "async"])
def test_probe_that_gets_no_answer_times_out_within_its_timeout(full_listener, how):
    started = time.monotonic()
    if how == "sync":
        result = probe(target(full_listener.port), timeout=0.3)
    else:
        result = asyncio.run(probe_async(target(full_listener.port), timeout=0.3))

    assert (result.reachable, result.latency_ms, result.error) == (False, None, "timed out")
    assert time.monotonic() - started < 2


@pytest.mark.parametrize("how", ["sync", "async"])
def test_probe_of_an_address_outside_the_allowed_networks_makes_no_connection(how):
    with mock.patch.object(probe_module, "_socket_for", side_effect=AssertionError) as made:
        if how == "sync":
            result = probe(target(25565, ip="10.0.0.1"), timeout=2)
        else:
            result = asyncio.run(probe_async(target(25565, ip="10.0.0.1"), timeout=2))

    assert (result.reachable, result.error) == (False, "not permitted")
    made.assert_not_called()


def test_without_allowed_networks_every_address_is_allowed(settings):
    settings.PANEL_PROBE_ALLOWED_NETWORKS = []
    assert probe_module.address_allowed("192.0.2.1")
    settings.PANEL_PROBE_ALLOWED_NETWORKS = ["192.0.2.0/24", "::1/128"]
    assert probe_module.address_allowed("192.0.2.1")
    assert probe_module.address_allowed("::1")
    assert not probe_module.address_allowed("198.51.100.1")


def test_a_target_is_made_from_an_allocation_row(db):
    row = Allocation(pk=7, ip=LOOPBACK, port=25565, server_id=3)

    assert Target.of(row) == Target(allocation_id=7, server_id=3, ip=LOOPBACK, port=25565)


def test_probe_many_never_opens_more_than_the_concurrency_at_once():
    state = {"now": 0, "most": 0}

    async def fake_probe(target, *, timeout):
        state["now"] += 1
        state["most"] = max(state["most"], state["now"])
        await asyncio.sleep(0.01)
        state["now"] -= 1
        return target.port

    targets = [target(port) for port in range(1000, 1040)]
    with mock.patch.object(probe_module, "probe_async", fake_probe):
        results = asyncio.run(probe_many(targets, concurrency=3, timeout=1))

    assert results == list(range(1000, 1040))  # every target, in order
    assert state["most"] == 3


def test_probe_many_checks_many_loopback_ports_in_order(listener):
    closed = [ClosedPort() for _ in range(20)]
    try:
        targets = [target(listener.port)] + [target(c.port) for c in closed]
        results = asyncio.run(probe_many(targets, concurrency=5, timeout=2))
    finally:
        for c in closed:
            c.close()

    assert [r.target for r in results] == targets
    assert [r.reachable for r in results] == [True] + [False] * 20
