"""The network tab's health display: the latency sparkline, drawn here as inline SVG (no
script, no image request), and short relative times."""

from datetime import datetime, timedelta

from django import template
from django.conf import settings
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString
from django.utils.timesince import timesince

from monitoring.selectors import BUCKET, HealthSummary

register = template.Library()

WIDTH, HEIGHT = 160, 32
PAD = 2  # keeps the line's round ends inside the box
FAIL_BAND = 6  # failed checks: ticks along the bottom, under the line's area
LINE, FAIL, AXIS = "#4f8cff", "#f87171", "#34456a"


def _ms(value: float) -> str:
    return f"{value:.2f}"


def sparkline_label(health: HealthSummary) -> str:
    """What the chart shows, in words: for its accessible name and its tooltip."""
    checks, failed = health.checks_24h, health.failed_24h
    if not checks:
        return "Latency over the last 24 hours: no checks yet"
    latencies = [b.latency_ms for b in health.buckets if b.latency_ms is not None]
    counted = f"{checks} check{'s' if checks != 1 else ''}"
    if not latencies:
        return f"Latency over the last 24 hours: {counted}, all failed"
    low, high = min(latencies), max(latencies)
    span = f"{_ms(low)} ms" if low == high else f"{_ms(low)} to {_ms(high)} ms"
    return f"Latency over the last 24 hours: {span} over {counted}, {failed} failed"


def _longest_gap() -> timedelta:
    """Points further apart than this are not joined: nobody checked in between (the
    monitor was not running), and a line would claim latencies nobody measured."""
    return max(2 * BUCKET, timedelta(seconds=2 * settings.PANEL_MONITOR_INTERVAL))


def sparkline_svg(health: HealthSummary) -> SafeString:
    """The last 24 hours of latency as a line (one point per bucket, broken where a bucket
    had no successful check), and a red tick for every bucket with a failed check. The
    vertical scale runs from the lowest latency shown to the highest."""
    label = sparkline_label(health)
    window = (health.until - health.since).total_seconds() or 1.0
    bottom = HEIGHT - FAIL_BAND - 1  # the line's zero

    def x(at: datetime) -> float:
        share = min(1.0, max(0.0, (at - health.since).total_seconds() / window))
        return round(PAD + share * (WIDTH - 2 * PAD), 1)

    latencies = [b.latency_ms for b in health.buckets if b.latency_ms is not None]
    low, high = min(latencies, default=0.0), max(latencies, default=0.0)
    # Never narrower than a fifth of the highest latency: steady latency draws a steady
    # line in the middle, not its jitter magnified to the full height.
    span = max(high - low, 0.2 * high) or 1.0
    floor = max(0.0, low - (span - (high - low)) / 2)

    def y(ms: float) -> float:
        return round(bottom - ((ms - floor) / span) * (bottom - PAD), 1)

    gap = _longest_gap()
    segments: list[list[tuple[float, float]]] = []
    previous_at = None
    for bucket in health.buckets:
        if bucket.latency_ms is None:
            previous_at = None
            continue
        if previous_at is None or bucket.at - previous_at > gap:
            segments.append([])
        segments[-1].append((x(bucket.at), y(bucket.latency_ms)))
        previous_at = bucket.at
    lines = format_html_join(
        "",
        '<polyline points="{}" vector-effect="non-scaling-stroke"/>',
        ((" ".join(f"{px},{py}" for px, py in _drawable(points)),) for points in segments),
    )
    ticks = format_html_join(
        "",
        '<line x1="{0}" x2="{0}" y1="{1}" y2="{2}" vector-effect="non-scaling-stroke"/>',
        ((x(b.at), HEIGHT - FAIL_BAND + 1, HEIGHT) for b in health.buckets if b.failed),
    )
    dashed = "" if health.buckets else ' stroke-dasharray="3 3"'
    return format_html(
        '<svg class="sparkline" viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" '
        'aria-label="{label}" preserveAspectRatio="none" focusable="false"><title>{label}</title>'
        '<line class="spark-axis" x1="0" x2="{w}" y1="{b}" y2="{b}" stroke="{axis}" '
        'stroke-width="1" vector-effect="non-scaling-stroke"{dashed}/>'
        '<g class="spark-line" fill="none" stroke="{line}" stroke-width="1.5" '
        'stroke-linejoin="round" stroke-linecap="round">{lines}</g>'
        '<g class="spark-fail" stroke="{fail}" stroke-width="2">{ticks}</g></svg>',
        w=WIDTH,
        h=HEIGHT,
        b=bottom + 0.5,
        label=label,
        axis=AXIS,
        line=LINE,
        fail=FAIL,
        dashed=SafeString(dashed),
        lines=lines,
        ticks=ticks,
    )


def _drawable(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    # A lone point draws nothing as a polyline: give it a short stroke of its own.
    if len(points) == 1:
        (px, py) = points[0]
        return [(round(px - 1, 1), py), (round(px + 1, 1), py)]
    return points


@register.simple_tag
def latency_sparkline(health: HealthSummary) -> SafeString:
    return sparkline_svg(health)


@register.filter
def ago(value: datetime | None) -> str:
    """`just now`, `3 hours ago`: the largest unit only, for a narrow cell."""
    if value is None:
        return ""
    now = timezone.now()
    if (now - value).total_seconds() < 60:
        return "just now"
    return f"{timesince(value, now, depth=1)} ago"


@register.filter
def lasting(value: datetime | None) -> str:
    """How long since `value`: `3 hours`, `under a minute`."""
    if value is None:
        return ""
    now = timezone.now()
    if (now - value).total_seconds() < 60:
        return "under a minute"
    return timesince(value, now, depth=1)


@register.filter
def percent(value: float | None) -> str:
    """`99.5%`, `100%`; an em dash when there is nothing to count."""
    if value is None:
        return "—"
    return f"{value:.2f}".rstrip("0").rstrip(".") + "%"
