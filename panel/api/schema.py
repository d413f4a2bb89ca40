"""OpenAPI 3 for the client API (drf-spectacular).

The views answer hand-built dicts, so what they answer is declared here with serializers
used for documentation only: nothing validates or renders through them. Every operation
declares its error answers with the one `ErrorEnvelope` component."""

from django.conf import settings
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema_field,
    inline_serializer,
)
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation

from panel.api.negotiation import AlwaysJSON

# --- fields ------------------------------------------------------------------------------------


def const(value: str, **kwargs) -> serializers.Field:
    """A string that is always `value` (an envelope's `object`). A plain enum per field,
    not a shared component: spectacular would otherwise name every `object` enum alike."""

    @extend_schema_field({"type": "string", "enum": [value]})
    class Const(serializers.CharField):
        pass

    return Const(**kwargs)


def one_of(values: list[str], *, nullable: bool = False, **kwargs) -> serializers.Field:
    """A string from `values` (or null), inline for the same reason as `const`."""
    schema = {"type": "string", "enum": [*values, None] if nullable else list(values)}
    if nullable:
        schema["nullable"] = True

    @extend_schema_field(schema)
    class OneOf(serializers.CharField):
        pass

    return OneOf(allow_null=nullable, **kwargs)


# --- the error envelope -------------------------------------------------------------------------


class ErrorMetaSerializer(serializers.Serializer):
    source_field = serializers.CharField()
    rule = serializers.CharField()


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField(help_text="The error's name, e.g. `NotFoundHttpException`.")
    status = serializers.CharField(help_text="The HTTP status, as a string.")
    detail = serializers.CharField()
    meta = ErrorMetaSerializer(required=False, help_text="Only on a 422: the field and rule.")


class ErrorEnvelopeSerializer(serializers.Serializer):
    errors = ErrorSerializer(many=True)


_ERROR_DESCRIPTIONS = {
    400: "A conflicting server state, a limit reached, or a body that is not JSON "
    "(`BadRequestHttpException`).",
    401: "Missing or invalid credentials (`InvalidCredentialsException`); carries "
    "`WWW-Authenticate: Bearer`.",
    403: "A missing permission, a caller outside the key's allowed IPs, or a failed CSRF "
    "check (`InsufficientPermissionsException`).",
    404: "Unknown, or not the caller's to see (`NotFoundHttpException`): byte-identical "
    "answers either way.",
    409: "The requested allocation is not free (`AllocationNotAvailableException`).",
    413: "The body is too large (`PayloadTooLargeHttpException`).",
    415: "A body that is neither JSON nor a form (`UnsupportedMediaTypeHttpException`).",
    422: "The body fails validation (`ValidationException`): one entry per failed rule.",
    429: "Rate limited (`TooManyRequestsHttpException`); carries `Retry-After`.",
    500: "A bug (`ServerErrorException`).",
    503: "The database or cache is unavailable, or a lock timed out "
    "(`ServiceUnavailableHttpException`); `NoAvailableAllocationsException` on create.",
}

# Every client endpoint can answer these, whatever it does.
COMMON_ERRORS = (401, 403, 429, 500, 503)
# And these when it reads a body.
BODY_ERRORS = (400, 413, 415, 422)


def errors(*statuses: int) -> dict[int, OpenApiResponse]:
    """The error answers of an operation: `statuses` and the common ones."""
    codes = sorted(set(statuses) | set(COMMON_ERRORS))
    return {
        code: OpenApiResponse(ErrorEnvelopeSerializer, description=_ERROR_DESCRIPTIONS[code])
        for code in codes
    }


RESPONSE_HEADERS = [
    OpenApiParameter(
        "Retry-After",
        int,
        OpenApiParameter.HEADER,
        required=True,
        description="Whole seconds until a request would be allowed.",
        response=[429],
    ),
    OpenApiParameter(
        "WWW-Authenticate",
        str,
        OpenApiParameter.HEADER,
        required=True,
        description="Always `Bearer`.",
        response=[401],
    ),
]

SERVER_PARAMETER = OpenApiParameter(
    "server",
    str,
    OpenApiParameter.PATH,
    description="The server's 8-character identifier or its full uuid, in any letter case.",
)

NO_CONTENT = OpenApiResponse(None, description="Done; the body is empty.")


# --- pagination -------------------------------------------------------------------------------


class PaginationLinksSerializer(serializers.Serializer):
    previous = serializers.URLField(required=False)
    next = serializers.URLField(required=False)


class PaginationSerializer(serializers.Serializer):
    total = serializers.IntegerField(min_value=0)
    count = serializers.IntegerField(min_value=0)
    per_page = serializers.IntegerField(min_value=1, max_value=100)
    current_page = serializers.IntegerField(min_value=1)
    total_pages = serializers.IntegerField(min_value=1)
    links = PaginationLinksSerializer()


class ListMetaSerializer(serializers.Serializer):
    pagination = PaginationSerializer()


def page_parameters(default_per_page: int) -> list[OpenApiParameter]:
    return [
        OpenApiParameter(
            "page", int, description="The page, from 1. Past the last page: an empty page."
        ),
        OpenApiParameter(
            "per_page",
            int,
            description=f"Items a page (default {default_per_page}); above 100 is cut to 100.",
        ),
    ]


# --- account API keys -------------------------------------------------------------------------


class ApiKeyAttributesSerializer(serializers.Serializer):
    identifier = serializers.CharField(min_length=16, max_length=16)
    description = serializers.CharField(allow_blank=True)
    allowed_ips = serializers.ListField(child=serializers.CharField())
    last_used_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()


class ApiKeySerializer(serializers.Serializer):
    object = const("api_key")
    attributes = ApiKeyAttributesSerializer()


class ApiKeyListSerializer(serializers.Serializer):
    object = const("list")
    data = ApiKeySerializer(many=True)


ApiKeyCreatedSerializer = inline_serializer(
    "ApiKeyCreated",
    {
        "object": const("api_key"),
        "attributes": ApiKeyAttributesSerializer(),
        "meta": inline_serializer(
            "ApiKeySecret",
            {
                "secret_token": serializers.CharField(
                    min_length=32,
                    max_length=32,
                    help_text="The secret, shown this once: the bearer key is "
                    "`attributes.identifier` followed by it.",
                )
            },
        ),
    },
)


class ApiKeyCreateRequestSerializer(serializers.Serializer):
    description = serializers.CharField(max_length=500)
    allowed_ips = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        allow_null=True,
        max_length=50,
        help_text="Addresses or CIDR ranges the key may be used from; empty: any.",
    )


# --- security schemes ---------------------------------------------------------------------------


class ApiKeyScheme(OpenApiAuthenticationExtension):
    target_class = "panel.api.authentication.ApiKeyAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "bearerFormat": "ptlc_ + 11 identifier + 32 secret characters",
            "description": "A client API key: `Authorization: Bearer ptlc_...`.",
        }


class CsrfSessionScheme(OpenApiAuthenticationExtension):
    target_class = "panel.api.authentication.CsrfSessionAuthentication"
    name = "cookieAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "cookie",
            "name": settings.SESSION_COOKIE_NAME,
            "description": "A browser session; unsafe methods also need the CSRF token.",
        }


# --- serving ----------------------------------------------------------------------------------


def client_paths(endpoints):
    """Spectacular preprocessing hook: paths as the API documents them, without the
    optional trailing slash every route accepts."""
    result = []
    for path, path_regex, method, callback in endpoints:
        if path != "/":
            path = path.rstrip("/")
        result.append((path, path_regex, method, callback))
    return result


class _FirstRenderer(BaseContentNegotiation):
    """The docs page is HTML whatever the Accept header says: never 406."""

    def select_parser(self, request, parsers):
        return None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class SchemaView(SpectacularAPIView):
    """The schema, as JSON (the API's own negotiation: never 406, never YAML)."""

    content_negotiation_class = AlwaysJSON


class DocsView(SpectacularSwaggerView):
    """Swagger UI from the vendored sidecar assets (no CDN)."""

    content_negotiation_class = _FirstRenderer
