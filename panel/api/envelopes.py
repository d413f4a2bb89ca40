"""The error envelope, built in one place."""

from django.http import JsonResponse

from panel.errors import MethodNotAllowed, PanelError, TooManyRequests, ValidationFailed


def error_body(error: PanelError) -> dict:
    if isinstance(error, ValidationFailed):
        return {
            "errors": [
                {
                    "code": error.code,
                    "status": str(error.status),
                    "detail": e.detail,
                    "meta": {"source_field": e.field, "rule": e.rule},
                }
                for e in error.errors
            ]
        }
    return {"errors": [{"code": error.code, "status": str(error.status), "detail": error.detail}]}


def error_response(error: PanelError) -> JsonResponse:
    response = JsonResponse(error_body(error), status=error.status)
    if isinstance(error, TooManyRequests):
        response["Retry-After"] = str(error.retry_after)
    if error.status == 401:
        response["WWW-Authenticate"] = "Bearer"
    if isinstance(error, MethodNotAllowed) and error.allowed:
        response["Allow"] = ", ".join(error.allowed)
    return response
