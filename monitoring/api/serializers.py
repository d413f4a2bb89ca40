"""The `allocation_test` and `allocation_health` envelopes, keys in the spec's order."""

from datetime import UTC, datetime

from monitoring.probe import ProbeResult
from monitoring.selectors import Health


def iso(value: datetime | None) -> str | None:
    """`2026-11-27T06:00:00Z`: UTC, whole seconds."""
    if value is None:
        return None
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def allocation_test_item(result: ProbeResult) -> dict:
    return {
        "object": "allocation_test",
        "attributes": {
            "reachable": result.reachable,
            "latency_ms": result.latency_ms,
            "error": result.error,
            "tested_at": iso(result.checked_at),
        },
    }


def allocation_health_item(health: Health) -> dict:
    return {
        "object": "allocation_health",
        "attributes": {
            "status": health.status,
            "last_checked_at": iso(health.last_checked_at),
            "latency_ms": health.latency_ms,
            "uptime_24h": health.uptime_24h,
            "uptime_7d": health.uptime_7d,
            "latency_24h": [
                {"at": iso(at), "latency_ms": latency} for at, latency in health.latency_24h
            ],
        },
    }
