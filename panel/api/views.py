"""The base every client API view shares: checks in the spec's order, JSON only."""

from django.views.decorators.csrf import csrf_exempt
from rest_framework.views import APIView

from panel.api.envelopes import error_response
from panel.api.throttles import check_user_rate
from panel.errors import InvalidCredentials, MethodNotAllowed, NotFound


class ClientApiView(APIView):
    """Runs, in order: method (405), the failed-auth limit (429), credentials (401), the
    key's allowed IPs (403), CSRF for session writes (403), the user's rate limit (429).
    The view itself then looks up the server, the allocation, the status, the permission
    and last of all reads the body (DRF parses it lazily, on first access)."""

    # OPTIONS is not served: other methods answer 405.
    http_method_names = ["get", "post", "delete", "head"]

    def initial(self, request, *args, **kwargs):
        method = request.method.lower()
        if method not in self.http_method_names or not hasattr(self, method):
            raise MethodNotAllowed(allowed=self._allowed_methods())
        self.format_kwarg = None
        request.accepted_renderer, request.accepted_media_type = self.perform_content_negotiation(
            request
        )
        request.user  # noqa: B018 - runs authentication now, in its place in the order
        if not request.user.is_authenticated:
            raise InvalidCredentials()
        check_user_rate(request.user)

    def http_method_not_allowed(self, request, *args, **kwargs):
        raise MethodNotAllowed(allowed=self._allowed_methods())

    def get_exception_handler_context(self):
        return {"view": self}


@csrf_exempt
def api_not_found(request, *args, **kwargs):
    """A path the API does not have at all: the 404 envelope, for any method, never the CSRF
    page (the API's own views are CSRF-exempt too and check CSRF only for sessions)."""
    return error_response(NotFound())
