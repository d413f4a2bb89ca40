"""The browser's server pages: the list, a server's overview, and its power buttons.

Thin like the API views: look up (scoped, 404 for what the user may not see), check, call a
service, render. HTMX requests get only the fragment that changed."""

from django.db.models import Prefetch, Q
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe
from django_htmx.http import trigger_client_event

from allocations.models import Allocation
from panel.activity import Actor
from panel.errors import NotFound, PanelError
from panel.web import (
    htmx_vary,
    login_required,
    redirect_with_outcome,
    render_inline_error,
    safe_next,
    server_for_page,
)
from servers.models import PowerState, Server, ServerStatus, Subuser
from servers.permissions import ALL_PERMISSIONS
from servers.selectors import server_get_for_user, server_permissions_for_user
from servers.services import server_set_power

# The event a power change sends, so that whatever shows state-dependent controls (the
# network tab's "stop it first" notice) refreshes itself; this app needs to know none of it.
STATE_CHANGED_EVENT = "server-state-changed"

SIGNAL_PAST = {"start": "started", "stop": "stopped", "restart": "restarted", "kill": "killed"}


def user_can(granted: frozenset[str] | None) -> dict[str, bool]:
    """`{"allocation_read": True, ...}` for templates: what the user may do on a server."""
    return {p.replace(".", "_"): granted is None or p in granted for p in ALL_PERMISSIONS}


def server_page_context(request, server: Server, *, primary=False) -> dict:
    """What the header of every server page needs. Pass `primary` (an allocation or None)
    when the caller has already loaded it, to save the query."""
    granted = server_permissions_for_user(server=server, user=request.user)
    if primary is False:
        primary = server.allocations.filter(is_primary=True).first()
    return {
        "server": server,
        "primary": primary,
        "can": user_can(granted),
        "granted": granted,
        "is_running": server.state != PowerState.OFFLINE,
        "is_active": server.status == ServerStatus.ACTIVE,
        "nav": "servers",
    }


def _listed_servers(user, *, everything: bool, query: str):
    servers = Server.objects.visible_to(user)
    if not everything:
        # Superusers see every server anyway; the list shows their own unless they ask.
        servers = servers.filter(
            Q(owner=user) | Q(pk__in=Subuser.objects.filter(user=user).values("server_id"))
        )
    if query:
        match = (
            Q(name__icontains=query)
            | Q(identifier__istartswith=query)
            | Q(allocations__ip__startswith=query)
            | Q(allocations__ip_alias__icontains=query)
        )
        if query.isdigit() and len(query) <= 5:
            match |= Q(allocations__port=int(query))
        servers = servers.filter(
            pk__in=Server.objects.filter(match).values("pk")
        )  # a subquery: no duplicate rows, and the joins stay out of the outer query
    return servers.select_related("node", "owner").prefetch_related(
        Prefetch(
            "allocations",
            queryset=Allocation.objects.filter(is_primary=True),
            to_attr="primary_allocations",
        )
    )


@login_required
@require_safe
def server_list(request):
    everything = request.user.is_superuser and request.GET.get("type") == "admin"
    query = request.GET.get("q", "").strip()[:100]
    servers = list(_listed_servers(request.user, everything=everything, query=query))
    for server in servers:
        server.primary = server.primary_allocations[0] if server.primary_allocations else None
    context = {"servers": servers, "query": query, "everything": everything, "nav": "servers"}
    template = "servers/server_list.html#results" if request.htmx else "servers/server_list.html"
    return htmx_vary(render(request, template, context))


@login_required
@require_safe
def server_detail(request, identifier: str):
    server = server_for_page(request, identifier)
    context = server_page_context(request, server)
    context["tab"] = "overview"
    context["allocation_count"] = server.allocations.count()
    context["granted_sorted"] = sorted(context["granted"] or ())
    template = "servers/server_base.html#header" if request.htmx else "servers/server_detail.html"
    return htmx_vary(render(request, template, context))


@login_required
@require_POST
def server_power(request, identifier: str):
    signal = request.POST.get("signal", "")
    fallback = reverse("servers:detail", args=[identifier])
    try:
        server = server_get_for_user(user=request.user, identifier=identifier)
        server = server_set_power(server=server, actor=Actor.from_request(request), signal=signal)
    except PanelError as exc:
        if not request.htmx:
            if isinstance(exc, NotFound):
                server_for_page(request, identifier)  # raises the 404 page
            return redirect_with_outcome(request, safe_next(request, fallback), error=exc)
        return render_inline_error(
            request, "servers/server_base.html#power-error", {}, exc, target="#power-error"
        )
    if not request.htmx:
        return redirect_with_outcome(
            request,
            safe_next(request, fallback),
            success=f"{server.name} {SIGNAL_PAST[signal]}.",
        )
    context = server_page_context(request, server)
    response = render(request, "servers/server_base.html#header", context)
    return trigger_client_event(response, STATE_CHANGED_EVENT, {"state": server.state})
