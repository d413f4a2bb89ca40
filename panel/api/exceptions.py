"""DRF's exception handler: every exception a client API view raises becomes the envelope."""

import logging
import math

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
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
    if isinstance(exc, RequestDataTooBig):
        # Django's own cap on a form body (the JSON parser applies the same one).
        return errors.PayloadTooLarge()
    if isinstance(exc, SuspiciousOperation):
        # Django's other refusals of a request it will not parse: too many form fields or
        # files, and the like. The client's fault, not a bug.
        logger.warning("suspicious request refused: %s", exc.__class__.__name__)
        return errors.BadRequest()
    if isinstance(exc, OperationalError | InterfaceError):
        # The database is unreachable, or a lock/statement timeout ran out.
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return errors.ServiceUnavailable()
    if _is_cache_outage(exc):
        # The rate-limit cache (Redis) is unreachable: as temporary as a database outage.
        logger.warning("cache unavailable: %s", exc.__class__.__name__)
        return errors.ServiceUnavailable()
    logger.exception("unhandled error in the client API", exc_info=exc)
    return errors.PanelError()


def api_exception_handler(exc: Exception, context: dict):
    return error_response(to_panel_error(exc))


def _is_cache_outage(exc: Exception) -> bool:
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # pragma: no cover - redis is a dependency
        return False
    return isinstance(exc, RedisConnectionError | RedisTimeoutError)
