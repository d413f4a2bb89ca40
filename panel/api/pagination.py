"""Pterodactyl's list envelope with `meta.pagination`, from `?page=` and `?per_page=`."""

import math
from urllib.parse import urlencode

from django.db.models import QuerySet

DEFAULT_PER_PAGE = 50
MAX_PER_PAGE = 100


def _positive_int(value: str | None, default: int) -> int:
    if value is None or not value.isascii() or not value.isdigit() or len(value) > 9:
        return default
    number = int(value)
    return number if number >= 1 else default


def _page_url(request, page: int) -> str:
    """This request's own URL with `page` set, the other query parameters kept (Laravel's
    paginator `->appends($request->query())`)."""
    query = request.query_params.copy()
    query["page"] = str(page)
    return request.build_absolute_uri(request.path) + "?" + urlencode(query, doseq=True)


def paginate(request, queryset: QuerySet, render, *, default_per_page=DEFAULT_PER_PAGE) -> dict:
    """One page of `queryset` as `{"object": "list", "data": [...], "meta": {...}}`;
    `per_page` above 100 is cut to 100, nonsense values fall back to the defaults.

    `links` holds `previous` and `next` URLs when there are such pages, as Fractal's
    paginator does; py-dactyl's `PaginatedResponse` follows `next` to collect every page."""
    per_page = min(
        _positive_int(request.query_params.get("per_page"), default_per_page), MAX_PER_PAGE
    )
    total = queryset.count()
    total_pages = max(1, math.ceil(total / per_page))
    page = _positive_int(request.query_params.get("page"), 1)
    start = (page - 1) * per_page
    rows = list(queryset[start : start + per_page]) if start < total else []
    links = {}
    if page > 1:
        links["previous"] = _page_url(request, page - 1)
    if page < total_pages:
        links["next"] = _page_url(request, page + 1)
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
                "links": links,
            }
        },
    }
