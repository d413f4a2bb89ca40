import json

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from panel.errors import PayloadTooLarge


def max_body_size() -> int:
    """Django's own cap on a form body (2.5 MiB by default), for JSON too. Well past any
    valid network body, yet large enough that an oversized field (say a megabyte of notes)
    is answered by its own 422 rule rather than by a status the contract does not list."""
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2_621_440


class StrictJSONParser(JSONParser):
    """JSON that rejects NaN/Infinity, bodies past `max_body_size()`, and nesting deep
    enough to exhaust the parser's recursion (which `json` reports as RecursionError, not
    ValueError)."""

    def parse(self, stream, media_type=None, parser_context=None):
        limit = max_body_size()
        raw = stream.read(limit + 1) if stream is not None else b""
        if len(raw) > limit:
            raise PayloadTooLarge()
        try:
            text = raw.decode("utf-8")
            return json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError() from exc


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")
