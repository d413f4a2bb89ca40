"""The API keys page: list, create (the key shown once), delete. Same services as the API."""

import re

from django.conf import settings
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods, require_POST

from panel.api_keys import api_key_create, api_key_delete
from panel.errors import NotFound, PanelError
from panel.models import ApiKey
from panel.web import (
    error_details,
    htmx_vary,
    login_required,
    redirect_with_outcome,
    render_inline_error,
)

PAGE = "account/api_keys.html"
_SEPARATORS = re.compile(r"[\s,]+")


def _keys_context(request, **extra) -> dict:
    keys = list(ApiKey.objects.filter(user=request.user).order_by("-created_at", "-id"))
    return {"keys": keys, "max_keys": settings.PANEL_MAX_API_KEYS, "nav": "keys", **extra}


@login_required
@never_cache  # the answer to a create holds the key itself: no cache may keep it
@require_http_methods(["GET", "POST"])
def api_keys(request):
    if request.method == "GET":
        template = f"{PAGE}#keys" if request.htmx else PAGE
        return htmx_vary(render(request, template, _keys_context(request)))
    description = request.POST.get("description", "").strip()
    allowed_ips_text = request.POST.get("allowed_ips", "")
    allowed_ips = [entry for entry in _SEPARATORS.split(allowed_ips_text) if entry]
    entered = {"description": description, "allowed_ips_text": allowed_ips_text}
    try:
        issued = api_key_create(user=request.user, description=description, allowed_ips=allowed_ips)
    except PanelError as exc:
        context = _keys_context(request, entered=entered)
        if request.htmx:
            return render_inline_error(
                request, f"{PAGE}#create", context, exc, target="#create-key", swap="outerHTML"
            )
        context.update(error=exc, error_details=error_details(exc))
        return render(request, PAGE, context, status=exc.status)
    # Shown in this answer and never again: not redirected, not stored in the session.
    context = _keys_context(request, issued=issued, oob=bool(request.htmx))
    return render(request, f"{PAGE}#created" if request.htmx else PAGE, context)


@login_required
@require_POST
def api_key_remove(request, identifier: str):
    try:
        if not api_key_delete(user=request.user, identifier=identifier):
            raise NotFound()
    except PanelError as exc:
        if not request.htmx:
            return redirect_with_outcome(request, reverse("api_keys"), error=exc)
        return render_inline_error(request, f"{PAGE}#keys-error", {}, exc, target="#keys-error")
    if not request.htmx:
        return redirect_with_outcome(
            request, reverse("api_keys"), success=f"Deleted the key {identifier}."
        )
    return render(request, f"{PAGE}#keys", _keys_context(request))
