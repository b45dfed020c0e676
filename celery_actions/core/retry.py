"""The retry policy as it runs: backoff arithmetic and the one retry decision.

Delay before retry k (k = 1..retry_count) is ``initial * factor**(k-1)``, capped by
``max_interval``; with ``randomize`` it is multiplied by a factor drawn from [0.5, 1.5)
and capped again, so it never reaches zero unless the initial interval is zero. Retries
stop once the next attempt would start later than ``retry_for`` after the first attempt.

:func:`decide` is the only place that decides whether a failed attempt is retried; the
worker calls it and ``finish.lua`` records what it says (a cancel requested meanwhile
still turns a retry into ``cancelled``: that is state, not policy).
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RANDOM_LOW = 0.5
RANDOM_HIGH = 1.5
_DELAY_CEILING = 10**15  # stop multiplying long before a float overflows


@dataclass(frozen=True, slots=True)
class RetrySchedule:
    """A concrete retry policy: every value known, units in the names."""

    retry_count: int
    initial_interval_ms: int
    max_interval_ms: int | None
    backoff_factor: float
    randomize: bool
    retry_for_ms: int

    def to_json(self) -> dict[str, Any]:
        """Compact form for the job record."""
        return {
            "n": self.retry_count,
            "i": self.initial_interval_ms,
            "m": self.max_interval_ms,
            "f": self.backoff_factor,
            "r": self.randomize,
            "d": self.retry_for_ms,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> RetrySchedule:
        """Inverse of :meth:`to_json`."""
        return cls(data["n"], data["i"], data["m"], data["f"], data["r"], data["d"])


def base_delay_ms(policy: RetrySchedule, retry_number: int) -> int:
    """The un-randomized delay before retry ``retry_number`` (1-based), in ms."""
    if retry_number < 1:
        raise ValueError("retry_number starts at 1")
    delay = float(policy.initial_interval_ms)
    cap = policy.max_interval_ms
    for _ in range(retry_number - 1):
        delay *= policy.backoff_factor
        if (cap is not None and delay >= cap) or delay > _DELAY_CEILING:
            break
    if cap is not None:
        delay = min(delay, float(cap))
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


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What becomes of a failed attempt."""

    retry: bool
    delay_ms: int
    reason: str
    """For people: why it retries (and when) or why it stops."""


def decide(
    policy: RetrySchedule,
    failures: int,
    first_started_ms: int,
    now_ms: int,
    error_type: str,
    rng: random.Random | None = None,
    *,
    requested_delay_ms: int | None = None,
    max_retries: int | None = None,
) -> RetryDecision:
    """Whether an action that has now failed ``failures`` times gets another attempt.

    ``now_ms`` is the Redis server's clock (the claim reports it); the next attempt may not
    start later than ``first_started_ms + retry_for_ms``. An action that asked for its
    retry (Celery's ``self.retry``) may name the delay (``countdown``/``eta``) and the
    number of retries (``max_retries``), which then take the policy's place.
    """
    failed = f"attempt {failures} failed with {error_type}"
    count = policy.retry_count if max_retries is None else max_retries
    if failures > count:
        return RetryDecision(False, 0, f"{failed}; no retries left ({count})")
    delay = delay_ms(policy, failures, rng) if requested_delay_ms is None else requested_delay_ms
    if now_ms + delay > first_started_ms + policy.retry_for_ms:
        return RetryDecision(
            False, 0, f"{failed}; the retry window ({policy.retry_for_ms} ms) has closed"
        )
    return RetryDecision(True, delay, f"{failed}; retry {failures} of {count} in {delay} ms")
