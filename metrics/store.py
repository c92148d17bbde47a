"""Writing and reading the round-robin history.

Like rrdtool, every reading is consolidated at once into each archive (resolution): the bucket's average
is weighted by the number of readings already in it and its maximum kept, in one upsert statement for all
the objects of a poll. Rows older than an archive's span are pruned, so each object keeps at most
``sum(rows)`` rows however long the cluster runs.
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import connection

from .models import FIGURES, Counters, Sample

# (seconds per bucket, buckets kept): 1 min for a day, 30 min for a week, 6 h for a month,
# 1 day for a year, 1 week for ten years.
ARCHIVES: list[tuple[int, int]] = [(60, 1440), (1800, 336), (21600, 124), (86400, 366), (604800, 522)]
MAX_ROWS_PER_OBJECT = sum(rows for _, rows in ARCHIVES)  # the bound the pruning keeps (tests hold it)

# Proxmox's timeframes: (resolution read, seconds shown).
TIMEFRAMES: dict[str, tuple[int, int]] = {
    "hour": (60, 3600),
    "day": (1800, 86400),
    "week": (1800, 7 * 86400),
    "month": (21600, 31 * 86400),
    "year": (86400, 366 * 86400),
    "decade": (604800, 3653 * 86400),
}

_COLUMNS = ["kind", "key", "resolution", "time", "count"] + [c for f in FIGURES for c in (f, f"{f}_max")]
_CHUNK = 1000  # rows per statement: 17 parameters each, under every database's limit


@dataclass
class Reading:
    """One reading of one object at ``time`` (epoch seconds)."""

    kind: str
    key: str
    time: float
    values: dict[str, float] = field(default_factory=dict)  # figure -> value; missing figures are 0


def _bucket_rows(readings: Iterable[Reading]) -> list[tuple]:
    """Consolidate the readings per bucket first: an upsert may touch each row once only."""
    buckets: dict[tuple, list] = {}
    for reading in readings:
        for resolution, _ in ARCHIVES:
            ident = (reading.kind, str(reading.key), resolution, int(reading.time) // resolution * resolution)
            values = [float(reading.values.get(f) or 0) for f in FIGURES]
            row = buckets.get(ident)
            if row is None:
                buckets[ident] = [1, [v for v in values], [v for v in values]]
            else:
                count = row[0]
                row[1] = [(avg * count + v) / (count + 1) for avg, v in zip(row[1], values, strict=True)]
                row[2] = [max(m, v) for m, v in zip(row[2], values, strict=True)]
                row[0] = count + 1
    rows = []
    for ident, (count, avgs, maxes) in buckets.items():
        rows.append((*ident, count, *[x for pair in zip(avgs, maxes, strict=True) for x in pair]))
    return rows


def _upsert_sql(n: int) -> str:
    table = Sample._meta.db_table
    greatest = "MAX" if connection.vendor == "sqlite" else "GREATEST"
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(_COLUMNS)) + ")"] * n)
    sets = [f'"count" = {table}."count" + EXCLUDED."count"']
    for f in FIGURES:
        sets.append(
            f'"{f}" = ({table}."{f}" * {table}."count" + EXCLUDED."{f}" * EXCLUDED."count")'
            f' / ({table}."count" + EXCLUDED."count")'
        )
        sets.append(f'"{f}_max" = {greatest}({table}."{f}_max", EXCLUDED."{f}_max")')
    columns = ", ".join(f'"{c}"' for c in _COLUMNS)
    return (f"INSERT INTO {table} ({columns}) VALUES {placeholders} "
            f'ON CONFLICT ("kind", "key", "resolution", "time") DO UPDATE SET {", ".join(sets)}')


def ingest(readings: Iterable[Reading], now: float | None = None, prune: bool = True) -> None:
    """Store the readings of one poll (any number of objects) in every archive: one statement per
    1,000 bucket rows, then one pruning statement."""
    rows = _bucket_rows(readings)
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start:start + _CHUNK]
            cursor.execute(_upsert_sql(len(chunk)), [v for row in chunk for v in row])
    if prune:
        prune_old(now if now is not None else _time.time())


def prune_old(now: float) -> int:
    """Drop the buckets that fell out of their archive's span; one statement for all archives."""
    table = Sample._meta.db_table
    clauses, params = [], []
    for resolution, rows in ARCHIVES:
        clauses.append('("resolution" = %s AND "time" <= %s)')
        params += [resolution, int(now) // resolution * resolution - rows * resolution]
    with connection.cursor() as cursor:
        cursor.execute(f"DELETE FROM {table} WHERE {' OR '.join(clauses)}", params)
        return cursor.rowcount


def history(kind: str, key: str, timeframe: str, cf: str = "AVERAGE", now: float | None = None) -> list[dict]:
    """Proxmox's rrddata: one point per bucket of the timeframe's resolution, oldest first."""
    resolution, span = TIMEFRAMES[timeframe]
    now = now if now is not None else _time.time()
    rows = Sample.objects.filter(kind=kind, key=str(key), resolution=resolution, time__gt=now - span)
    suffix = "_max" if cf.upper() == "MAX" else ""
    fields = [f + suffix for f in FIGURES]
    return [
        {"time": row["time"], **{f: row[f + suffix] for f in FIGURES}}
        for row in rows.order_by("time").values("time", *fields)
    ]


COUNTERS = ["netin", "netout", "diskread", "diskwrite"]


def rates(kind: str, counters: dict[str, dict[str, int]], now: float) -> dict[str, dict[str, float]]:
    """Bytes/s of each object's I/O counters since its previous reading (two queries for all objects).

    ``counters``: key -> {"netin": bytes, ...} cumulative. An object read for the first time, or whose
    counters went back (a restarted guest), has rates of 0 this time.
    """
    previous = {c.key: c for c in Counters.objects.filter(kind=kind, key__in=list(counters))}
    result = {}
    for key, values in counters.items():
        before = previous.get(key)
        elapsed = now - before.time if before else 0
        result[key] = {
            name: max((values.get(name, 0) - getattr(before, name)) / elapsed, 0.0) if elapsed > 0 else 0.0
            for name in COUNTERS
        }
        if before and any(values.get(name, 0) < getattr(before, name) for name in COUNTERS):
            result[key] = dict.fromkeys(COUNTERS, 0.0)
    Counters.objects.bulk_create(
        [Counters(kind=kind, key=key, time=now, **{n: int(v.get(n, 0)) for n in COUNTERS})
         for key, v in counters.items()],
        update_conflicts=True, unique_fields=["kind", "key"], update_fields=["time", *COUNTERS],
    )
    return result


def forget(kind: str, key: str) -> None:
    """Drop the whole history of an object that is gone (a deleted guest's VMID may be given to a new one)."""
    Sample.objects.filter(kind=kind, key=str(key)).delete()
    Counters.objects.filter(kind=kind, key=str(key)).delete()
