"""Nothing under /api/ is ever answered in HTML, whatever raised and whatever DEBUG says."""

import logging
import sys

from django.core.signals import got_request_exception

from panel import errors
from panel.api.envelopes import error_response
from panel.api.exceptions import to_panel_error

logger = logging.getLogger("panel.api")

_BY_STATUS = {
    400: errors.BadRequest,
    403: errors.InsufficientPermissions,
    404: errors.NotFound,
    405: errors.MethodNotAllowed,
    413: errors.PayloadTooLarge,
}


def _remember_exception(sender, request=None, **kwargs):
    """Django turns an exception raised inside any middleware into a plain 500 page before
    this middleware sees it; keep the exception so the answer can still say what it was (a
    database outage is a 503, not a 500). Sent from inside Django's `except` block."""
    if request is not None and request.path.startswith("/api/"):
        request._panel_api_exception = sys.exc_info()[1]


got_request_exception.connect(_remember_exception, dispatch_uid="panel.api.remember_exception")


class ApiJsonErrorsMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path == "/api":
            # Would otherwise be redirected to /api/ by APPEND_SLASH: no API answer redirects.
            return error_response(errors.NotFound())
        if not request.path.startswith("/api/"):
            return self.get_response(request)
        try:
            response = self.get_response(request)
        except Exception as exc:  # an error outside any view, e.g. in a middleware
            return error_response(to_panel_error(exc))
        content_type = response.get("Content-Type", "")
        if response.status_code >= 400 and not content_type.startswith("application/json"):
            # Django answered by itself (bad Host header, CSRF page, debug page...): replace it.
            exc = getattr(request, "_panel_api_exception", None)
            if response.status_code >= 500 and exc is not None:
                return error_response(to_panel_error(exc))
            error_class = _BY_STATUS.get(response.status_code)
            error = error_class() if error_class else errors.PanelError()
            if response.status_code >= 500:
                logger.error("non-JSON %s under /api/ replaced", response.status_code)
            return error_response(error)
        return response

    def process_exception(self, request, exc):
        if request.path.startswith("/api/"):
            return error_response(to_panel_error(exc))
        return None
