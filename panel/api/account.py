"""`/api/client/account/api-keys`: a user's own keys. The secret is in the create answer's
`meta.secret_token`, once; the bearer key is `identifier` + `secret_token`, as in
Pterodactyl."""

import re

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.response import Response

from panel.activity import Actor
from panel.api.inputs import BODY_OBJECT
from panel.api.schema import (
    BODY_ERRORS,
    NO_CONTENT,
    RESPONSE_HEADERS,
    ApiKeyCreatedSerializer,
    ApiKeyCreateRequestSerializer,
    ApiKeyListSerializer,
    errors,
)
from panel.api.views import ClientApiView
from panel.api_keys import IDENTIFIER_LENGTH, PREFIX, api_key_create, api_key_delete
from panel.errors import FieldError, NotFound, ValidationFailed
from panel.models import ApiKey

# What every key's identifier looks like; anything else (a NUL byte, say, which PostgreSQL
# text cannot even hold) names no key and is not looked up.
_IDENTIFIER = re.compile(re.escape(PREFIX) + f"[A-Za-z0-9]{{{IDENTIFIER_LENGTH - len(PREFIX)}}}")


def _iso(value) -> str | None:
    return value.isoformat(timespec="seconds") if value else None


def api_key_item(key: ApiKey) -> dict:
    return {
        "object": "api_key",
        "attributes": {
            "identifier": key.identifier,
            "description": key.description,
            "allowed_ips": list(key.allowed_ips),
            "last_used_at": _iso(key.last_used_at),
            "created_at": _iso(key.created_at),
        },
    }


def _parse_key_body(request) -> tuple[str, list[str]]:
    data = request.data
    if hasattr(data, "getlist"):  # a form: allowed_ips may repeat
        description = data.get("description")
        allowed = data.getlist("allowed_ips") or data.getlist("allowed_ips[]")
    elif isinstance(data, dict):
        description = data.get("description")
        allowed = data.get("allowed_ips")
    else:
        raise ValidationFailed([BODY_OBJECT])
    problems = []
    if isinstance(description, str):
        # Laravel trims every input string, and an empty one counts as missing.
        description = description.strip()
    if description is None or description == "":
        problems.append(FieldError("description", "required", "The description field is required."))
    elif not isinstance(description, str) or "\x00" in description:
        problems.append(FieldError("description", "string", "The description must be a string."))
    if allowed is None:
        allowed = []
    if not isinstance(allowed, list) or not all(isinstance(x, str) for x in allowed):
        problems.append(
            FieldError("allowed_ips", "array", "The allowed ips must be a list of addresses.")
        )
    if problems:
        raise ValidationFailed(problems)
    return description, allowed


class ApiKeyListView(ClientApiView):
    http_method_names = ["get", "post", "head"]

    @extend_schema(
        tags=["account"],
        operation_id="client_account_api_keys_list",
        summary="The caller's API keys (never a secret)",
        description="Every key of the caller, oldest first.",
        parameters=RESPONSE_HEADERS,
        responses={200: ApiKeyListSerializer, **errors()},
    )
    def get(self, request):
        keys = ApiKey.objects.filter(user=request.user).order_by("id")
        return Response({"object": "list", "data": [api_key_item(k) for k in keys]})

    @extend_schema(
        tags=["account"],
        operation_id="client_account_api_keys_create",
        summary="Make an API key; its secret is in meta.secret_token, this once",
        description="At most 25 keys a user: past that, 400 `DisplayException`.",
        parameters=RESPONSE_HEADERS,
        request=ApiKeyCreateRequestSerializer,
        responses={200: ApiKeyCreatedSerializer, **errors(*BODY_ERRORS)},
    )
    def post(self, request):
        description, allowed = _parse_key_body(request)
        issued = api_key_create(
            user=request.user,
            description=description,
            allowed_ips=allowed,
            actor=Actor.from_request(request),
        )
        item = api_key_item(issued.api_key)
        item["meta"] = {"secret_token": issued.secret}
        return Response(item)


class ApiKeyDetailView(ClientApiView):
    http_method_names = ["delete"]

    @extend_schema(
        tags=["account"],
        operation_id="client_account_api_keys_destroy",
        summary="Delete one of the caller's API keys: it stops working at once",
        description="Only the caller's own keys; any other identifier answers 404.",
        parameters=[
            OpenApiParameter(
                "identifier",
                str,
                OpenApiParameter.PATH,
                description="The key's identifier (`ptlc_` + 11 characters).",
            ),
            *RESPONSE_HEADERS,
        ],
        responses={204: NO_CONTENT, **errors(404)},
    )
    def delete(self, request, identifier: str):
        if not _IDENTIFIER.fullmatch(identifier) or not api_key_delete(
            user=request.user, identifier=identifier, actor=Actor.from_request(request)
        ):
            raise NotFound()
        return Response(status=204)
