"""Who is calling: a bearer API key, or a logged-in browser session (with CSRF).

A request with an `Authorization` header is judged by that header alone; a bad key never
falls back to the session."""

from django.conf import settings
from rest_framework.authentication import BaseAuthentication, CSRFCheck, SessionAuthentication

from panel.api.throttles import check_auth_failure_rate, record_auth_failure
from panel.api_keys import api_key_allows_ip, api_key_authenticate, api_key_touch
from panel.client_ip import client_ip
from panel.errors import CsrfFailed, InvalidCredentials, IpNotAllowed


class ApiKeyAuthentication(BaseAuthentication):
    def authenticate(self, request):
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            if request._request.COOKIES.get(settings.SESSION_COOKIE_NAME):
                # A session is credentials too: an address over its failure budget is refused.
                check_auth_failure_rate(request)
            return None
        check_auth_failure_rate(request)
        scheme, _, token = header.strip().partition(" ")
        api_key = None
        if scheme.lower() == "bearer":
            api_key = api_key_authenticate(token.strip())
        if api_key is None:
            record_auth_failure(request)
            raise InvalidCredentials()
        ip = client_ip(request)
        if not api_key_allows_ip(api_key, ip):
            raise IpNotAllowed(ip)
        api_key_touch(api_key)
        return api_key.user, api_key

    def authenticate_header(self, request):
        return "Bearer"


class CsrfSessionAuthentication(SessionAuthentication):
    """DRF's session authentication, with the spec's CSRF error."""

    def enforce_csrf(self, request):
        def dummy_get_response(request):  # pragma: no cover - never called
            return None

        check = CSRFCheck(dummy_get_response)
        check.process_request(request)
        if check.process_view(request, None, (), {}) is not None:
            raise CsrfFailed()
