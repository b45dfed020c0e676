"""The benchmark actions: ``bump`` (a model action) and ``bump_global`` do the same work:
load the item, add one, save it, in one transaction."""

from __future__ import annotations

from django.db import transaction

from .celery_app import actions
from .models import Item


@actions.model_action(Item, retries=0)
def bump(record: Item) -> int:
    record.count += 1
    record.save(update_fields=["count"])
    return int(record.count)


@actions.action(retries=0)
def bump_global(item_id: int) -> int:
    with transaction.atomic():
        record = Item.objects.get(pk=item_id)
        record.count += 1
        record.save(update_fields=["count"])
    return int(record.count)


@actions.action(retries=0)
def noop(n: int) -> int:
    return n
