"""The network tab's latency chart, drawn on the server as inline SVG, and the short texts
beside it."""

import re
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from allocations.templatetags.network_health import ago, lasting, percent, sparkline_svg
from monitoring.selectors import HealthSummary, LatencyBucket

UNTIL = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
SINCE = UNTIL - timedelta(hours=24)


def summary(*buckets) -> HealthSummary:
    return HealthSummary(
        status="up",
        last_checked_at=UNTIL,
        latency_ms=1.0,
        last_error=None,
        down_since=None,
        uptime_24h=100.0,
        since=SINCE,
        until=UNTIL,
        buckets=list(buckets),
    )


def at(hours_after_since: float, latency, *, checks=1, failed=0) -> LatencyBucket:
    return LatencyBucket(
        at=SINCE + timedelta(hours=hours_after_since),
        latency_ms=latency,
        checks=checks,
        failed=failed,
    )


def polylines(svg: str) -> list[list[tuple[float, float]]]:
    return [
        [tuple(map(float, point.split(","))) for point in points.split()]
        for points in re.findall(r'<polyline points="([^"]+)"', svg)
    ]


def test_points_are_placed_by_time_across_and_by_latency_from_zero_up():
    svg = sparkline_svg(
        summary(at(0, 2.0, checks=4), at(0.25, 4.0, checks=4), at(0.5, 1.0, checks=4))
    )

    # x: 2 + share of the day * 156; y: the lowest latency at the bottom of the line's area
    # (25), the highest at the top (2).
    assert polylines(svg) == [[(2.0, 17.3), (3.6, 2.0), (5.2, 25.0)]]


def test_a_steady_latency_is_a_level_line_in_the_middle_not_magnified_jitter():
    svg = sparkline_svg(summary(at(1, 20.0), at(1.25, 20.1), at(1.5, 20.0)))
    ys = [py for _, py in polylines(svg)[0]]
    # Around the middle (13.5), and 0.1 ms in 20 moves it by half a pixel of 23, not all 23.
    assert ys == [13.8, 13.2, 13.8]


def test_the_line_breaks_at_a_failed_bucket_and_at_a_gap_in_the_checks():
    svg = sparkline_svg(
        summary(
            at(1.0, 1.0),
            at(1.25, 1.0),
            at(1.5, None, failed=1),  # all failed: no latency here
            at(1.75, 1.0),
            at(2.0, 1.0),
            at(6.0, 1.0),  # four hours later: nobody measured in between
        )
    )
    lines = polylines(svg)
    assert [len(points) for points in lines] == [2, 2, 2]
    # A lone point is a short stroke of its own, not an invisible one-point line.
    assert lines[2] == [(40.0, 13.5), (42.0, 13.5)]


def test_every_bucket_with_a_failed_check_gets_a_red_tick_at_the_bottom():
    svg = sparkline_svg(
        summary(at(6, 1.0, checks=15, failed=2), at(12, None, checks=15, failed=15))
    )
    ticks = re.findall(r'<line x1="([\d.]+)" x2="\1" y1="27" y2="32"', svg)
    assert ticks == ["41.0", "80.0"]
    assert '<g class="spark-fail" stroke="#f87171"' in svg


def test_the_chart_is_an_image_named_by_what_it_shows():
    svg = sparkline_svg(summary(at(1, 0.5, checks=10), at(2, 1.25, checks=10, failed=3)))
    label = "Latency over the last 24 hours: 0.50 to 1.25 ms over 20 checks, 3 failed"
    assert svg.startswith('<svg class="sparkline" viewBox="0 0 160 32"')
    assert f'role="img" aria-label="{label}"' in svg
    assert f"<title>{label}</title>" in svg


@pytest.mark.parametrize(
    ("buckets", "label"),
    [
        ((), "Latency over the last 24 hours: no checks yet"),
        (
            (at(1, None, checks=3, failed=3),),
            "Latency over the last 24 hours: 3 checks, all failed",
        ),
        ((at(1, 0.7),), "Latency over the last 24 hours: 0.70 ms over 1 check, 0 failed"),
    ],
)
def test_the_label_says_when_there_is_nothing_or_only_failures(buckets, label):
    svg = sparkline_svg(summary(*buckets))
    assert f'aria-label="{label}"' in svg


def test_an_empty_chart_is_a_dashed_baseline_and_no_line():
    svg = sparkline_svg(summary())
    assert 'stroke-dasharray="3 3"' in svg
    assert "<polyline" not in svg


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (None, "—"),
        (100.0, "100%"),
        (99.5, "99.5%"),
        (99.95, "99.95%"),
        (0.0, "0%"),
        (66.67, "66.67%"),
    ],
)
def test_uptime_is_shown_with_no_needless_decimals(value, shown):
    assert percent(value) == shown


def test_times_are_short_and_never_say_zero_minutes():
    now = timezone.now()
    assert ago(now - timedelta(seconds=5)) == "just now"
    assert ago(now - timedelta(hours=3, minutes=20)) == "3\xa0hours ago"
    assert lasting(now - timedelta(seconds=5)) == "under a minute"
    assert lasting(now - timedelta(days=2, hours=5)) == "2\xa0days"
    assert ago(None) == lasting(None) == ""
