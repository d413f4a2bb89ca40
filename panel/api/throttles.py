"""Rate limits as fixed-window counters in the shared cache.

`cache.add` + `cache.incr` are atomic on Redis and on the memory cache, so concurrent
requests are all counted (a read-then-write history would lose some). Rates are read from
settings on every call, in DRF's `N/sec|min|hour|day` notation."""

import math
import time

from django.conf import settings
from django.core.cache import cache, caches
from django.core.cache.backends.redis import RedisCache

from panel.client_ip import client_ip
from panel.errors import TooManyRequests

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    """`"256/min"` -> (256, 60)."""
    count, period = rate.split("/")
    return int(count), _PERIODS[period.strip()[0]]


class _Window:
    def __init__(self, scope: str, ident: str, rate: str):
        self.limit, self.duration = parse_rate(rate)
        now = time.time()
        window = int(now // self.duration)
        self.key = f"rl:{scope}:{ident}:{window}"
        self.retry_after = max(1, math.ceil((window + 1) * self.duration - now))

    def hit(self) -> int:
        # Expire a little after the window so a slow clock never reads a stale counter.
        backend = caches["default"]
        if isinstance(backend, RedisCache):
            return _redis_incr(backend, self.key, self.duration + 1)
        cache.add(self.key, 0, timeout=self.duration + 1)
        try:
            return cache.incr(self.key)
        except ValueError:  # evicted between add and incr
            cache.add(self.key, 1, timeout=self.duration + 1)
            return 1

    def count(self) -> int:
        return cache.get(self.key, 0)


# INCR, and on a key's first count its expiry, in one command: every API request counts
# itself, and the cache's own `add` + `incr` cost three round trips (Django's `incr` first
# asks whether the key exists) and a new client object for each.
_INCR_SCRIPT = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return count
"""


def _redis_incr(backend: RedisCache, key: str, timeout: int) -> int:
    """The counter after this hit. The value is a plain integer, which the cache's own `get`
    reads back as one. The script (run by its SHA, reloaded by redis-py if Redis forgot it)
    is kept on the cache object, which holds the connection pool."""
    script = backend.__dict__.get("_panel_incr_script")
    if script is None:
        script = backend._cache.get_client(write=True).register_script(_INCR_SCRIPT)
        backend._panel_incr_script = script
    return int(script(keys=[backend.make_and_validate_key(key)], args=[timeout]))


def check_rate(*, scope: str, ident: str, rate: str) -> None:
    """Count one hit on `scope`/`ident`; TooManyRequests (with Retry-After) past `rate`."""
    window = _Window(scope, ident, rate)
    if window.hit() > window.limit:
        raise TooManyRequests(window.retry_after)


def check_user_rate(user) -> None:
    check_rate(scope="user", ident=str(user.pk), rate=settings.PANEL_API_RATE)


def _failure_window(request) -> _Window:
    return _Window("authfail", client_ip(request), settings.PANEL_AUTH_FAILURE_RATE)


def check_auth_failure_rate(request) -> None:
    """Refuse, before any database work, an address already over its failure budget."""
    window = _failure_window(request)
    if window.count() >= window.limit:
        raise TooManyRequests(window.retry_after)


def record_auth_failure(request) -> None:
    _failure_window(request).hit()
