"""The enqueue rate limit: a leaky bucket shared by every producer on the Redis."""

from __future__ import annotations

import pytest
from celery import Celery

from celery_actions import Actions, ConfigurationError, TooManyRequests
from celery_actions.core.ratelimit import RateLimit


@pytest.fixture
def limited(redis_url, uid):
    """An app whose enqueues are limited to 5/s with burst x2 (a bucket of 10)."""
    url = redis_url.rsplit("/", 1)[0] + "/5"  # a db no worker consumes
    app = Celery(f"limited-{uid}", broker=url, backend=url, set_as_current=False)
    app.conf.actions_enqueue_rate_limit = "5/s"
    app.conf.actions_enqueue_burst = 2
    app.conf.actions_key_prefix = f"rl-{uid}:"
    actions = Actions(app)

    @actions.action(name=f"limited.noop-{uid}")
    def noop(n: int) -> int:
        return n

    return actions, noop


def test_single_enqueues_over_the_burst_raise_too_many_requests(limited):
    # Given a full bucket: as many enqueues as it holds
    actions, noop = limited
    for i in range(10):  # the bucket holds rate x burst = 10
        actions.enqueue(noop, {"n": i})
    # When one more is enqueued, then it is refused, saying when to try again
    with pytest.raises(TooManyRequests) as caught:
        actions.enqueue(noop, {"n": 10})
    assert 0 < caught.value.retry_after <= 0.2 + 0.05  # one slot drains in 1/5 s
    assert "5/s" in str(caught.value)


def test_a_batch_is_admitted_whole_or_refused_whole(limited, redis_url, uid):
    # Given a bucket of 10 with 8 taken by a batch
    actions, noop = limited
    handles = actions.enqueue_many(noop, [{"n": i} for i in range(8)])
    assert len(handles) == 8
    before = actions.runtime.store.client.dbsize()
    # When a batch of 5 is enqueued, then it is refused whole
    with pytest.raises(TooManyRequests) as caught:
        actions.enqueue_many(noop, [{"n": i} for i in range(5)])  # 8 + 5 > 10
    assert caught.value.retry_after > 0
    assert actions.runtime.store.client.dbsize() == before  # nothing of the batch was written
    # And a batch larger than the bucket could ever hold says so
    with pytest.raises(TooManyRequests, match="larger than the enqueue burst capacity"):
        actions.enqueue_many(noop, [{"n": i} for i in range(11)])


def test_rate_limit_settings():
    assert RateLimit.parse("gadget", 3, "production") == RateLimit(200, 3)
    assert RateLimit.parse("gadget", 3, "development") == RateLimit(80, 3)
    assert RateLimit.parse("12000/m", 3, "production") == RateLimit(200, 3)
    assert RateLimit.parse(None, 3, "production") is None
    assert RateLimit.parse("200/s", 3, "production").capacity == 600
    with pytest.raises(ConfigurationError, match="expected '200/s'"):
        RateLimit.parse("fast", 3, "production")
    with pytest.raises(ConfigurationError, match="burst"):
        RateLimit.parse("10/s", 0.5, "production")
