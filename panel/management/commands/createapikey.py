from datetime import UTC

from django.core.management.base import CommandError
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from panel.api_keys import api_key_create
from panel.commands import PanelCommand, get_user


def parse_expiry(value: str):
    """An ISO 8601 time; one without an offset is read as UTC (the panel's time zone)."""
    try:
        moment = parse_datetime(value.strip())
    except ValueError:
        moment = None
    if moment is None:
        raise CommandError(f"`{value[:60]}` is not an ISO 8601 time such as 2030-01-31T12:00:00Z.")
    if timezone.is_naive(moment):
        moment = moment.replace(tzinfo=UTC)
    if moment <= timezone.now():
        raise CommandError(f"The expiry time {moment.isoformat()} has already passed.")
    return moment


class Command(PanelCommand):
    help = "Issue a client API key for a user. The key is printed once and never again."

    def add_arguments(self, parser):
        parser.add_argument("username", metavar="USER")
        parser.add_argument("--description", default="")
        parser.add_argument(
            "--allowed-ip",
            action="append",
            default=[],
            dest="allowed_ips",
            metavar="IP_OR_CIDR",
            help="Only requests from here may use the key; once per entry.",
        )
        parser.add_argument("--expires-at", metavar="ISO8601")

    def run(self, *, username, description, allowed_ips, expires_at, **options):
        expiry = parse_expiry(expires_at) if expires_at is not None else None
        user = get_user(username)
        issued = api_key_create(
            user=user,
            description=description.strip(),
            allowed_ips=allowed_ips,
            expires_at=expiry,
        )
        identifier = issued.api_key.identifier
        return (
            {"identifier": identifier, "token": issued.token},
            f"API key {identifier} for {user.get_username()}: {issued.token} "
            "(shown only now; keep it safe)",
        )
