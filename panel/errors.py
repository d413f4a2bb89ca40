"""Typed errors. Services raise them; `panel.api.exceptions` turns them into the error
envelope in one place, and the HTMX views show the same `detail` inline."""

from dataclasses import dataclass


class PanelError(Exception):
    code: str = "ServerErrorException"
    status: int = 500
    detail: str = (
        "An unexpected error was encountered while processing this request, please try again."
    )

    def __init__(self, detail: str | None = None):
        if detail is not None:
            self.detail = detail
        super().__init__(self.detail)


class BadRequest(PanelError):
    code, status = "BadRequestHttpException", 400
    detail = "The JSON data passed in the request appears to be malformed."


class InvalidCredentials(PanelError):
    code, status = "InvalidCredentialsException", 401
    detail = "The API credentials provided are missing or invalid."


class InsufficientPermissions(PanelError):
    code, status = "InsufficientPermissionsException", 403
    detail = "You do not have permission to perform this action."


class CsrfFailed(InsufficientPermissions):
    detail = "CSRF verification failed. Reload the page and try again."


class IpNotAllowed(InsufficientPermissions):
    def __init__(self, ip: str):
        super().__init__(
            f"This IP address ({ip}) does not have permission to access the API using these "
            "credentials."
        )


class NotFound(PanelError):
    code, status = "NotFoundHttpException", 404
    detail = "The requested resource could not be found."


class MethodNotAllowed(PanelError):
    code, status = "MethodNotAllowedHttpException", 405
    detail = "The requested method is not allowed on this resource."

    def __init__(self, allowed: list[str] | None = None):
        self.allowed = allowed or []
        super().__init__()


class PayloadTooLarge(PanelError):
    code, status = "PayloadTooLargeHttpException", 413
    detail = "The request body is too large."


class UnsupportedMediaType(PanelError):
    code, status = "UnsupportedMediaTypeHttpException", 415
    detail = "The request body must be JSON or a form."


class TooManyRequests(PanelError):
    code, status = "TooManyRequestsHttpException", 429
    detail = "Too many requests. Please slow down."

    def __init__(self, retry_after: int):
        self.retry_after = max(1, int(retry_after))
        super().__init__()


class ServiceUnavailable(PanelError):
    code, status = "ServiceUnavailableHttpException", 503
    detail = "The service is temporarily unavailable, please try again."


class ApiKeyLimitReached(PanelError):
    # Pterodactyl's code and text for the same refusal, so its clients recognise it.
    code, status = "DisplayException", 400
    detail = "You have reached the account limit for number of API keys."


class ConflictingServerState(PanelError):
    code, status = "ConflictingServerStateException", 400


class ServerSuspended(ConflictingServerState):
    detail = "This server is suspended."


class ServerNotInstalled(ConflictingServerState):
    detail = "This server has not completed its installation."


@dataclass(frozen=True)
class FieldError:
    field: str
    rule: str
    detail: str


class ValidationFailed(PanelError):
    """422: one entry per failed rule."""

    code, status = "ValidationException", 422

    def __init__(self, errors: list[FieldError]):
        self.errors = errors
        super().__init__(errors[0].detail if errors else "The given data was invalid.")
