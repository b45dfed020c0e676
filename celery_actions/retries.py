"""The backoff arithmetic of the retry policy.

Delay before retry k (k = 1..retry_count) is ``initial * factor**(k-1)``, capped by
``max_interval``; with ``randomize`` it is multiplied by a factor drawn from [0.5, 1.5)
and capped again, so it never reaches zero unless the initial interval is zero. Retries
stop once the next attempt would start later than ``retry_for`` after the first attempt.
"""

from __future__ import annotations

import random

from .options import RetrySchedule

RANDOM_LOW = 0.5
RANDOM_HIGH = 1.5


def base_delay_ms(policy: RetrySchedule, retry_number: int) -> int:
    """The un-randomized delay before retry ``retry_number`` (1-based), in ms."""
    if retry_number < 1:
        raise ValueError("retry_number starts at 1")
    # Cap the exponent's growth before it overflows a float.
    delay = float(policy.initial_interval_ms)
    for _ in range(retry_number - 1):
        delay *= policy.backoff_factor
        if policy.max_interval_ms is not None and delay >= policy.max_interval_ms:
            break
        if delay > 10**15:
            break
    if policy.max_interval_ms is not None:
        delay = min(delay, float(policy.max_interval_ms))
    return int(delay)


def delay_ms(policy: RetrySchedule, retry_number: int, rng: random.Random | None = None) -> int:
    """The delay before retry ``retry_number``, randomized when the policy asks."""
    base = base_delay_ms(policy, retry_number)
    if not policy.randomize or base == 0:
        return base
    factor = (rng or random).uniform(RANDOM_LOW, RANDOM_HIGH)
    delay = max(1, int(base * factor))
    if policy.max_interval_ms is not None:
        delay = min(delay, policy.max_interval_ms)
    return delay


def next_retry_at_ms(
    policy: RetrySchedule, failures: int, first_started_ms: int, now_ms: int
) -> int | None:
    """When the next attempt may start after ``failures`` failed attempts, or None to stop."""
    if failures > policy.retry_count:
        return None
    due = now_ms + delay_ms(policy, failures)
    if due > first_started_ms + policy.retry_for_ms:
        return None
    return due
