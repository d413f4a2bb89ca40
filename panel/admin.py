"""Admin for API keys and the activity log, and the paginator the big lists share.

The admin never shows an API key's secret or hash, and cannot issue a key (it would have to
display the secret): keys come from their owner's account page or `manage.py createapikey`."""

import json

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db import connections
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.functional import cached_property
from django.utils.html import format_html

from panel.api_keys import MAX_ALLOWED_IPS, normalize_allowed_ips
from panel.errors import ValidationFailed
from panel.models import ActivityEntry, ApiKey


class LargeTablePaginator(Paginator):
    """A paginator that never counts a large table row by row.

    Unfiltered, on PostgreSQL, the count is the planner's estimate (`pg_class.reltuples`)
    once that is past `exact_limit`. Filtered or searched, rows are counted only up to
    `exact_limit + 1`; past that, PostgreSQL's plan estimate stands in (other databases,
    i.e. SQLite in development, count exactly). `is_estimate` tells the templates to say
    "about"."""

    exact_limit = 10_000
    is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return super().count
        connection = connections[queryset.db]
        postgres = connection.vendor == "postgresql"
        if postgres and not queryset.query.where:
            estimate = _table_estimate(connection, queryset.model)
            if estimate > self.exact_limit:
                self.is_estimate = True
                return estimate
        capped = queryset.order_by()[: self.exact_limit + 1].count()
        if capped <= self.exact_limit:
            return capped
        if not postgres:
            return queryset.order_by().count()
        self.is_estimate = True
        return max(capped, _plan_estimate(connection, queryset))


def _table_estimate(connection, model) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(model._meta.db_table)],
        )
        row = cursor.fetchone()
    # -1 (never analysed) or no row: no estimate, so the caller counts.
    return int(row[0]) if row and row[0] is not None else -1


def _plan_estimate(connection, queryset: QuerySet) -> int:
    sql, params = queryset.order_by().values("pk").query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
        plan = cursor.fetchone()[0]
    if isinstance(plan, str):
        plan = json.loads(plan)
    return int(plan[0]["Plan"]["Plan Rows"])


# --- API keys ---------------------------------------------------------------------------------


class AllowedIpsField(forms.CharField):
    """Allowed IPs as text, one address or CIDR range a line (commas also separate)."""

    widget = forms.Textarea(attrs={"rows": 3, "cols": 40})

    def prepare_value(self, value):
        if isinstance(value, list):
            return "\n".join(value)
        return value

    def to_python(self, value):
        text = super().to_python(value) or ""
        entries = [e for e in text.replace(",", " ").split() if e]
        try:
            return normalize_allowed_ips(entries)
        except ValidationFailed as exc:
            raise ValidationError(exc.detail) from None


class ApiKeyForm(forms.ModelForm):
    allowed_ips = AllowedIpsField(
        required=False,
        label="Allowed IPs",
        help_text=f"One address or CIDR range a line, at most {MAX_ALLOWED_IPS}. "
        "Empty: the key works from anywhere.",
    )

    class Meta:
        model = ApiKey
        fields = ("description", "allowed_ips", "expires_at")


class KeyExpiryFilter(admin.SimpleListFilter):
    title = "expiry"
    parameter_name = "expiry"

    def lookups(self, request, model_admin):
        return [("active", "Not expired"), ("expired", "Expired"), ("never", "Never expires")]

    def queryset(self, request, queryset):
        now = timezone.now()
        match self.value():
            case "active":
                return queryset.exclude(expires_at__lte=now)
            case "expired":
                return queryset.filter(expires_at__lte=now)
            case "never":
                return queryset.filter(expires_at__isnull=True)
        return queryset


@admin.register(ApiKey)
class ApiKeyAdmin(admin.ModelAdmin):
    form = ApiKeyForm
    list_display = (
        "identifier",
        "user",
        "description",
        "allowed_ips_display",
        "last_used_at",
        "created_at",
        "expires_at",
    )
    list_select_related = ("user",)
    list_filter = (KeyExpiryFilter,)
    search_fields = ("identifier", "user__username", "description")
    # key_hash is in no list, form or read-only field: the admin never shows it.
    fields = (
        "identifier",
        "user",
        "description",
        "allowed_ips",
        "expires_at",
        "last_used_at",
        "created_at",
    )
    readonly_fields = ("identifier", "user", "last_used_at", "created_at")

    @admin.display(description="Allowed IPs")
    def allowed_ips_display(self, obj):
        return ", ".join(obj.allowed_ips) if obj.allowed_ips else "anywhere"

    def has_add_permission(self, request):
        # Issuing a key means showing its secret once; the admin never shows a secret.
        return False

    def get_actions(self, request):
        # Revoking is deleting (a deleted key stops working at once); Django's own delete
        # action keeps its confirmation page, under the name operators look for.
        actions = super().get_actions(request)
        if "delete_selected" in actions:
            func, name, _ = actions["delete_selected"]
            actions["delete_selected"] = (func, name, "Revoke selected API keys")
        return actions


# --- Activity log -----------------------------------------------------------------------------


@admin.register(ActivityEntry)
class ActivityEntryAdmin(admin.ModelAdmin):
    """The activity log, read-only: it records what happened and nobody edits history."""

    list_display = (
        "created_at",
        "event",
        "server",
        "actor",
        "api_key_identifier",
        "ip",
        "properties_display",
    )
    list_select_related = ("server", "actor")
    list_filter = (
        "event",
        ("server", admin.RelatedOnlyFieldListFilter),
        ("actor", admin.RelatedOnlyFieldListFilter),
    )
    search_fields = ("event", "server__name", "server__identifier", "actor__username")
    fields = (
        "created_at",
        "event",
        "server",
        "actor",
        "api_key_identifier",
        "ip",
        "properties_display",
    )
    readonly_fields = fields
    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 100

    @admin.display(description="Properties")
    def properties_display(self, obj):
        return format_html(
            "<code>{}</code>", json.dumps(obj.properties, ensure_ascii=False, sort_keys=True)
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
