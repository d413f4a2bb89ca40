import json

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from panel.errors import PayloadTooLarge

MAX_JSON_BODY = 64 * 1024  # the largest valid network body is a few hundred bytes


class StrictJSONParser(JSONParser):
    """JSON that rejects NaN/Infinity, bodies past 64 KiB, and nesting deep enough to exhaust
    the parser's recursion (which `json` reports as RecursionError, not ValueError)."""

    def parse(self, stream, media_type=None, parser_context=None):
        raw = stream.read(MAX_JSON_BODY + 1) if stream is not None else b""
        if len(raw) > MAX_JSON_BODY:
            raise PayloadTooLarge()
        try:
            text = raw.decode("utf-8")
            return json.loads(text, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise ParseError() from exc


def _reject_constant(name: str):
    raise ValueError(f"{name} is not valid JSON")
