"""Admin for nodes, servers and subusers.

Everything that changes which allocations a server holds calls `allocations.services`, the
services the API calls, with the limit and stopped-server rules lifted on purpose (an
operator may overrule them) and the operator recorded in the activity log as the actor."""

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.db.models import Count, F, Func, IntegerField, OuterRef, Subquery
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html

from allocations.admin import (
    SERVER_ALLOCATION_ACTIONS_FORM,
    AssignAllocationForm,
    FreeAllocationField,
    FreeAllocationSelect,
    ServerAllocationInline,
    delete_free_allocations,
    node_pool_overview_html,
    node_pool_view,
)
from allocations.models import Allocation
from allocations.services import (
    allocation_assign,
    allocation_set_notes,
    allocation_set_primary,
    allocation_unassign,
    server_create,
)
from monitoring.models import AllocationMonitor
from panel.activity import Actor
from panel.client_ip import client_ip
from panel.errors import PanelError
from panel.models import ActivityEntry
from servers.models import Node, Server, ServerStatus, Subuser
from servers.permissions import PERMISSION_GROUPS

# Servers named in a "cannot delete this node" list before "and N more".
_NAMED_LIMIT = 20


def _admin_actor(request) -> Actor:
    return Actor(user=request.user, ip=client_ip(request))


class _CountRows(Func):
    # COUNT(*) as a plain function: Django adds no GROUP BY, so the subquery always answers
    # one number, and PostgreSQL may count from an index alone.
    template = "COUNT(*)"
    output_field = IntegerField()


def _count(queryset) -> Subquery:
    """A correlated COUNT(*) of `queryset`, which is filtered on an OuterRef."""
    return Subquery(queryset.order_by().annotate(n=_CountRows()).values("n"))


# --- Nodes ------------------------------------------------------------------------------------


# The monitor's "down now" list (monitoring.admin), which the node pages link to per node.
_DOWN_PERMISSION = "monitoring.view_downallocation"


@admin.register(Node)
class NodeAdmin(admin.ModelAdmin):
    list_display = ("name", "fqdn", "free", "assigned", "servers", "down_now", "pool_links")
    search_fields = ("name", "fqdn")
    readonly_fields = ("created_at", "pool_overview", "down_overview")

    def get_queryset(self, request):
        # One query for the whole list: the counts are correlated subqueries. "Free" is the
        # total less the assigned: the total is an index-only count of the node's rows, the
        # assigned come from the server_id index, and neither reads the table's rows.
        return (
            super()
            .get_queryset(request)
            .annotate(
                total_count=_count(Allocation.objects.filter(node=OuterRef("pk"))),
                assigned_count=_count(
                    Allocation.objects.filter(node=OuterRef("pk"), server__isnull=False)
                ),
                server_count=_count(Server.objects.filter(node=OuterRef("pk"))),
                # Down by the latest check made for the server holding the allocation now,
                # as the down list counts them (from its partial index on down_since).
                down_count=_count(
                    AllocationMonitor.objects.filter(
                        down_since__isnull=False,
                        allocation__node=OuterRef("pk"),
                        allocation__server_id=F("server_id"),
                    )
                ),
            )
        )

    def get_list_display(self, request):
        shown = super().get_list_display(request)
        if not request.user.has_perm(_DOWN_PERMISSION):
            return tuple(name for name in shown if name != "down_now")
        return shown

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "fqdn")
        fields = ("name", "fqdn", "created_at", "pool_overview")
        if request.user.has_perm(_DOWN_PERMISSION):
            fields += ("down_overview",)
        return fields

    def _down_url(self, obj) -> str:
        changelist = reverse(f"{self.admin_site.name}:monitoring_downallocation_changelist")
        return f"{changelist}?allocation__node__id__exact={obj.pk}"

    @admin.display(description="Down now", ordering="down_count")
    def down_now(self, obj):
        if not obj.down_count:
            return "—"
        return format_html('<a href="{}">{} down</a>', self._down_url(obj), f"{obj.down_count:,}")

    @admin.display(description="Monitoring")
    def down_overview(self, obj):
        if not obj.down_count:
            return "No allocation of this node is down now."
        count = obj.down_count
        return format_html(
            '<a href="{}">{} allocation{} down now</a>: which, since when, and why.',
            self._down_url(obj),
            f"{count:,}",
            "s" if count != 1 else "",
        )

    @admin.display(description="Free allocations", ordering=F("total_count") - F("assigned_count"))
    def free(self, obj):
        return f"{obj.total_count - obj.assigned_count:,}"

    @admin.display(description="Assigned allocations", ordering="assigned_count")
    def assigned(self, obj):
        return f"{obj.assigned_count:,}"

    @admin.display(description="Servers", ordering="server_count")
    def servers(self, obj):
        return obj.server_count

    @admin.display(description="IP pool")
    def pool_links(self, obj):
        site = self.admin_site.name
        return format_html(
            '<a href="{}">Add to pool</a> · <a href="{}?node__id__exact={}">Allocations</a>',
            reverse(f"{site}:servers_node_pool", args=[obj.pk]),
            reverse(f"{site}:allocations_allocation_changelist"),
            obj.pk,
        )

    @admin.display(description="IP pool")
    def pool_overview(self, obj):
        site = self.admin_site.name
        return format_html(
            "<p>{} free, {} assigned. "
            '<a href="{}">Add addresses and ports</a> · '
            '<a href="{}?node__id__exact={}">See every allocation</a></p>{}',
            f"{obj.total_count - obj.assigned_count:,}",
            f"{obj.assigned_count:,}",
            reverse(f"{site}:servers_node_pool", args=[obj.pk]),
            reverse(f"{site}:allocations_allocation_changelist"),
            obj.pk,
            node_pool_overview_html(obj, site),
        )

    def get_urls(self):
        def pool(request, object_id):
            return node_pool_view(self, request, object_id)

        return [
            path(
                "<path:object_id>/pool/",
                self.admin_site.admin_view(pool),
                name="servers_node_pool",
            ),
            *super().get_urls(),
        ]

    def response_add(self, request, obj, post_url_continue=None):
        # A new node has an empty pool: the next thing to do is fill it.
        if "_addanother" not in request.POST and "_continue" not in request.POST:
            self.message_user(
                request,
                f"The node “{obj}” was added. Now add addresses and ports to its IP pool.",
                messages.SUCCESS,
            )
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:servers_node_pool", args=[obj.pk])
            )
        return super().response_add(request, obj, post_url_continue)

    def get_deleted_objects(self, objs, request):
        # Django's own version lists every protected or deleted row: a million allocations.
        nodes = list(objs)
        site = self.admin_site.name
        servers = Server.objects.filter(node__in=nodes).order_by("name")
        protected = [
            format_html(
                'Server: <a href="{}">{}</a> on {}',
                reverse(f"{site}:servers_server_change", args=[server.pk]),
                server,
                server.node,
            )
            for server in servers.select_related("node")[:_NAMED_LIMIT]
        ]
        if protected:
            total = servers.count()
            if total > _NAMED_LIMIT:
                protected.append(f"and {total - _NAMED_LIMIT:,} more servers")
        pools = dict(
            Allocation.objects.filter(node__in=nodes)
            .values_list("node")
            .annotate(n=Count("pk"))
            .order_by()
        )
        deleted = []
        for node in nodes:
            deleted.append(format_html("Node: {}", node))
            deleted.append([f"{pools.get(node.pk, 0):,} allocations of its IP pool"])
        model_count = {
            Node._meta.verbose_name_plural: len(nodes),
            Allocation._meta.verbose_name_plural: sum(pools.values()),
        }
        perms_needed = set()
        if not self.has_delete_permission(request):
            perms_needed.add(Node._meta.verbose_name)
        if not request.user.has_perm("allocations.delete_allocation"):
            perms_needed.add(Allocation._meta.verbose_name)
        return deleted, model_count, perms_needed, protected

    def delete_model(self, request, obj):
        # Servers protect their node (checked on the confirmation page, and again by the
        # database); the pool, all free once no server is left, goes with it.
        with transaction.atomic():
            node = Node.objects.select_for_update().get(pk=obj.pk)
            delete_free_allocations(Allocation.objects.filter(node=node))
            node.delete()

    def delete_queryset(self, request, queryset):
        for node in queryset:
            self.delete_model(request, node)


# --- Subusers ---------------------------------------------------------------------------------


def _permission_choices():
    return [
        (
            group.capitalize(),
            [(f"{group}.{name}", f"{group}.{name}: {text}") for name, text in names.items()],
        )
        for group, names in PERMISSION_GROUPS.items()
    ]


class SubuserForm(forms.ModelForm):
    permissions = forms.MultipleChoiceField(
        choices=_permission_choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text="A subuser may do exactly what is ticked, nothing more.",
    )

    class Meta:
        model = Subuser
        fields = ("server", "user", "permissions")

    def clean(self):
        data = super().clean()
        user = data.get("user")
        server = data.get("server")
        if server is None and self.instance.server_id is not None:
            server = Server.objects.filter(pk=self.instance.server_id).first()
        if user is not None and server is not None and server.owner_id == user.pk:
            self.add_error("user", "The server's owner cannot also be its subuser.")
        return data

    def clean_permissions(self):
        return sorted(self.cleaned_data["permissions"])


class SubuserInline(admin.StackedInline):
    model = Subuser
    form = SubuserForm
    fields = ("user", "permissions")
    autocomplete_fields = ("user",)
    extra = 0


@admin.register(Subuser)
class SubuserAdmin(admin.ModelAdmin):
    form = SubuserForm
    list_display = ("user", "server", "permission_list", "created_at")
    list_select_related = ("user", "server")
    list_filter = ("server__node",)
    search_fields = ("user__username", "server__name", "server__identifier")
    autocomplete_fields = ("server", "user")

    @admin.display(description="Permissions")
    def permission_list(self, obj):
        return ", ".join(obj.permissions) or "none"


# --- Servers ----------------------------------------------------------------------------------


class ServerAddForm(forms.ModelForm):
    class Meta:
        model = Server
        fields = ("name", "owner", "allocation_limit", "state", "status")


@admin.register(Server)
class ServerAdmin(admin.ModelAdmin):
    list_display = (
        "name",
        "identifier",
        "owner",
        "node",
        "primary_address",
        "allocation_usage",
        "state",
        "status",
    )
    list_filter = ("node", "state", "status")
    list_select_related = ("owner", "node")
    search_fields = ("name", "identifier", "uuid", "owner__username", "owner__email", "node__name")
    autocomplete_fields = ("owner",)
    inlines = (ServerAllocationInline, SubuserInline)
    actions = ("suspend", "unsuspend")
    change_form_template = "admin/servers/server/change_form.html"

    def get_queryset(self, request):
        held = Allocation.objects.filter(server=OuterRef("pk"))
        primary = held.filter(is_primary=True)
        return (
            super()
            .get_queryset(request)
            .annotate(
                held_count=_count(held),
                primary_ip=Subquery(primary.values("ip")[:1]),
                primary_port=Subquery(primary.values("port")[:1]),
            )
        )

    @admin.display(description="Primary allocation")
    def primary_address(self, obj):
        if obj.primary_ip is None:
            return "—"
        return Allocation(ip=obj.primary_ip, port=obj.primary_port).address

    @admin.display(description="Allocations", ordering="held_count")
    def allocation_usage(self, obj):
        return f"{obj.held_count} of {obj.allocation_limit}"

    # The add form: the primary comes first, the node is the primary's.

    def get_fieldsets(self, request, obj=None):
        if obj is None:
            return [
                (None, {"fields": ("name", "owner", "primary")}),
                ("State", {"fields": ("state", "status")}),
                ("Allocations", {"fields": ("allocation_limit",)}),
            ]
        return [
            (None, {"fields": ("name", "owner", "node", "uuid", "identifier", "created_at")}),
            ("State", {"fields": ("state", "status")}),
            ("Allocations", {"fields": ("allocation_limit", "allocation_usage")}),
        ]

    def get_readonly_fields(self, request, obj=None):
        if obj is None:
            return ()
        return ("node", "uuid", "identifier", "created_at", "allocation_usage")

    def get_inlines(self, request, obj):
        return self.inlines if obj is not None else ()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            primary = FreeAllocationField(
                queryset=Allocation.objects.filter(server__isnull=True).select_related("node"),
                label="Primary allocation",
                help_text="A free allocation; the server is created on its node. Type an "
                "address, ip:port, a port or the node's name.",
                widget=FreeAllocationSelect(self.admin_site, attrs={"style": "width: 24em"}),
                error_messages={"invalid_choice": "That allocation is no longer free."},
            )
            kwargs["form"] = type("ServerAddForm", (ServerAddForm,), {"primary": primary})
        return super().get_form(request, obj, change=change, **kwargs)

    def save_form(self, request, form, change):
        if change:
            return super().save_form(request, form, change)
        data = form.cleaned_data
        return server_create(
            name=data["name"],
            owner=data["owner"],
            primary=data["primary"],
            allocation_limit=data["allocation_limit"],
            state=data["state"],
            status=data["status"],
            actor=_admin_actor(request),
        )

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
        # Added servers were saved by server_create in save_form.

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Allocation:
            return super().save_formset(request, form, formset, change)
        # Notes go through the notes service (logged like the API's); nothing else in this
        # inline is editable.
        formset.new_objects, formset.deleted_objects, formset.changed_objects = [], [], []
        for row_form in formset.initial_forms:
            if "notes" in row_form.changed_data:
                allocation_set_notes(
                    allocation=row_form.instance,
                    actor=_admin_actor(request),
                    notes=row_form.cleaned_data["notes"],
                )
                # For the admin's own history ("Changed notes for allocation ...").
                formset.changed_objects.append((row_form.instance, ["notes"]))

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except PanelError as exc:
            # A race lost after the form was valid (the chosen primary was just taken).
            self.message_user(request, exc.detail, messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None:
            assign_form = AssignAllocationForm(server=obj, admin_site=self.admin_site)
            site = self.admin_site.name
            context.update(
                assign_form=assign_form,
                actions_form_id=SERVER_ALLOCATION_ACTIONS_FORM,
                assign_url=reverse(f"{site}:servers_server_allocation_assign", args=[obj.pk]),
                activity_url=reverse(f"{site}:panel_activityentry_changelist")
                + f"?server__id__exact={obj.pk}",
                media=context["media"] + assign_form.media,
            )
        return super().render_change_form(request, context, add, change, form_url, obj)

    # Deleting: allocations go back to the pool first (SET_NULL alone would leave a
    # "primary" without a server, which the database refuses).

    def get_deleted_objects(self, objs, request):
        servers = list(objs)
        ids = [server.pk for server in servers]

        def per_server(queryset):
            return dict(
                queryset.filter(server__in=ids).values_list("server").annotate(n=Count("pk"))
            )

        held = per_server(Allocation.objects.order_by())
        subusers = per_server(Subuser.objects.order_by())
        activity = per_server(ActivityEntry.objects.order_by())
        deleted = []
        for server in servers:
            deleted.append(format_html("Server: {}", server))
            deleted.append(
                [
                    f"{held.get(server.pk, 0)} allocations go back to the node's pool",
                    f"{subusers.get(server.pk, 0)} subusers are removed",
                    f"{activity.get(server.pk, 0)} activity entries are deleted",
                ]
            )
        model_count = {
            Server._meta.verbose_name_plural: len(servers),
            Subuser._meta.verbose_name_plural: sum(subusers.values()),
            ActivityEntry._meta.verbose_name_plural: sum(activity.values()),
        }
        perms_needed = set() if self.has_delete_permission(request) else {"server"}
        return deleted, model_count, perms_needed, []

    def delete_model(self, request, obj):
        with transaction.atomic():
            server = Server.objects.select_for_update().filter(pk=obj.pk).first()
            if server is None:
                return
            Allocation.objects.filter(server=server).update(
                server=None, is_primary=False, notes=None
            )
            server.delete()

    def delete_queryset(self, request, queryset):
        for server in queryset:
            self.delete_model(request, server)

    # Allocation buttons on the change page: each calls one service and comes back.

    def get_urls(self):
        def view(func):
            return self.admin_site.admin_view(func)

        return [
            path(
                "<path:object_id>/allocations/assign/",
                view(self.allocation_assign_view),
                name="servers_server_allocation_assign",
            ),
            path(
                "<path:object_id>/allocations/<int:allocation_id>/primary/",
                view(self.allocation_primary_view),
                name="servers_server_allocation_primary",
            ),
            path(
                "<path:object_id>/allocations/<int:allocation_id>/remove/",
                view(self.allocation_remove_view),
                name="servers_server_allocation_remove",
            ),
            *super().get_urls(),
        ]

    def _server_for_action(self, request, object_id) -> Server:
        server = self.get_object(request, object_id)
        if server is None or not self.has_change_permission(request, server):
            raise PermissionDenied
        return server

    def _back(self, server):
        return HttpResponseRedirect(
            reverse(f"{self.admin_site.name}:servers_server_change", args=[server.pk])
        )

    def _run(self, request, server, action, success):
        """Call one service; say what happened, or the service's own refusal."""
        try:
            allocation = action()
        except PanelError as exc:
            self.message_user(request, exc.detail, messages.ERROR)
            return self._back(server)
        message = success(allocation)
        self.log_change(request, server, message)
        self.message_user(request, message, messages.SUCCESS)
        return self._back(server)

    def allocation_assign_view(self, request, object_id):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        server = self._server_for_action(request, object_id)
        actor = _admin_actor(request)
        if request.POST.get("next"):
            ip = port = None
        else:
            form = AssignAllocationForm(request.POST, server=server, admin_site=self.admin_site)
            if not form.is_valid():
                for error in form.errors.get("allocation", []):
                    self.message_user(request, error, messages.ERROR)
                return self._back(server)
            chosen = form.cleaned_data["allocation"]
            if chosen is None:
                self.message_user(
                    request,
                    "Choose a free allocation first, or assign the next available one.",
                    messages.ERROR,
                )
                return self._back(server)
            ip, port = chosen.ip, chosen.port

        def assign():
            return allocation_assign(
                server=server, actor=actor, ip=ip, port=port, enforce_limit=False
            )

        def success(allocation):
            held = Allocation.objects.filter(server=server).count()
            over = (
                f" It now holds {held}, above its limit of {server.allocation_limit}."
                if held > server.allocation_limit
                else ""
            )
            return f"Assigned {allocation.address} to {server}.{over}"

        return self._run(request, server, assign, success)

    def _held(self, server, allocation_id) -> Allocation:
        # Looked up among this server's own allocations only.
        return Allocation.objects.filter(server=server, pk=allocation_id).first()

    def allocation_primary_view(self, request, object_id, allocation_id):
        return self._held_allocation_action(
            request,
            object_id,
            allocation_id,
            lambda allocation: allocation_set_primary(
                allocation=allocation, actor=_admin_actor(request), enforce_state=False
            ),
            lambda server, row: f"{row.address} is now the primary allocation of {server}.",
        )

    def allocation_remove_view(self, request, object_id, allocation_id):
        return self._held_allocation_action(
            request,
            object_id,
            allocation_id,
            lambda allocation: allocation_unassign(
                allocation=allocation, actor=_admin_actor(request), enforce_state=False
            ),
            lambda server, row: f"Removed {row.address} from {server}; it is back in the pool.",
        )

    def _held_allocation_action(self, request, object_id, allocation_id, call, success):
        """POST only; the allocation is looked up among this server's own, then `call`
        runs through the services like every other path."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        server = self._server_for_action(request, object_id)
        allocation = self._held(server, allocation_id)
        if allocation is None:
            self.message_user(request, "That allocation is not this server's.", messages.ERROR)
            return self._back(server)
        return self._run(
            request,
            server,
            lambda: call(allocation),
            lambda row: success(server, row if row is not None else allocation),
        )

    # Bulk status changes.

    @admin.action(description="Suspend selected servers", permissions=["change"])
    def suspend(self, request, queryset):
        changed = queryset.exclude(status=ServerStatus.SUSPENDED).update(
            status=ServerStatus.SUSPENDED
        )
        self.message_user(request, f"Suspended {changed} server(s).", messages.SUCCESS)

    @admin.action(description="Unsuspend selected servers", permissions=["change"])
    def unsuspend(self, request, queryset):
        changed = queryset.filter(status=ServerStatus.SUSPENDED).update(status=ServerStatus.ACTIVE)
        self.message_user(request, f"Unsuspended {changed} server(s).", messages.SUCCESS)
