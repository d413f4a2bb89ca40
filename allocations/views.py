"""The network tab: one page, named partials, each action an HTMX request that swaps only
what changed. The same services and input rules as the API; a refusal shows the typed
error's `detail` where the action was taken.

Checks run in the API's order: server visible (404), allocation is the server's (404),
server usable (400), permission (403), input (422), then the service's own rules.

Each row shows its allocation's health (from `monitoring`), which the page refreshes on its
own: one request for every row's health cells, swapped out of band, so nothing else on the
page (a note being typed) is touched."""

from django.conf import settings
from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST, require_safe

from allocations import services
from allocations.addresses import format_ip_port
from allocations.api.inputs import NOTES_MISSING, Body, parse_create, parse_notes
from allocations.errors import ServerMustBeStoppedForPrimary, ServerMustBeStoppedForRemoval
from allocations.selectors import (
    allocation_addresses_for_node,
    allocation_get_for_server,
    allocation_list_for_server,
)
from monitoring.probe import NOT_PERMITTED
from monitoring.selectors import health_for_allocations
from monitoring.services import allocation_port_test
from panel.activity import Actor
from panel.errors import NotFound, PanelError, TooManyRequests
from panel.web import (
    htmx_vary,
    login_required,
    redirect_with_outcome,
    render_inline_error,
    server_for_page,
)
from servers import permissions as perms
from servers.selectors import (
    server_get_for_user,
    server_permissions_for_user,
    server_require_permission,
    server_require_usable,
)
from servers.views import server_page_context

TAB = "allocations/network_tab.html"


def _tab_url(identifier: str) -> str:
    return reverse("allocations:network", args=[identifier])


def _with_health(rows: list) -> list:
    """The rows, each with its `health` (a fixed number of queries for all of them)."""
    health = health_for_allocations(allocations=rows)
    for row in rows:
        row.health = health[row.pk]
    return rows


def _network_context(request, server) -> dict:
    rows = _with_health(allocation_list_for_server(server=server))
    rows.sort(key=lambda a: (not a.is_primary, a.id))  # the primary first, then by id
    primary = rows[0] if rows and rows[0].is_primary else None
    context = server_page_context(request, server, primary=primary)
    used = len(rows)
    context.update(
        tab="network",
        allocations=rows,
        used=used,
        limit=server.allocation_limit,
        at_limit=used >= server.allocation_limit,
        usage_percent=min(100, round(100 * used / server.allocation_limit))
        if server.allocation_limit
        else 100,
        addresses=allocation_addresses_for_node(node_id=server.node_id)
        if context["can"]["allocation_create"]
        else [],
        # Health changes once a monitor interval at most: refreshing faster shows nothing new.
        health_refresh_seconds=max(2, settings.PANEL_MONITOR_INTERVAL),
    )
    return context


def _usable_server(request, identifier: str, permission: str):
    server = server_get_for_user(user=request.user, identifier=identifier)
    server_require_usable(server=server)
    server_require_permission(server=server, user=request.user, permission=permission)
    return server


def _usable_allocation(request, identifier: str, allocation: int, permission: str):
    server = server_get_for_user(user=request.user, identifier=identifier)
    row = allocation_get_for_server(server=server, allocation_id=str(allocation))
    server_require_usable(server=server)
    server_require_permission(server=server, user=request.user, permission=permission)
    return server, row


def _refused(request, identifier: str, exc: PanelError, *, partial: str, target: str):
    """Show a refusal: inline where the action was taken, or, without JavaScript, as a
    message on the network tab (a 404 page when the server itself is not the user's)."""
    if not request.htmx:
        if isinstance(exc, NotFound):
            server_for_page(request, identifier)
        return redirect_with_outcome(request, _tab_url(identifier), error=exc)
    context = {}
    if isinstance(exc, ServerMustBeStoppedForPrimary | ServerMustBeStoppedForRemoval):
        # "Stop it first", with the stop button at hand when the user may press it.
        server = server_get_for_user(user=request.user, identifier=identifier)
        granted = server_permissions_for_user(server=server, user=request.user)
        context = {
            "server": server,
            "stop_hint": True,
            "can_stop": granted is None or "control.stop" in granted,
        }
    return render_inline_error(request, f"{TAB}#{partial}", context, exc, target=target)


def _readable_server(request, identifier: str):
    """The server, for reading its network tab: (server, None), or (None, the answer that
    says why not)."""
    server = server_for_page(request, identifier)
    try:
        server_require_usable(server=server)
        server_require_permission(
            server=server, user=request.user, permission=perms.ALLOCATION_READ
        )
    except PanelError as exc:
        context = server_page_context(request, server)
        context.update(tab="network", refused=exc)
        if request.htmx:
            response = render_inline_error(
                request, f"{TAB}#region", context, exc, target="#network-region", swap="outerHTML"
            )
            return None, htmx_vary(response)
        return None, htmx_vary(render(request, TAB, context, status=exc.status))
    return server, None


@login_required
@require_safe
def network_tab(request, identifier: str):
    server, refusal = _readable_server(request, identifier)
    if refusal is not None:
        return refusal
    context = _network_context(request, server)
    # An HTMX GET is the region refreshing itself (after a power change): notice and rows.
    return htmx_vary(render(request, f"{TAB}#region" if request.htmx else TAB, context))


@login_required
@require_POST
def allocation_add(request, identifier: str):
    # Empty fields mean "any": the form always sends both.
    values = {k: request.POST[k].strip() for k in ("ip", "port") if request.POST.get(k, "").strip()}
    try:
        server = _usable_server(request, identifier, perms.ALLOCATION_CREATE)
        data = parse_create(Body(values=values, is_form=True))
        row = services.allocation_assign(
            server=server, actor=Actor.from_request(request), ip=data.ip, port=data.port
        )
    except PanelError as exc:
        return _refused(request, identifier, exc, partial="add-error", target="#add-error")
    if not request.htmx:
        added = format_ip_port(row.ip_alias or row.ip, row.port)
        return redirect_with_outcome(request, _tab_url(identifier), success=f"Added {added}.")
    context = _network_context(request, server)
    # The new row as the list has it, health and all.
    added = next((a for a in context["allocations"] if a.pk == row.pk), None)
    if added is None:  # already gone again
        added = _with_health([row])[0]
    # Keep "choose an address and port" open for whoever is adding several by hand.
    context.update(added=added, oob=True, specific_open="port" in request.POST)
    return render(request, f"{TAB}#added", context)


@login_required
@require_POST
def allocation_notes(request, identifier: str, allocation: int):
    sent = {"notes": request.POST["notes"]} if "notes" in request.POST else {}
    try:
        _, row = _usable_allocation(request, identifier, allocation, perms.ALLOCATION_UPDATE)
        notes = parse_notes(Body(values=sent, is_form=True))
        if notes is not NOTES_MISSING:
            row = services.allocation_set_notes(
                allocation=row, actor=Actor.from_request(request), notes=notes
            )
    except PanelError as exc:
        return _refused(
            request,
            identifier,
            exc,
            partial="notes-status",
            target=f"#alloc-{allocation}-notes-status",
        )
    if not request.htmx:
        return redirect_with_outcome(request, _tab_url(identifier), success="Notes saved.")
    return render(request, f"{TAB}#notes-status", {"saved": True, "a": row})


@login_required
@require_POST
def allocation_make_primary(request, identifier: str, allocation: int):
    try:
        server, row = _usable_allocation(request, identifier, allocation, perms.ALLOCATION_UPDATE)
        row = services.allocation_set_primary(allocation=row, actor=Actor.from_request(request))
    except PanelError as exc:
        return _refused(
            request, identifier, exc, partial="row-error", target=f"#alloc-{allocation}-error"
        )
    if not request.htmx:
        shown = format_ip_port(row.ip_alias or row.ip, row.port)
        return redirect_with_outcome(
            request, _tab_url(identifier), success=f"{shown} is now the primary allocation."
        )
    # The order and both badges change: the list again, and the header's address.
    context = _network_context(request, server)
    context["oob"] = True
    return render(request, f"{TAB}#primary-changed", context)


@login_required
@require_POST
def allocation_remove(request, identifier: str, allocation: int):
    try:
        server, row = _usable_allocation(request, identifier, allocation, perms.ALLOCATION_DELETE)
        services.allocation_unassign(allocation=row, actor=Actor.from_request(request))
    except PanelError as exc:
        return _refused(
            request, identifier, exc, partial="row-error", target=f"#alloc-{allocation}-error"
        )
    if not request.htmx:
        shown = format_ip_port(row.ip_alias or row.ip, row.port)
        return redirect_with_outcome(request, _tab_url(identifier), success=f"Removed {shown}.")
    # The row goes (the answer's main content is empty); the usage line and add controls
    # change with the count.
    context = _network_context(request, server)
    context["oob"] = True
    return render(request, f"{TAB}#removed", context)


@login_required
@require_safe
def network_health(request, identifier: str):
    """Every row's health cells, each swapped out of band into its row (the page polls this).
    A refusal (the server suspended meanwhile, the permission taken away) replaces the list
    with the reason, as the tab itself would show it."""
    if not request.htmx:
        return redirect(_tab_url(identifier))
    server, refusal = _readable_server(request, identifier)
    if refusal is not None:
        return refusal
    rows = _with_health(allocation_list_for_server(server=server))
    return htmx_vary(render(request, f"{TAB}#health-refresh", {"allocations": rows}))


def _test_outcome(result) -> tuple[bool, str]:
    if result.reachable:
        return True, f"is reachable: {result.latency_ms:.2f} ms."
    if result.error == NOT_PERMITTED:
        return False, f"was not tested: {result.error}."
    return False, f"is not reachable: {result.error}."


@login_required
@require_POST
def allocation_test(request, identifier: str, allocation: int):
    """Connect to the allocation's own address now (permission allocation.read, as in the
    API) and show the answer in its row, with the row's health brought up to date."""
    target = f"#alloc-{allocation}-test"
    try:
        _, row = _usable_allocation(request, identifier, allocation, perms.ALLOCATION_READ)
        result = allocation_port_test(allocation=row)
    except TooManyRequests as exc:
        seconds = exc.retry_after
        hint = f"Try again in {seconds} second{'s' if seconds != 1 else ''}."
        if not request.htmx:
            messages.error(request, f"{exc.detail} {hint}")
            return redirect(_tab_url(identifier))
        response = render_inline_error(
            request, f"{TAB}#test-result", {"retry_hint": hint}, exc, target=target
        )
        response["Retry-After"] = str(seconds)
        return response
    except PanelError as exc:
        return _refused(request, identifier, exc, partial="test-result", target=target)
    if not request.htmx:
        ok, outcome = _test_outcome(result)
        shown = format_ip_port(row.ip, row.port)
        (messages.success if ok else messages.error)(request, f"{shown} {outcome}")
        return redirect(_tab_url(identifier))
    context = {"a": _with_health([row])[0], "result": result, "health_oob": True}
    return render(request, f"{TAB}#tested", context)
