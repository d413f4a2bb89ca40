"""DRF's exception handler: every exception a client API view raises becomes the envelope."""

import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404
from rest_framework import exceptions as drf

from panel import errors
from panel.api.envelopes import error_response

logger = logging.getLogger("panel.api")


def to_panel_error(exc: Exception) -> errors.PanelError:
    """The typed error an exception stands for. Unknown exceptions are bugs: 500."""
    if isinstance(exc, errors.PanelError):
        return exc
    if isinstance(exc, drf.NotAuthenticated | drf.AuthenticationFailed):
        return errors.InvalidCredentials()
    if isinstance(exc, drf.Throttled):
        return errors.TooManyRequests(math.ceil(exc.wait or 1))
    if isinstance(exc, drf.MethodNotAllowed):
        return errors.MethodNotAllowed()
    if isinstance(exc, drf.UnsupportedMediaType):
        return errors.UnsupportedMediaType()
    if isinstance(exc, drf.ParseError):
        return errors.BadRequest()
    if isinstance(exc, drf.NotFound | Http404):
        return errors.NotFound()
    if isinstance(exc, drf.PermissionDenied | DjangoPermissionDenied):
        return errors.InsufficientPermissions()
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable, or a lock/statement timeout ran out.
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return errors.ServiceUnavailable()
    logger.exception("unhandled error in the client API", exc_info=exc)
    return errors.PanelError()


def api_exception_handler(exc: Exception, context: dict):
    return error_response(to_panel_error(exc))
