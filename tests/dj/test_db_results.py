"""Results in the database: CELERY_RESULT_BACKEND = "django-db" (django-celery-results)
stores every outcome, and handle.result() works through it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django_celery_results.models import TaskResult

from celery_actions import ActionCancelled
from celery_actions.testing import wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def state(action_id: str) -> str | None:
    row = TaskResult.objects.filter(task_id=action_id).first()
    return None if row is None else row.status


def test_every_outcome_is_stored_in_the_database(start_dj_worker: Any, r: Any, uid: str):
    from tests.djproject import dbresults

    start_dj_worker("tests.djproject.dbresults", key_prefix="dbres:")
    actions = dbresults.actions
    # success
    ok = actions.enqueue(dbresults.double, {"n": 21})
    assert ok.result(timeout=20) == 42
    assert state(ok.id) == "SUCCESS"
    # a retry is stored, then the final outcome
    retried = actions.enqueue(dbresults.fail_then_wait, {"key": uid, "release": f"{uid}:go"})
    wait_for(lambda: state(retried.id) == "RETRY", 20, 0.05, "the retry to be stored")
    r.set(f"{uid}:go", 1)
    assert retried.result(timeout=20) == "second attempt"
    assert state(retried.id) == "SUCCESS"
    # the final failure, re-raised with its type
    failed = actions.enqueue(dbresults.decline, {"order_id": 7})
    with pytest.raises(dbresults.Declined, match="order 7 declined"):
        failed.result(timeout=20)
    assert state(failed.id) == "FAILURE"
    # a cancellation
    later = datetime.now(UTC) + timedelta(hours=1)
    cancelled = actions.enqueue(dbresults.double, {"n": 1}, start_at=later)
    assert cancelled.cancel()
    assert state(cancelled.id) == "REVOKED"
    with pytest.raises(ActionCancelled):
        cancelled.result(timeout=5)
