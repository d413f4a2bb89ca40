"""OpenAPI declarations of the network endpoints (documentation only: the views answer
hand-built dicts, see `allocations.api.serializers`)."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from panel.api.schema import const


class AllocationAttributesSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    ip = serializers.IPAddressField()
    ip_alias = serializers.CharField(allow_null=True)
    port = serializers.IntegerField(min_value=1, max_value=65535)
    notes = serializers.CharField(allow_null=True, max_length=255)
    is_default = serializers.BooleanField(help_text="True only for the primary allocation.")


class AllocationSerializer(serializers.Serializer):
    object = const("allocation")
    attributes = AllocationAttributesSerializer()


class AllocationListSerializer(serializers.Serializer):
    object = const("list")
    data = AllocationSerializer(many=True)


class AllocationCreateRequestSerializer(serializers.Serializer):
    ip = serializers.IPAddressField(
        required=False, allow_null=True, help_text="Only a free allocation on this address."
    )
    port = serializers.IntegerField(
        required=False,
        allow_null=True,
        min_value=1,
        max_value=65535,
        help_text="Only a free allocation with this port.",
    )


class AllocationNotesRequestSerializer(serializers.Serializer):
    notes = serializers.CharField(
        required=False,
        allow_null=True,
        allow_blank=True,
        max_length=255,
        help_text="Trimmed; empty or null clears the notes; absent changes nothing.",
    )


ALLOCATION_PARAMETER = OpenApiParameter(
    "allocation",
    int,
    OpenApiParameter.PATH,
    description="An allocation id, looked up only among this server's allocations.",
)
