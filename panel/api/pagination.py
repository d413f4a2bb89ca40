"""Pterodactyl's list envelope with `meta.pagination`, from `?page=` and `?per_page=`."""

import math

from django.db.models import QuerySet

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100


def _positive_int(value: str | None, default: int) -> int:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 9:
        return default
    number = int(value)
    return number if number >= 1 else default


def paginate(request, queryset: QuerySet, render) -> dict:
    """One page of `queryset` as `{"object": "list", "data": [...], "meta": {...}}`;
    `per_page` above 100 is cut to 100, nonsense values fall back to the defaults."""
    per_page = min(
        _positive_int(request.query_params.get("per_page"), DEFAULT_PER_PAGE), MAX_PER_PAGE
    )
    total = queryset.count()
    total_pages = max(1, math.ceil(total / per_page))
    page = _positive_int(request.query_params.get("page"), 1)
    start = (page - 1) * per_page
    rows = list(queryset[start : start + per_page]) if start < total else []
    return {
        "object": "list",
        "data": render(rows),
        "meta": {
            "pagination": {
                "total": total,
                "count": len(rows),
                "per_page": per_page,
                "current_page": page,
                "total_pages": total_pages,
                "links": {},
            }
        },
    }
