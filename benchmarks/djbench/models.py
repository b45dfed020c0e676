from __future__ import annotations

from django.db import models


class Item(models.Model):
    """What the benchmark actions update."""

    count = models.PositiveIntegerField(default=0)

    def __str__(self) -> str:
        return f"item {self.pk}"
