"""OpenAPI declarations of the server endpoints (documentation only: the views answer
hand-built dicts, see `servers.api.serializers`)."""

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from allocations.api.schema import AllocationListSerializer
from panel.api.schema import ListMetaSerializer, const, one_of
from servers.models import PowerState
from servers.services import SIGNALS


class SftpDetailsSerializer(serializers.Serializer):
    ip = serializers.CharField()
    port = serializers.IntegerField()


class FeatureLimitsSerializer(serializers.Serializer):
    databases = serializers.IntegerField(min_value=0)
    allocations = serializers.IntegerField(
        min_value=0, help_text="The most allocations the server may hold, the primary included."
    )
    backups = serializers.IntegerField(min_value=0)


class ServerRelationshipsSerializer(serializers.Serializer):
    allocations = AllocationListSerializer(
        help_text="Every allocation, or for a subuser without `allocation.read` only the "
        "primary, with notes null."
    )


class ServerAttributesSerializer(serializers.Serializer):
    server_owner = serializers.BooleanField()
    identifier = serializers.CharField(min_length=8, max_length=8)
    internal_id = serializers.IntegerField()
    uuid = serializers.UUIDField()
    name = serializers.CharField()
    node = serializers.CharField(help_text="The node's name.")
    is_node_under_maintenance = serializers.BooleanField()
    sftp_details = SftpDetailsSerializer()
    description = serializers.CharField(allow_blank=True)
    feature_limits = FeatureLimitsSerializer()
    status = one_of(
        ["installing", "install_failed", "suspended"],
        nullable=True,
        help_text="null while the server is active.",
    )
    is_suspended = serializers.BooleanField()
    is_installing = serializers.BooleanField()
    is_transferring = serializers.BooleanField()
    relationships = ServerRelationshipsSerializer()


class ServerSerializer(serializers.Serializer):
    object = const("server")
    attributes = ServerAttributesSerializer()


class ServerListSerializer(serializers.Serializer):
    object = const("list")
    data = ServerSerializer(many=True)
    meta = ListMetaSerializer()


class ServerMetaSerializer(serializers.Serializer):
    is_server_owner = serializers.BooleanField()
    user_permissions = serializers.ListField(
        child=serializers.CharField(), help_text='`["*"]` for the owner and superusers.'
    )


class ServerDetailSerializer(serializers.Serializer):
    object = const("server")
    attributes = ServerAttributesSerializer()
    meta = ServerMetaSerializer()


class PermissionGroupSerializer(serializers.Serializer):
    description = serializers.CharField()
    keys = serializers.DictField(
        child=serializers.CharField(), help_text="Permission name (after the dot): description."
    )


class SystemPermissionsAttributesSerializer(serializers.Serializer):
    permissions = serializers.DictField(
        child=PermissionGroupSerializer(), help_text="Group name (before the dot): its group."
    )


class SystemPermissionsSerializer(serializers.Serializer):
    object = const("system_permissions")
    attributes = SystemPermissionsAttributesSerializer()


class StatsAttributesSerializer(serializers.Serializer):
    current_state = one_of(list(PowerState.values))
    is_suspended = serializers.BooleanField()


class StatsSerializer(serializers.Serializer):
    object = const("stats")
    attributes = StatsAttributesSerializer()


class ActivityLogAttributesSerializer(serializers.Serializer):
    id = serializers.CharField(help_text="An opaque key, unique per entry.")
    batch = serializers.CharField(allow_null=True)
    event = serializers.CharField()
    is_api = serializers.BooleanField()
    ip = serializers.CharField(
        allow_null=True, help_text="Shown to the entry's actor and superusers only."
    )
    description = serializers.CharField(allow_null=True)
    properties = serializers.DictField()
    has_additional_metadata = serializers.BooleanField()
    timestamp = serializers.DateTimeField()


class ActivityLogSerializer(serializers.Serializer):
    object = const("activity_log")
    attributes = ActivityLogAttributesSerializer()


class ActivityLogListSerializer(serializers.Serializer):
    object = const("list")
    data = ActivityLogSerializer(many=True)
    meta = ListMetaSerializer()


class PowerRequestSerializer(serializers.Serializer):
    signal = one_of(list(SIGNALS))


LIST_PARAMETERS = [
    OpenApiParameter(
        "filter[*]",
        str,
        description="Servers whose name contains it, or whose uuid, identifier, or any "
        "allocation's address, `address:port` or `:port` starts with it.",
    ),
    OpenApiParameter(
        "type",
        str,
        description="`owner`: only owned servers. `admin`, `admin-all`: every server, for a "
        "superuser (nothing for anyone else). Otherwise: owned and subuser servers.",
    ),
]

ACTIVITY_PARAMETERS = [
    OpenApiParameter("filter[event]", str, description="Entries whose event contains it."),
    OpenApiParameter(
        "sort",
        str,
        enum=["timestamp", "-timestamp"],
        description="Oldest first with `timestamp`; newest first otherwise.",
    ),
]
