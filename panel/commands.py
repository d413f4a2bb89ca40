"""What every panel management command shares (see ../shared/spec/operations.md).

Operators script these commands, so their interface is a contract:
- `--json` prints exactly one JSON object on standard output; without it, a readable line;
- bad input exits non-zero with a one-line message on standard error and changes nothing.
Subclasses implement `run(**options)` and return `(data, text)`; they raise `CommandError`
(or a panel/Django validation error, converted here) before writing anything."""

import json
import re
import uuid

from django.contrib.auth import get_user_model
from django.core.exceptions import NON_FIELD_ERRORS, ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import InterfaceError, OperationalError

from panel.errors import PanelError, ValidationFailed
from servers.models import Node, Server


def one_line(message: str) -> str:
    """Collapse any whitespace run, newlines included, so an error stays on one line."""
    return " ".join(str(message).split())


def validation_message(exc: ValidationError) -> str:
    """A model's full_clean() errors as `field: message` pairs, so the user knows which."""
    if hasattr(exc, "error_dict"):
        return " ".join(
            message if field == NON_FIELD_ERRORS else f"{field}: {message}"
            for field, messages in exc.message_dict.items()
            for message in messages
        )
    return " ".join(exc.messages)


class OneLineCommandParser(CommandParser):
    def error(self, message):
        if self.called_from_command_line:
            # argparse would print the whole usage block first; scripts want one line.
            self.exit(2, f"{self.prog}: error: {one_line(message)}\n")
        raise CommandError(f"Error: {one_line(message)}")


class PanelCommand(BaseCommand):
    # System-check warnings would be written to stderr and break the one-line contract;
    # `manage.py check` is where checks belong.
    requires_system_checks = []

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        # Django builds its CommandParser itself and offers no hook for the class.
        parser.__class__ = OneLineCommandParser
        parser.add_argument(
            "--json",
            action="store_true",
            help="Print exactly one JSON object on standard output.",
        )
        return parser

    def run(self, **options) -> tuple[dict, str]:
        raise NotImplementedError

    def handle(self, *args, **options):
        try:
            data, text = self.run(**options)
        except CommandError as exc:
            raise CommandError(one_line(str(exc)), returncode=exc.returncode) from exc
        except ValidationFailed as exc:
            raise CommandError(one_line("; ".join(e.detail for e in exc.errors))) from exc
        except PanelError as exc:
            raise CommandError(one_line(exc.detail)) from exc
        except ValidationError as exc:
            raise CommandError(one_line(validation_message(exc))) from exc
        except (OperationalError, InterfaceError) as exc:
            # Unreachable database, or a lock/statement timeout: one line, not a traceback.
            raise CommandError(
                one_line(f"The database is unavailable, nothing was changed: {exc}")
            ) from exc
        if options.get("json"):
            self.stdout.write(json.dumps(data))
        else:
            self.stdout.write(text)


# --- Argument lookups shared by several commands --------------------------------------------


def get_user(username: str):
    User = get_user_model()
    user = User.objects.filter(**{User.USERNAME_FIELD: username}).first()
    if user is None:
        raise CommandError(f"No user `{one_line(username)[:60]}`.")
    return user


def get_node(value: str) -> Node:
    """NODE is an id when all digits (a node name never is), else a name."""
    value = value.strip()
    if value.isascii() and value.isdigit():
        # Longer than any 64-bit id: not found, rather than an overflow in the database.
        node = Node.objects.filter(pk=int(value)).first() if len(value) <= 18 else None
        if node is None:
            raise CommandError(f"No node with id {value[:60]}.")
        return node
    node = Node.objects.filter(name=value).first()
    if node is None:
        raise CommandError(f"No node named `{one_line(value)[:60]}`.")
    return node


_IDENTIFIER = re.compile(r"[0-9a-f]{8}")


def get_server(value: str) -> Server:
    """SERVER is the full uuid or the 8-character identifier, in any letter case."""
    text = value.strip().lower()
    server = None
    if _IDENTIFIER.fullmatch(text):
        server = Server.objects.filter(identifier=text).first()
    elif len(text) == 36:
        try:
            server = Server.objects.filter(uuid=uuid.UUID(text)).first()
        except ValueError:
            server = None
    if server is None:
        raise CommandError(
            f"No server `{one_line(value)[:60]}` (give its uuid or 8-character identifier)."
        )
    return server
