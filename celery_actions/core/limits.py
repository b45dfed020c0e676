"""The bounds of what an enqueue accepts (options); each error message names them."""

from __future__ import annotations

from datetime import timedelta

MAX_CONCURRENCY = 100
ID_MAX_LENGTH = 200
MAX_RETRY_COUNT = 10_000
MAX_INTERVAL_MS = 30 * 24 * 3600 * 1000
"""A retry delay (initialInterval, maxInterval) is at most 30 days."""
MAX_RETRY_FOR_MS = 365 * 24 * 3600 * 1000
"""Retries may go on for at most a year after the first attempt."""
MAX_START_AHEAD = timedelta(days=36_525)
"""startAt is at most a hundred years ahead (and any time in the past: it then runs now)."""
NAME_PATTERN = r"^[^\x00-\x1f\x7f]+$"
