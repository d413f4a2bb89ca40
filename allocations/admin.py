"""Admin for allocations: the list of every node's pool (fast at a million rows), the page
that adds to a node's IP pool, and the pieces the server admin uses to show and assign a
server's allocations (the held-allocations inline, the free-allocation autocomplete).

Writes that concern a server go through `allocations.services`, as the API's do; adding to a
pool goes through `allocations.pool`, as the `addallocations` command does."""

import ipaddress
import re

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ActionForm
from django.contrib.admin.views.autocomplete import AutocompleteJsonView
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied
from django.db import connection, transaction
from django.db.models import Count, Q
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from allocations.addresses import ip_sort_key, parse_ip
from allocations.models import Allocation
from allocations.pool import (
    MAX_ALIAS,
    MAX_ALLOCATIONS_PER_CALL,
    PoolInputError,
    pool_add,
    pool_parse,
)
from panel.admin import LargeTablePaginator
from servers.models import Node, Server

# Held allocations named in a refusal message before "and N more".
_NAMED_LIMIT = 20
# Rows deleted per statement when deleting free allocations in bulk.
_DELETE_BATCH = 10_000
# Addresses a node's pool overview and the address filter list.
_ADDRESSES_SHOWN = 100

# The id of the small form, outside the server's change form, that the per-allocation
# buttons submit: buttons of the change form itself would become its default button, so
# Enter in any field would remove an allocation.
SERVER_ALLOCATION_ACTIONS_FORM = "server-allocation-actions"


def ip_from_key(key: str) -> str:
    """The address an `ip_key` encodes (its family digit, then the value in hex)."""
    value = int(key[1:], 16)
    address = ipaddress.IPv4Address(value) if key[0] == "4" else ipaddress.IPv6Address(value)
    return str(address) if address.version == 4 else address.compressed


_IP_PORT = re.compile(
    r"\[(?P<v6>[^\]]+)\]:(?P<port6>[0-9]{1,5})|(?P<v4>[0-9.]+):(?P<port4>[0-9]{1,5})"
)
_PARTIAL_IP = re.compile(r"[0-9a-f.:]*[.:][0-9a-f.:]*")
_IDENTIFIER = re.compile(r"[0-9a-f]{8}")


def _by_key(**lookups) -> Q:
    # With the node in the condition, PostgreSQL looks the address up in the
    # (node, ip_key, port) unique index; without it, it would read the whole table.
    return Q(node_id__in=Node.objects.values("pk"), **lookups)


def _text_q(term: str) -> Q:
    return (
        Q(ip_alias__icontains=term)
        | Q(notes__icontains=term)
        | Q(server_id__in=Server.objects.filter(name__icontains=term).values("pk"))
        | Q(node_id__in=Node.objects.filter(name__icontains=term).values("pk"))
    )


def allocation_search_q(term: str) -> Q:
    """What one search word matches:
    - a whole address or `ip:port` (`[v6]:port`): that address, compared by value;
    - a number of up to 5 digits: that port;
    - 8 hexadecimal characters: that server identifier, or text;
    - the start of an address (`10.0.`): addresses starting so, or text;
    - anything else: text in the alias, notes, server name or node name."""
    match = _IP_PORT.fullmatch(term)
    if match:
        address = parse_ip(match["v6"] or match["v4"])
        port = int(match["port6"] or match["port4"])
        if address is not None:
            return _by_key(ip_key=ip_sort_key(address), port=port)
    address = parse_ip(term.removeprefix("[").removesuffix("]"))
    if address is not None:
        return _by_key(ip_key=ip_sort_key(address))
    lowered = term.lower()
    if term.isascii() and term.isdigit() and len(term) <= 5:
        return _by_key(port=int(term))
    q = _text_q(term)
    if _IDENTIFIER.fullmatch(lowered):
        q |= Q(server_id__in=Server.objects.filter(identifier=lowered).values("pk"))
    if _PARTIAL_IP.fullmatch(lowered):
        q |= Q(ip__startswith=lowered)
    return q


def free_allocation_label(allocation: Allocation) -> str:
    alias = f" ({allocation.ip_alias})" if allocation.ip_alias else ""
    return f"{allocation.node.name} · {allocation.address}{alias}"


# --- The allocation list ----------------------------------------------------------------------


class AllocationStatusFilter(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("free", "Free"), ("assigned", "Assigned"), ("primary", "Primary")]

    def queryset(self, request, queryset):
        match self.value():
            case "free":
                return queryset.filter(server__isnull=True)
            case "assigned":
                return queryset.filter(server__isnull=False)
            case "primary":
                return queryset.filter(is_primary=True)
        return queryset


class AddressFilter(admin.SimpleListFilter):
    """By address. The choices are the addresses of the chosen node (a pool can hold tens of
    thousands, so none are listed before a node is chosen); any address works in `?ip=`."""

    title = "address"
    parameter_name = "ip"

    def lookups(self, request, model_admin):
        choices = []
        node_id = request.GET.get("node__id__exact", "")
        if node_id.isascii() and node_id.isdigit():
            choices = [(ip, ip) for ip in node_addresses(int(node_id), limit=_ADDRESSES_SHOWN)]
        value = self.value()
        if value and all(value != ip for ip, _ in choices):
            choices.append((value, value))
        return choices

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        address = parse_ip(value)
        if address is None:
            return queryset.none()
        return queryset.filter(_by_key(ip_key=ip_sort_key(address)))


def node_addresses(node_id: int, *, limit: int) -> list[str]:
    """The node's first `limit` distinct addresses, in numeric order. A loose index scan:
    one index probe per address (`MIN(ip_key) > previous`), so a pool of a million rows on
    a handful of addresses costs a handful of probes, not a million-row DISTINCT."""
    meta = Allocation._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    node = quote(meta.get_field("node").column)
    key = quote(meta.get_field("ip_key").column)
    sql = (
        f"WITH RECURSIVE keys(ip_key, n) AS ("
        f" SELECT CAST(MIN({key}) AS TEXT), 1 FROM {table} WHERE {node} = %s"
        f" UNION ALL"
        f" SELECT CAST((SELECT MIN({key}) FROM {table} WHERE {node} = %s AND {key} > keys.ip_key)"
        f" AS TEXT), n + 1 FROM keys WHERE keys.ip_key IS NOT NULL AND n < %s"
        f") SELECT ip_key FROM keys WHERE ip_key IS NOT NULL ORDER BY n"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [node_id, node_id, limit])
        return [ip_from_key(row[0]) for row in cursor.fetchall()]


def delete_free_allocations(queryset) -> int:
    """Delete the free allocations of `queryset`, in batches inside one transaction. Rows a
    server is claiming right now are locked by that claim and skipped, so a row is never
    deleted from under a server."""
    free = queryset.filter(server__isnull=True).order_by()
    deleted = 0
    with transaction.atomic():
        while True:
            ids = list(
                free.select_for_update(skip_locked=True, of=("self",)).values_list("pk", flat=True)[
                    :_DELETE_BATCH
                ]
            )
            if not ids:
                break
            _, per_model = Allocation.objects.filter(pk__in=ids, server__isnull=True).delete()
            count = per_model.get(Allocation._meta.label, 0)
            if not count:
                break
            deleted += count
    return deleted


class AllocationActionForm(ActionForm):
    """The action menu, plus the alias the "set alias" action writes."""

    ip_alias = forms.CharField(
        label="Alias:",
        required=False,
        max_length=MAX_ALIAS,
        widget=forms.TextInput(attrs={"size": 16, "placeholder": "for “Set the IP alias”"}),
    )


class FreeAllocationAutocomplete(AutocompleteJsonView):
    """Select2 answers for "a free allocation", optionally of one node (`?node=`): used to
    pick a new server's primary and to assign a specific allocation to a server."""

    def process_request(self, request):
        node = request.GET.get("node", "")
        self.node_id = int(node) if node.isascii() and node.isdigit() else None
        model_admin = self.admin_site.get_model_admin(Allocation)
        return request.GET.get("term", ""), model_admin, None, "pk"

    def has_perm(self, request, obj=None):
        user = request.user
        return self.model_admin.has_view_permission(request) and (
            user.has_perm("servers.add_server") or user.has_perm("servers.change_server")
        )

    def get_queryset(self):
        queryset = Allocation.objects.filter(server__isnull=True).select_related("node")
        if self.node_id is not None:
            queryset = queryset.filter(node_id=self.node_id)
        queryset, _ = self.model_admin.get_search_results(self.request, queryset, self.term)
        # The partial index of free rows serves exactly this order.
        return queryset.order_by("node_id", "ip_key", "port")

    def serialize_result(self, obj, to_field_name):
        return {"id": str(obj.pk), "text": free_allocation_label(obj)}


class _FreeAllocationRelation:
    """What Django's autocomplete widget reads of the relation it serves. No model has a
    foreign key to "a free allocation", so this stands in for one."""

    model = Server
    name = "primary"

    class remote_field:  # the attribute name Django reads
        model = Allocation
        field_name = "id"


class FreeAllocationSelect(AutocompleteSelect):
    """Django's autocomplete widget, asking our free-allocation view (of `node_id` only,
    when given) instead of the generic one, which would offer held rows too."""

    def __init__(self, admin_site, *, node_id: int | None = None, attrs=None):
        super().__init__(_FreeAllocationRelation, admin_site, attrs=attrs)
        self.node_id = node_id

    def get_url(self):
        url = reverse(f"{self.admin_site.name}:allocations_allocation_free_autocomplete")
        return f"{url}?node={self.node_id}" if self.node_id is not None else url


class FreeAllocationField(forms.ModelChoiceField):
    def label_from_instance(self, obj):
        return free_allocation_label(obj)


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):
    list_display = ("address", "node", "ip_alias", "server_link", "primary", "notes")
    list_display_links = ("address",)
    list_editable = ("ip_alias",)
    list_filter = ("node", AllocationStatusFilter, AddressFilter)
    list_select_related = ("node", "server")
    list_per_page = 100
    # The order of the (node, ip_key, port) unique index: a page is an index range scan.
    # Other orders would sort a million rows on every page, so columns are not sortable.
    ordering = ("node_id", "ip_key", "port")
    sortable_by = ()
    # Only turns the search box on; get_search_results does the matching.
    search_fields = ("ip", "ip_alias", "notes", "server__name")
    search_help_text = (
        "An address, ip:port ([::1]:25565 for IPv6), a port number, a server identifier, the "
        "start of an address (10.0.), or text in the alias, notes, server name or node name. "
        "Several words must all match."
    )
    paginator = LargeTablePaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    actions = ("delete_free", "set_alias")
    action_form = AllocationActionForm
    fields = ("node", "ip", "port", "ip_alias", "server_link", "primary", "notes")
    readonly_fields = ("node", "ip", "port", "server_link", "primary", "notes")

    @admin.display(description="Address")
    def address(self, obj):
        return obj.address

    @admin.display(description="Primary", boolean=True)
    def primary(self, obj):
        return obj.is_primary

    @admin.display(description="Server")
    def server_link(self, obj):
        if obj.server_id is None:
            return "—"
        url = reverse(f"{self.admin_site.name}:servers_server_change", args=[obj.server_id])
        return format_html('<a href="{}">{}</a>', url, obj.server)

    def get_urls(self):
        return [
            path(
                "free-autocomplete/",
                self.admin_site.admin_view(
                    FreeAllocationAutocomplete.as_view(admin_site=self.admin_site)
                ),
                name="allocations_allocation_free_autocomplete",
            ),
            *super().get_urls(),
        ]

    def get_search_results(self, request, queryset, search_term):
        for word in search_term.split():
            queryset = queryset.filter(allocation_search_q(word))
        return queryset, False

    def has_add_permission(self, request):
        # Allocations are added to a node's pool, many at a time, from the node's page.
        return False

    def has_delete_permission(self, request, obj=None):
        # A held allocation leaves its server through the server's page (the service), never
        # by deleting the row.
        if obj is not None and obj.server_id is not None:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        # Django's delete would take held allocations away from their servers.
        actions.pop("delete_selected", None)
        return actions

    def delete_model(self, request, obj):
        # Only if still free when the row is deleted: a server may have claimed it since the
        # confirmation page was shown.
        if not delete_free_allocations(Allocation.objects.filter(pk=obj.pk)):
            raise PermissionDenied

    def save_model(self, request, obj, form, change):
        # Only the alias is editable here. Write just that column: a whole-row save could
        # undo a claim a server made since this page read the row.
        if change:
            Allocation.objects.filter(pk=obj.pk).update(ip_alias=obj.ip_alias)
        else:
            super().save_model(request, obj, form, change)

    @admin.action(description="Delete selected free allocations", permissions=["delete"])
    def delete_free(self, request, queryset):
        held_rows = queryset.filter(server__isnull=False).select_related("server")
        held = list(held_rows.order_by("node_id", "ip_key", "port")[: _NAMED_LIMIT + 1])
        deleted = delete_free_allocations(queryset)
        if deleted:
            self.message_user(
                request,
                f"Deleted {deleted:,} free allocation{'s' if deleted != 1 else ''}.",
                messages.SUCCESS,
            )
        if held:
            held_count = len(held) if len(held) <= _NAMED_LIMIT else held_rows.count()
            names = ", ".join(
                f"{row.address} (held by {row.server})" for row in held[:_NAMED_LIMIT]
            )
            more = f" and {held_count - _NAMED_LIMIT:,} more" if held_count > _NAMED_LIMIT else ""
            self.message_user(
                request,
                f"Not deleted, because a server holds {'it' if held_count == 1 else 'them'}: "
                f"{names}{more}. Remove an allocation from its server first.",
                messages.ERROR,
            )
        elif not deleted:
            self.message_user(request, "No free allocations were selected.", messages.WARNING)

    @admin.action(description="Set the IP alias of selected allocations", permissions=["change"])
    def set_alias(self, request, queryset):
        alias = (request.POST.get("ip_alias") or "").strip() or None
        if alias is not None and len(alias) > MAX_ALIAS:
            self.message_user(
                request, f"The alias may be at most {MAX_ALIAS} characters.", messages.ERROR
            )
            return
        # One UPDATE of that column only, whatever the selection's size.
        changed = queryset.order_by().update(ip_alias=alias)
        what = f"“{alias}”" if alias else "no alias"
        self.message_user(
            request,
            f"{changed:,} allocation{'s' if changed != 1 else ''} now have {what}.",
            messages.SUCCESS,
        )


# --- Adding to a node's IP pool ---------------------------------------------------------------


class PoolAddForm(forms.Form):
    # Not `required`: the pool service names what is missing, with every other error.
    ip = forms.CharField(
        label="IP addresses",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
        help_text="One or more addresses or CIDR blocks, separated by commas, spaces or new "
        "lines: <code>203.0.113.10</code>, <code>203.0.113.0/24</code>, "
        "<code>2001:db8::/120</code>. A block adds every one of its addresses; blocks may be "
        "IPv4 /16 to /32 and IPv6 /112 to /128.",
    )
    ports = forms.CharField(
        label="Ports",
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Single ports and ranges, separated by commas or spaces: "
        "<code>25565, 25570-25580 27015</code>. Ports 1-65535; ranges include both ends.",
    )
    alias = forms.CharField(
        label="IP alias",
        required=False,
        max_length=MAX_ALIAS,
        help_text="Optional. A hostname shown to users instead of the address, such as "
        "<code>play.example.com</code>.",
    )

    def clean(self):
        data = super().clean()
        self.pool_request = None
        try:
            self.pool_request = pool_parse(
                ips=data.get("ip", ""), ports=data.get("ports", ""), alias=data.get("alias")
            )
        except PoolInputError as exc:
            for field, field_messages in exc.field_errors.items():
                for message in field_messages:
                    self.add_error(field if field in self.fields else None, message)
        return data


def node_pool_overview(node, *, limit: int = _ADDRESSES_SHOWN) -> list[dict]:
    """The node's first `limit` addresses (numeric order) with their port counts; one more
    row than `limit` means there are more."""
    rows = (
        Allocation.objects.filter(node=node)
        .values("ip_key")
        .annotate(ports=Count("pk"), assigned=Count("server"))
        .order_by("ip_key")[: limit + 1]
    )
    return [
        {
            "ip": ip_from_key(row["ip_key"]),
            "ports": row["ports"],
            "assigned": row["assigned"],
            "free": row["ports"] - row["assigned"],
        }
        for row in rows
    ]


def node_pool_overview_html(node, admin_site_name: str) -> str:
    rows = node_pool_overview(node)
    if not rows:
        return "The pool is empty."
    list_url = reverse(f"{admin_site_name}:allocations_allocation_changelist")
    body = format_html_join(
        "",
        '<tr><td><a href="{}?node__id__exact={}&amp;ip={}">{}</a></td>'
        "<td>{}</td><td>{}</td><td>{}</td></tr>",
        (
            (
                list_url,
                node.pk,
                row["ip"],
                row["ip"],
                f"{row['ports']:,}",
                f"{row['assigned']:,}",
                f"{row['free']:,}",
            )
            for row in rows[:_ADDRESSES_SHOWN]
        ),
    )
    more = (
        format_html(
            '<p>Only the first {} addresses are shown; <a href="{}?node__id__exact={}">'
            "the allocation list</a> has them all.</p>",
            _ADDRESSES_SHOWN,
            list_url,
            node.pk,
        )
        if len(rows) > _ADDRESSES_SHOWN
        else ""
    )
    return format_html(
        "<table><thead><tr><th>Address</th><th>Ports</th><th>Assigned</th><th>Free</th>"
        "</tr></thead><tbody>{}</tbody></table>{}",
        body,
        more,
    )


def node_pool_view(model_admin, request, object_id):
    """The "add to IP pool" page of one node. `model_admin` is the node's admin."""
    node = model_admin.get_object(request, object_id)
    if node is None:
        return model_admin._get_obj_does_not_exist_redirect(request, model_admin.opts, object_id)
    if not (
        model_admin.has_change_permission(request, node)
        and request.user.has_perm("allocations.add_allocation")
    ):
        raise PermissionDenied
    site = model_admin.admin_site.name
    if request.method == "POST":
        form = PoolAddForm(request.POST)
        if form.is_valid():
            result = pool_add(node=node, request=form.pool_request)
            summary = (
                f"Added {result.created:,} allocation{'s' if result.created != 1 else ''} to "
                f"{node}; {result.skipped:,} already existed and "
                f"{'was' if result.skipped == 1 else 'were'} skipped."
            )
            model_admin.log_change(request, node, summary)
            list_url = reverse(f"{site}:allocations_allocation_changelist")
            model_admin.message_user(
                request,
                format_html(
                    '{} <a href="{}?node__id__exact={}">See the allocations.</a>',
                    summary,
                    list_url,
                    node.pk,
                ),
                messages.SUCCESS,
            )
            return HttpResponseRedirect(request.path)
    else:
        form = PoolAddForm()
    context = {
        **model_admin.admin_site.each_context(request),
        "title": f"Add to the IP pool of {node}",
        "subtitle": None,
        "opts": model_admin.opts,
        "original": node,
        "form": form,
        "max_allocations": MAX_ALLOCATIONS_PER_CALL,
        "overview": node_pool_overview_html(node, site),
        "allocations_url": reverse(f"{site}:allocations_allocation_changelist")
        + f"?node__id__exact={node.pk}",
    }
    return TemplateResponse(request, "admin/servers/node/add_pool.html", context)


# --- A server's allocations, on the server's page ---------------------------------------------


class HeldAllocationForm(forms.ModelForm):
    class Meta:
        model = Allocation
        fields = ("notes",)
        widgets = {"notes": forms.TextInput(attrs={"size": 30})}


class ServerAllocationInline(admin.TabularInline):
    """The allocations a server holds. Notes are saved through the notes service; making
    primary and removing are buttons that call the services; rows are never added or
    deleted here (that would bypass them)."""

    model = Allocation
    fk_name = "server"
    form = HeldAllocationForm
    fields = ("address", "ip_alias", "notes", "primary", "allocation_actions")
    readonly_fields = ("address", "ip_alias", "primary", "allocation_actions")
    extra = 0
    can_delete = False
    verbose_name = "allocation"
    verbose_name_plural = "allocations held"

    def get_queryset(self, request):
        return super().get_queryset(request).order_by("-is_primary", "ip_key", "port")

    def has_add_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description="Address")
    def address(self, obj):
        return obj.address

    @admin.display(description="Primary", boolean=True)
    def primary(self, obj):
        return obj.is_primary

    @admin.display(description="")
    def allocation_actions(self, obj):
        if obj.pk is None or obj.server_id is None:
            return ""
        site = self.admin_site.name
        if obj.is_primary:
            return "Primary (make another primary to remove it)"
        primary_url = reverse(
            f"{site}:servers_server_allocation_primary", args=[obj.server_id, obj.pk]
        )
        remove_url = reverse(
            f"{site}:servers_server_allocation_remove", args=[obj.server_id, obj.pk]
        )
        return format_html(
            '<button type="submit" class="button" form="{form}" formaction="{primary}">'
            "Make primary</button> "
            '<button type="submit" class="button" form="{form}" formaction="{remove}">'
            "Remove</button>",
            form=SERVER_ALLOCATION_ACTIONS_FORM,
            primary=primary_url,
            remove=remove_url,
        )


class AssignAllocationForm(forms.Form):
    """A free allocation of the server's node, chosen with the autocomplete. Its field
    belongs to the actions form (HTML `form` attribute), not to the server's form."""

    def __init__(self, *args, server: Server, admin_site, **kwargs):
        kwargs.setdefault("prefix", "assign")
        super().__init__(*args, **kwargs)
        self.fields["allocation"] = FreeAllocationField(
            queryset=Allocation.objects.filter(
                node_id=server.node_id, server__isnull=True
            ).select_related("node"),
            required=False,
            label=f"Free allocation of {server.node.name}",
            widget=FreeAllocationSelect(
                admin_site,
                node_id=server.node_id,
                attrs={"form": SERVER_ALLOCATION_ACTIONS_FORM, "style": "width: 24em"},
            ),
            error_messages={
                "invalid_choice": "That allocation is not a free allocation of this node."
            },
        )
