"""OpenAPI declarations of the port test and health endpoints (documentation only: the
views answer hand-built dicts, see `monitoring.api.serializers`)."""

from rest_framework import serializers

from panel.api.schema import const, one_of


class AllocationTestAttributesSerializer(serializers.Serializer):
    reachable = serializers.BooleanField()
    latency_ms = serializers.FloatField(
        allow_null=True, help_text="Connect time in milliseconds (2 decimals); null if down."
    )
    error = serializers.CharField(
        allow_null=True,
        help_text="A short reason when unreachable: `connection refused`, `timed out`, "
        "`unreachable`, `connection reset`, `connection failed` or `not permitted`.",
    )
    tested_at = serializers.DateTimeField()


class AllocationTestSerializer(serializers.Serializer):
    object = const("allocation_test")
    attributes = AllocationTestAttributesSerializer()


class LatencyPointSerializer(serializers.Serializer):
    at = serializers.DateTimeField()
    latency_ms = serializers.FloatField(allow_null=True, help_text="null for a failed check.")


class AllocationHealthAttributesSerializer(serializers.Serializer):
    status = one_of(["up", "down", "unknown"], help_text="`unknown`: never checked.")
    last_checked_at = serializers.DateTimeField(allow_null=True)
    latency_ms = serializers.FloatField(allow_null=True)
    uptime_24h = serializers.FloatField(
        allow_null=True,
        min_value=0,
        max_value=100,
        help_text="Percent of the checks of the last 24 hours that succeeded; null if none.",
    )
    uptime_7d = serializers.FloatField(
        allow_null=True,
        min_value=0,
        max_value=100,
        help_text="Percent of the checks of the last 7 days that succeeded; null if none.",
    )
    latency_24h = LatencyPointSerializer(many=True, help_text="The last 24 hours, oldest first.")


class AllocationHealthSerializer(serializers.Serializer):
    object = const("allocation_health")
    attributes = AllocationHealthAttributesSerializer()
