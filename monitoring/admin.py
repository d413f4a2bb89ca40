"""Admin: the allocations that are down now, per node, and since when. Read only: the
monitor writes these rows."""

from django.contrib import admin
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.timesince import timesince

from allocations.addresses import format_ip_port
from monitoring.models import DownAllocation


@admin.register(DownAllocation)
class DownAllocationAdmin(admin.ModelAdmin):
    list_display = (
        "address",
        "node",
        "server_link",
        "down_since",
        "down_for",
        "last_error",
        "last_checked_at",
    )
    list_display_links = None
    # Only nodes that have a down allocation; the facet count is how many.
    list_filter = (("allocation__node", admin.RelatedOnlyFieldListFilter),)
    show_facets = admin.ShowFacets.ALWAYS
    list_select_related = ("allocation__node", "server")
    ordering = ("allocation__node__name", "down_since", "allocation_id")
    search_fields = ("allocation__ip", "server__name", "server__identifier")
    list_per_page = 100

    def get_queryset(self, request):
        # Down by the latest check made for the server that holds the allocation now.
        return (
            super()
            .get_queryset(request)
            .filter(down_since__isnull=False, allocation__server_id=F("server_id"))
        )

    @admin.display(description="Address", ordering="allocation__ip_key")
    def address(self, obj):
        return format_ip_port(obj.allocation.ip, obj.allocation.port)

    @admin.display(description="Node", ordering="allocation__node__name")
    def node(self, obj):
        return obj.allocation.node

    @admin.display(description="Server", ordering="server__name")
    def server_link(self, obj):
        url = reverse(f"{self.admin_site.name}:servers_server_change", args=[obj.server_id])
        return format_html('<a href="{}">{}</a>', url, obj.server)

    @admin.display(description="Down for", ordering="down_since")
    def down_for(self, obj):
        return timesince(obj.down_since, timezone.now())

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
