"""The transactional outbox: one row per action enqueued inside a transaction.

A row is written in the enqueuing transaction, so it exists exactly when that transaction
commits. After the commit the enqueuing process publishes the action at once; every
worker's pump deletes rows older than ``CELERY_ACTIONS_OUTBOX_RELAY_AFTER`` seconds,
publishing first those whose action is not in Redis yet (their process died between the
commit and the publish). Publishing is idempotent by the action id, so an action runs once.

``ActionRecord`` is not a table: it names the action records (kept in Redis) in the admin.
"""

from __future__ import annotations

from django.db import models


class OutboxEntry(models.Model):
    """An action whose enqueue waits for its transaction's commit, or was just published."""

    id = models.CharField(primary_key=True, max_length=220)
    """The action id (its handle's id)."""
    action = models.CharField(max_length=255)
    """The Celery task name of the action."""
    params = models.TextField()
    """The validated params, as JSON."""
    options = models.TextField()
    """The enqueue options, as JSON (parse_options' field names)."""
    batch = models.CharField(max_length=220, blank=True, default="")
    """The base id of an ``enqueue_many`` ('' for a single enqueue)."""
    seq = models.PositiveIntegerField(default=0)
    """The item's index in its batch."""
    created_at = models.DateTimeField()

    class Meta:
        verbose_name = "outbox entry"
        verbose_name_plural = "outbox"
        indexes = [
            models.Index(fields=["created_at"], name="celery_actions_outbox_age"),
            models.Index(fields=["batch", "seq"], name="celery_actions_outbox_batch"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.id}"


class ActionRecord(models.Model):
    """Action records as the admin lists them (they live in Redis; no table)."""

    id = models.CharField(primary_key=True, max_length=220)

    class Meta:
        managed = False
        verbose_name = "action"
        verbose_name_plural = "actions"
        default_permissions = ("view",)
        permissions = [("operate_actionrecord", "Can cancel and retry actions and change queues")]

    def __str__(self) -> str:
        return self.id
