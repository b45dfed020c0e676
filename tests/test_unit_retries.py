"""The backoff arithmetic, checked against its definition with hypothesis."""

from __future__ import annotations

import math
import random

from hypothesis import given
from hypothesis import strategies as st

from celery_actions.core.retry import RetrySchedule, base_delay_ms, decide, delay_ms

DAY = 24 * 3600 * 1000


def policy(n=6, initial=1000, cap=None, factor=2.0, randomize=False, retry_for=7 * DAY):
    return RetrySchedule(n, initial, cap, factor, randomize, retry_for)


def test_gadget_example_schedule():
    p = policy(n=5, initial=1000, cap=60000, factor=2)
    assert [base_delay_ms(p, k) for k in range(1, 6)] == [1000, 2000, 4000, 8000, 16000]
    capped = policy(n=8, initial=1000, cap=5000, factor=3)
    assert [base_delay_ms(capped, k) for k in range(1, 5)] == [1000, 3000, 5000, 5000]


@given(
    initial=st.integers(0, 10**7),
    factor=st.floats(1.0, 1000.0),
    cap=st.one_of(st.none(), st.integers(0, 10**9)),
    k=st.integers(1, 200),
)
def test_base_delay_is_the_formula_capped(initial, factor, cap, k):
    p = policy(initial=initial, factor=factor, cap=cap)
    got = base_delay_ms(p, k)
    assert got >= 0
    if cap is not None:
        assert got <= cap
    if initial == 0:
        assert got == 0
    elif (k - 1) * math.log(factor) + math.log(initial) < math.log(10**14):
        exact = initial * factor ** (k - 1)
        want = exact if cap is None else min(exact, cap)
        assert abs(got - int(want)) <= max(1, want * 1e-9)


@given(
    initial=st.integers(1, 10**6),
    factor=st.floats(1.0, 10.0),
    cap=st.one_of(st.none(), st.integers(1, 10**7)),
    k=st.integers(1, 30),
    seed=st.integers(0, 2**32),
)
def test_randomized_delay_never_reaches_zero_and_respects_the_cap(initial, factor, cap, k, seed):
    p = policy(initial=initial, factor=factor, cap=cap, randomize=True)
    d = delay_ms(p, k, random.Random(seed))
    base = base_delay_ms(p, k)
    assert d >= 1
    assert d >= int(base * 0.5) - 1
    assert d <= base * 1.5 + 1
    if cap is not None:
        assert d <= cap


def test_retries_stop_after_the_count_and_after_retry_for():
    p = policy(n=2, initial=1000, retry_for=2500)
    first = decide(p, 1, first_started_ms=0, now_ms=100, error_type="E")
    assert (first.retry, first.delay_ms) == (True, 1000)
    assert first.reason == "attempt 1 failed with E; retry 1 of 2 in 1000 ms"
    late = decide(p, 2, first_started_ms=0, now_ms=1200, error_type="E")  # 1200+2000 > 2500
    assert not late.retry and "retry window (2500 ms) has closed" in late.reason
    spent = decide(p, 3, first_started_ms=0, now_ms=0, error_type="E")
    assert not spent.retry and "no retries left (2)" in spent.reason


@given(n=st.integers(0, 20), failures=st.integers(1, 25), seed=st.integers(0, 2**32))
def test_the_decision_follows_the_count_and_the_delay(n, failures, seed):
    p = policy(n=n, initial=10, randomize=True)
    got = decide(p, failures, 0, 0, "E", random.Random(seed))
    assert got.retry == (failures <= n)
    if got.retry:
        assert got.delay_ms == delay_ms(p, failures, random.Random(seed))
