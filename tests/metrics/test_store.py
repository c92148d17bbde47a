"""The round-robin history over synthetic series: bounds, averages, maxima, bulk writes and rates."""

from __future__ import annotations

import random

import pytest

from metrics.models import Sample
from metrics.store import ARCHIVES, MAX_ROWS_PER_OBJECT, Reading, history, ingest, rates

pytestmark = pytest.mark.django_db

T0 = 1_700_000_000 // 604800 * 604800  # a week boundary, so every archive's buckets start together


def test_averages_and_maxima_per_archive() -> None:
    # Two hours of readings every 10 s, fed one poll at a time like the collector does.
    rng = random.Random(4)
    series = [(T0 + i * 10, rng.random(), rng.randint(0, 10**9)) for i in range(720)]
    for t, cpu, mem in series:
        ingest([Reading("guest", "101", t, {"cpu": cpu, "mem": mem})], now=t)
    for resolution, _ in ARCHIVES:
        rows = Sample.objects.filter(kind="guest", key="101", resolution=resolution)
        assert rows.count() == len({t // resolution for t, _, _ in series})
        for row in rows:
            inside = [(c, m) for t, c, m in series if row.time <= t < row.time + resolution]
            assert row.count == len(inside)
            assert row.cpu == pytest.approx(sum(c for c, _ in inside) / len(inside))
            assert row.cpu_max == pytest.approx(max(c for c, _ in inside))
            assert row.mem == pytest.approx(sum(m for _, m in inside) / len(inside))
            assert row.mem_max == max(m for _, m in inside)
            assert row.netin == row.netin_max == 0


def test_rows_per_object_stay_bounded_over_twelve_years() -> None:
    # A reading every 6 hours for 12 years, ingested a week at a time, with pruning each time.
    step, week = 6 * 3600, 604800
    end = T0 + 12 * 365 * 86400
    for start in range(T0, end, week):
        readings = [Reading("node", "n1", t, {"cpu": 0.5}) for t in range(start, start + week, step)]
        readings += [Reading("guest", "7", t, {"cpu": 0.25}) for t in range(start, start + week, step)]
        ingest(readings, now=start + week - 1)
    for kind, key in (("node", "n1"), ("guest", "7")):
        rows = Sample.objects.filter(kind=kind, key=key)
        assert rows.count() <= MAX_ROWS_PER_OBJECT
        for resolution, kept in ARCHIVES:
            assert rows.filter(resolution=resolution).count() <= kept
        # The coarsest archive spans ten years, and only that.
        oldest = rows.filter(resolution=604800).order_by("time").first()
        assert end - oldest.time <= 523 * week
    assert history("guest", "7", "decade", now=end)[-1]["cpu"] == pytest.approx(0.25)


def test_one_poll_of_hundreds_of_objects_is_a_handful_of_queries(django_assert_max_num_queries) -> None:
    readings = [Reading("guest", str(100 + i), T0, {"cpu": 0.1, "mem": 1e6}) for i in range(300)]
    with django_assert_max_num_queries(3):  # 1,500 bucket rows in two upserts, one prune
        ingest(readings, now=T0)
    assert Sample.objects.count() == 300 * len(ARCHIVES)
    readings = [Reading("guest", str(100 + i), T0 + 10, {"cpu": 0.3, "mem": 3e6}) for i in range(300)]
    with django_assert_max_num_queries(3):
        ingest(readings, now=T0 + 10)
    row = Sample.objects.get(kind="guest", key="150", resolution=60)
    assert (row.count, row.cpu, row.cpu_max, row.mem) == (2, pytest.approx(0.2), pytest.approx(0.3), 2e6)


def test_history_timeframes_and_max() -> None:
    for i in range(120):
        ingest([Reading("node", "n1", T0 + i * 60, {"cpu": i / 120, "netin": i})], now=T0 + i * 60)
    hour = history("node", "n1", "hour", now=T0 + 119 * 60)
    assert len(hour) == 60 and hour[-1]["time"] == T0 + 119 * 60 and hour[-1]["netin"] == 119
    day = history("node", "n1", "day", now=T0 + 119 * 60)
    assert [p["time"] for p in day] == [T0, T0 + 1800, T0 + 3600, T0 + 5400]
    assert day[0]["cpu"] == pytest.approx(sum(range(30)) / 30 / 120)
    assert history("node", "n1", "day", cf="MAX", now=T0 + 119 * 60)[0]["netin"] == 29


def test_rates_from_counters() -> None:
    assert rates("guest", {"1": {"netin": 1000, "diskwrite": 50}}, now=100.0)["1"]["netin"] == 0
    got = rates("guest", {"1": {"netin": 3000, "diskwrite": 550}}, now=110.0)["1"]
    assert got["netin"] == 200 and got["diskwrite"] == 50 and got["netout"] == 0
    # Counters that went back (a restarted guest) give no negative rate.
    assert rates("guest", {"1": {"netin": 10, "diskwrite": 0}}, now=120.0)["1"]["netin"] == 0
