from django.conf import settings


def client_ip(request) -> str:
    """The caller's address: the connection's, or with PANEL_TRUSTED_PROXIES = N > 0 the N-th
    address from the right of X-Forwarded-For (the one our own outermost proxy saw)."""
    remote = request.META.get("REMOTE_ADDR", "") or "0.0.0.0"
    proxies = settings.PANEL_TRUSTED_PROXIES
    if proxies <= 0:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
    forwarded = [part for part in forwarded if part]
    if len(forwarded) < proxies:
        return remote
    return forwarded[-proxies]
