"""Body validation for the network endpoints: Pterodactyl's rules, exact texts, one error
per failed rule. Hand-written because the rules are stricter than a serializer's coercion
(a JSON `true` or `"25566"` is not an integer here, but in a form a digit string is)."""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from allocations.addresses import canonical_ip, parse_ip
from panel.api.inputs import BODY_OBJECT
from panel.errors import FieldError, ValidationFailed

NOTES_MAX = 255
PORT_MIN, PORT_MAX = 1, 65535
_DIGITS = re.compile(r"[0-9]+")
# The Unicode White_Space characters; notes are trimmed of exactly these.
_WHITE_SPACE = (
    "\u0009\u000a\u000b\u000c\u000d\u0020\u0085\u00a0\u1680"
    "\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u2028\u2029\u202f\u205f\u3000"
)

IP_INVALID = FieldError("ip", "ip", "The ip must be a valid IP address.")
PORT_INTEGER = FieldError("port", "integer", "The port must be an integer.")
PORT_BETWEEN = FieldError("port", "between", "The port must be between 1 and 65535.")
NOTES_STRING = FieldError("notes", "string", "The notes must be a string.")
NOTES_MAX_ERROR = FieldError("notes", "max", "The notes may not be greater than 255 characters.")


@dataclass(frozen=True)
class Body:
    """A request body as a plain mapping, and whether it came from a form."""

    values: Mapping
    is_form: bool

    @classmethod
    def from_request(cls, request) -> "Body":
        data = request.data  # parses now: 400 for bad JSON, 415 for other content types
        if hasattr(data, "getlist"):  # a QueryDict: form or multipart
            return cls(values={k: data.get(k) for k in data}, is_form=True)
        if not isinstance(data, dict):
            raise ValidationFailed([BODY_OBJECT])
        return cls(values=data, is_form=False)

    def get(self, field: str):
        """The value, or None when absent or null (null counts as absent)."""
        return self.values.get(field)

    def has(self, field: str) -> bool:
        return field in self.values


@dataclass(frozen=True)
class CreateInput:
    ip: str | None
    port: int | None


def _clean_port(value, is_form: bool) -> tuple[int | None, FieldError | None]:
    if is_form and isinstance(value, str):
        if not _DIGITS.fullmatch(value):
            return None, PORT_INTEGER
        digits = value.lstrip("0")
        if len(digits) > 5:  # also keeps int() away from absurdly long strings
            return None, PORT_BETWEEN
        value = int(digits or "0")
    if isinstance(value, bool) or not isinstance(value, int):
        return None, PORT_INTEGER
    if not PORT_MIN <= value <= PORT_MAX:
        return None, PORT_BETWEEN
    return value, None


def parse_create(body: Body) -> CreateInput:
    problems: list[FieldError] = []
    ip = port = None
    raw_ip = body.get("ip")
    if raw_ip is not None:
        address = parse_ip(raw_ip)
        if address is None:
            problems.append(IP_INVALID)
        else:
            ip = canonical_ip(address)
    raw_port = body.get("port")
    if raw_port is not None:
        port, problem = _clean_port(raw_port, body.is_form)
        if problem:
            problems.append(problem)
    if problems:
        raise ValidationFailed(problems)
    return CreateInput(ip=ip, port=port)


def _is_storable_text(value: str) -> bool:
    """No NUL (PostgreSQL text cannot hold it) and no lone surrogates (not encodable)."""
    if "\x00" in value:
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


_MISSING = object()


def parse_notes(body: Body):
    """The cleaned notes: a trimmed string, None (clear), or `_MISSING` (leave as is)."""
    if not body.has("notes"):
        return _MISSING
    value = body.values["notes"]
    if value is None:
        return None
    if not isinstance(value, str) or not _is_storable_text(value):
        raise ValidationFailed([NOTES_STRING])
    value = value.strip(_WHITE_SPACE)
    if len(value) > NOTES_MAX:
        raise ValidationFailed([NOTES_MAX_ERROR])
    return value or None


NOTES_MISSING = _MISSING
