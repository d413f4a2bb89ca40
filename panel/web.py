"""What the browser views share: an HTMX-aware login check, the scoped server lookup for
pages, and the one way a typed error is shown inline.

The browser views never answer JSON: a service's `PanelError` is rendered as its `detail`
where the action was taken (HTMX), or as a message on the page it returns to (no JS)."""

from functools import wraps
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.utils.cache import patch_vary_headers
from django.utils.http import url_has_allowed_host_and_scheme
from django_htmx.http import HttpResponseClientRedirect, retarget

from panel.errors import NotFound, PanelError
from servers.selectors import server_get_for_user

# Set on an error answer that is meant to be swapped in where the action was taken; the
# page script swaps 4xx answers only when they carry it (a CSRF or 404 page never is).
INLINE_ERROR_HEADER = "X-Panel-Inline-Error"


def login_required(view):
    """Like Django's, but an HTMX request whose session has ended is sent to the sign-in
    page as a whole page, back to the page it came from, instead of swapping the sign-in
    form into a fragment."""

    @wraps(view)
    def wrapped(request, *args, **kwargs):
        if request.user.is_authenticated:
            return view(request, *args, **kwargs)
        if request.htmx:
            back = request.htmx.current_url_abs_path or "/"
            login_url = resolve_url(settings.LOGIN_URL)
            return HttpResponseClientRedirect(f"{login_url}?{urlencode({'next': back})}")
        return redirect_to_login(request.get_full_path())

    return wrapped


def server_for_page(request, identifier: str):
    """The server for a page: 404 for one that does not exist or the user may not see."""
    try:
        return server_get_for_user(user=request.user, identifier=identifier)
    except NotFound:
        raise Http404(NotFound.detail) from None


def error_details(exc: PanelError) -> list[str]:
    """Every text the error carries: one per failed rule for a validation error."""
    errors = getattr(exc, "errors", None)
    if errors:
        return [e.detail for e in errors]
    return [exc.detail]


def render_inline_error(
    request, template: str, context: dict, exc: PanelError, *, target: str, swap="innerHTML"
) -> HttpResponse:
    """Render `template` (a partial naming `error`) with the error's status, aimed at
    `target` whatever the element that asked had aimed at."""
    context = {**context, "error": exc, "error_details": error_details(exc)}
    response = render(request, template, context, status=exc.status)
    response[INLINE_ERROR_HEADER] = "1"
    response["HX-Reswap"] = swap
    return retarget(response, target)


def htmx_vary(response: HttpResponse) -> HttpResponse:
    """A page and its fragment share a URL: caches must key on the HTMX header."""
    patch_vary_headers(response, ("HX-Request",))
    return response


def safe_next(request, fallback: str) -> str:
    """Where a no-JavaScript form returns to: its `next`, if it is one of ours."""
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return fallback


def redirect_with_outcome(request, to: str, *, error: PanelError | None = None, success=""):
    """The answer to a form posted without JavaScript: back to the page, with a message."""
    if error is not None:
        for text in error_details(error):
            messages.error(request, text)
    elif success:
        messages.success(request, success)
    return redirect(to)
