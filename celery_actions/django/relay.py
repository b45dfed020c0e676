""":class:`OutboxRelay` runs on every worker's pump pass (``Runtime.pump_hooks``): it takes
outbox rows older than ``CELERY_ACTIONS_OUTBOX_RELAY_AFTER``, publishes those whose action
is not in Redis yet (the enqueuing process died between its commit and its publish) and
deletes them all. Publishing is idempotent by action id (``onDuplicateID: "ignore"``):
whichever of the enqueuing process and the pumps publishes first, the action runs once.
"""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.db import close_old_connections
from django.utils import timezone

from .models import OutboxEntry
from .outbox import CHUNK, ROW_FIELDS, OutboxRow, TransactionHold

logger = logging.getLogger("celery_actions")


class OutboxRelay:
    """A pump hook: publishes the outbox rows their process did not, deletes old rows."""

    def __init__(self, hold: TransactionHold) -> None:
        self.hold = hold
        self._next = 0.0

    def __repr__(self) -> str:
        return "<OutboxRelay>"

    def __call__(self) -> int:
        """One pass (at most one per half relay delay); returns how many rows it deleted."""
        now = time.monotonic()
        relay_after = self.hold.settings.outbox_relay_after_s
        if now < self._next:
            return 0
        self._next = now + min(relay_after / 2, 1.0)
        close_old_connections()
        return self.relay(relay_after)

    def relay(self, older_than_s: float) -> int:
        """Publish and delete the rows written more than ``older_than_s`` seconds ago."""
        database = self.hold.settings.database
        entries = OutboxEntry.objects.using(database)
        cutoff = timezone.now() - timedelta(seconds=older_than_s)
        deleted = 0
        while True:
            rows = [
                OutboxRow(*values)
                for values in entries.filter(created_at__lte=cutoff)
                .order_by("created_at")
                .values_list(*ROW_FIELDS)[:CHUNK]
            ]
            if not rows:
                return deleted
            taken = set(self.hold.actions.runtime.writer.taken_ids([r.id for r in rows]))
            lost = [row for row in rows if row.id not in taken]
            if lost:
                logger.warning(
                    "celery-actions: publishing %d action(s) committed %gs ago or more whose "
                    "process did not (it died after the commit?): %s",
                    len(lost), older_than_s, ", ".join(r.id for r in lost[:5]),
                )  # fmt: skip
                kept = {row.id for row in self.hold.publish(lost)}
            else:
                kept = set()
            done = [row.id for row in rows if row.id not in kept]
            deleted += entries.filter(id__in=done).delete()[0]
            if len(rows) < CHUNK or kept:
                return deleted
