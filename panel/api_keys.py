"""API keys: making, checking and revoking them.

A key is `ptlc_` + 11 identifier characters + 32 secret characters (Pterodactyl's shape, so
existing clients accept it). Only the identifier and a SHA-256 of the whole key are stored:
the secret has ~190 bits of entropy, so a fast hash is enough and a slow one would only cost
every request time."""

import hashlib
import hmac
import ipaddress
import secrets
import string
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from panel.activity import Actor, activity_log
from panel.errors import ApiKeyLimitReached, FieldError, ValidationFailed
from panel.models import ApiKey

PREFIX = "ptlc_"
IDENTIFIER_LENGTH = 16  # prefix + 11
SECRET_LENGTH = 32
KEY_LENGTH = IDENTIFIER_LENGTH + SECRET_LENGTH
MAX_ALLOWED_IPS = 50
MAX_DESCRIPTION = 500
LAST_USED_GRANULARITY = timedelta(minutes=1)
_ALPHABET = string.ascii_letters + string.digits
_KEY_CHARS = frozenset(_ALPHABET)
# Compared against when the identifier is unknown, so both failures cost the same.
_DUMMY_HASH = hashlib.sha256(b"no such key").hexdigest()


def _random(n: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(n))


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    token: str  # the whole 48-character key; shown once, never stored

    @property
    def secret(self) -> str:
        return self.token[IDENTIFIER_LENGTH:]


def normalize_allowed_ips(entries: list[str]) -> list[str]:
    """Addresses or CIDR ranges, each checked; raises ValidationFailed naming the bad one."""
    if len(entries) > MAX_ALLOWED_IPS:
        raise ValidationFailed(
            [FieldError("allowed_ips", "max", f"At most {MAX_ALLOWED_IPS} allowed IPs.")]
        )
    cleaned = []
    for entry in entries:
        try:
            if not isinstance(entry, str) or "%" in entry:
                raise ValueError
            entry = entry.strip()
            # Kept as written when a plain address; a range in its network form.
            if "/" in entry:
                cleaned.append(str(ipaddress.ip_network(entry, strict=False)))
            else:
                cleaned.append(str(ipaddress.ip_address(entry)))
        except ValueError:
            raise ValidationFailed(
                [FieldError("allowed_ips", "ip", f"{entry!s:.60} is not an IP address or range.")]
            ) from None
    return cleaned


def api_key_create(
    *,
    user,
    description: str = "",
    allowed_ips: list[str] | None = None,
    expires_at: datetime | None = None,
    actor: Actor | None = None,
) -> IssuedKey:
    """Issue a key. The per-user cap holds under concurrency: the user's row is locked while
    the keys are counted."""
    if len(description) > MAX_DESCRIPTION:
        raise ValidationFailed(
            [
                FieldError(
                    "description",
                    "max",
                    f"The description may not be greater than {MAX_DESCRIPTION} characters.",
                )
            ]
        )
    ips = normalize_allowed_ips(allowed_ips or [])
    with transaction.atomic():
        get_user_model().objects.select_for_update(no_key=True).get(pk=user.pk)
        if ApiKey.objects.filter(user=user).count() >= settings.PANEL_MAX_API_KEYS:
            raise ApiKeyLimitReached()
        while True:
            identifier = PREFIX + _random(IDENTIFIER_LENGTH - len(PREFIX))
            if not ApiKey.objects.filter(identifier=identifier).exists():
                break
        token = identifier + _random(SECRET_LENGTH)
        api_key = ApiKey.objects.create(
            user=user,
            identifier=identifier,
            key_hash=hash_key(token),
            description=description,
            allowed_ips=ips,
            expires_at=expires_at,
        )
        if actor is not None:
            activity_log(
                event="user:api-key.create",
                server=None,
                actor=actor,
                properties={"identifier": identifier},
            )
    return IssuedKey(api_key=api_key, token=token)


def api_key_authenticate(token: str) -> ApiKey | None:
    """The active key `token` is, with its user loaded; None for anything else. The hash is
    compared in constant time, and an unknown identifier costs what a wrong secret does."""
    if (
        len(token) != KEY_LENGTH
        or not token.startswith(PREFIX)
        or not _KEY_CHARS.issuperset(token[len(PREFIX) :])
    ):
        return None
    identifier = token[:IDENTIFIER_LENGTH]
    api_key = ApiKey.objects.select_related("user").filter(identifier=identifier).first()
    expected = api_key.key_hash if api_key else _DUMMY_HASH
    if not hmac.compare_digest(expected, hash_key(token)) or api_key is None:
        return None
    if api_key.expires_at is not None and api_key.expires_at <= timezone.now():
        return None
    if not api_key.user.is_active:
        return None
    return api_key


def api_key_allows_ip(api_key: ApiKey, ip: str) -> bool:
    if not api_key.allowed_ips:
        return True
    try:
        address = ipaddress.ip_address(ip)
    except ValueError:
        return False
    for entry in api_key.allowed_ips:
        network = ipaddress.ip_network(entry, strict=False)
        if address.version == network.version and address in network:
            return True
    return False


def api_key_touch(api_key: ApiKey) -> None:
    """Record use, writing at most once a minute per key."""
    now = timezone.now()
    if api_key.last_used_at and now - api_key.last_used_at < LAST_USED_GRANULARITY:
        return
    ApiKey.objects.filter(pk=api_key.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_GRANULARITY)
    ).update(last_used_at=now)
    api_key.last_used_at = now


def api_key_delete(*, user, identifier: str, actor: Actor | None = None) -> bool:
    """Delete one of `user`'s keys; it stops working on the next request. False if `user`
    has no such key."""
    with transaction.atomic():
        deleted, _ = ApiKey.objects.filter(user=user, identifier=identifier).delete()
        if deleted and actor is not None:
            activity_log(
                event="user:api-key.delete",
                server=None,
                actor=actor,
                properties={"identifier": identifier},
            )
    return deleted > 0
