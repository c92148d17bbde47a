"""Round-robin history of nodes and guests: one row per object, resolution and time bucket."""

from __future__ import annotations

from django.db import models

FIGURES = ["cpu", "mem", "netin", "netout", "diskread", "diskwrite"]


class Sample(models.Model):
    """The average and maximum of each figure over one bucket of ``resolution`` seconds.

    ``count`` readings went into the bucket, so that a later reading is merged with the right weight.
    ``kind`` is "node" (``key``: node name) or "guest" (``key``: VMID, so history follows a migration).
    """

    kind = models.CharField(max_length=8)
    key = models.CharField(max_length=64)
    resolution = models.PositiveIntegerField()  # seconds per bucket
    time = models.BigIntegerField()  # epoch seconds of the bucket's start, a multiple of resolution
    count = models.PositiveIntegerField(default=1)
    cpu = models.FloatField(default=0)  # 0..1
    cpu_max = models.FloatField(default=0)
    mem = models.FloatField(default=0)  # bytes
    mem_max = models.FloatField(default=0)
    netin = models.FloatField(default=0)  # bytes/s
    netin_max = models.FloatField(default=0)
    netout = models.FloatField(default=0)
    netout_max = models.FloatField(default=0)
    diskread = models.FloatField(default=0)  # bytes/s
    diskread_max = models.FloatField(default=0)
    diskwrite = models.FloatField(default=0)
    diskwrite_max = models.FloatField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["kind", "key", "resolution", "time"], name="sample_unique_bucket")
        ]
        indexes = [models.Index(fields=["resolution", "time"], name="sample_resolution_time")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key} @{self.time}/{self.resolution}s"


class Counters(models.Model):
    """The last cumulative I/O counters read of an object, to turn the next reading into rates."""

    kind = models.CharField(max_length=8)
    key = models.CharField(max_length=64)
    time = models.FloatField()  # epoch seconds of the reading
    netin = models.BigIntegerField(default=0)
    netout = models.BigIntegerField(default=0)
    diskread = models.BigIntegerField(default=0)
    diskwrite = models.BigIntegerField(default=0)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["kind", "key"], name="counters_unique_object")]

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"
