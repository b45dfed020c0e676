"""The optional enqueue rate limit: a leaky bucket shared by every producer on a Redis.

``actions_enqueue_rate_limit`` is ``"200/s"`` (also ``/m``, ``/h``, or a bare number per
second) or ``"gadget"``: Gadget's limits, 200/s in production and 80/s in development.
``actions_enqueue_burst`` [3] is how far past the sustained rate a burst may go: the bucket
holds ``rate * burst`` enqueues and drains at ``rate``. The check is part of the enqueue
script (one round trip); ``enqueue_many`` takes the whole batch at once, or none of it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigurationError, TooManyRequests
from .settings import Environment

GADGET_RATES = {"production": 200.0, "development": 80.0}
_UNITS = {"s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """A sustained rate (per second) and a burst factor."""

    per_second: float
    burst: float

    @property
    def rate_per_ms(self) -> float:
        """The drain rate, per millisecond."""
        return self.per_second / 1000

    @property
    def capacity(self) -> float:
        """How many enqueues the bucket holds."""
        return self.per_second * self.burst

    @classmethod
    def parse(
        cls,
        text: object,
        burst: float,
        environment: Environment,
        setting: str = "actions_enqueue_rate_limit",
    ) -> RateLimit | None:
        """Parse the setting (named ``setting`` in errors); None when there is no limit."""
        if text is None or text == "":
            return None
        if burst < 1:
            raise ConfigurationError(f"actions_enqueue_burst must be >= 1, got {burst}")
        if isinstance(text, int | float):
            per_second = float(text)
        elif str(text).strip().lower() == "gadget":
            per_second = GADGET_RATES[environment]
        else:
            match = re.fullmatch(r"\s*([0-9.]+)\s*(?:/\s*([a-z]+))?\s*", str(text).lower())
            if match is None or (match.group(2) or "s") not in _UNITS:
                raise ConfigurationError(
                    f"{setting} {text!r}: expected '200/s', '12000/m', "
                    "'720000/h', a number per second, or 'gadget'"
                )
            per_second = float(match.group(1)) / _UNITS[match.group(2) or "s"]
        if per_second <= 0:
            raise ConfigurationError(f"{setting} must be > 0")
        return cls(per_second, burst)

    def args(self, n: int) -> list[object]:
        """The script arguments for taking ``n``."""
        return [repr(self.rate_per_ms), repr(self.capacity), n]

    def refuse(self, n: int, wait_ms: int) -> TooManyRequests:
        """The error for a refused enqueue of ``n``."""
        if n > self.capacity:
            return TooManyRequests(
                f"a batch of {n} is larger than the enqueue burst capacity "
                f"({self.capacity:g} = {self.per_second:g}/s x {self.burst:g}); split it",
                retry_after=wait_ms / 1000,
            )
        return TooManyRequests(
            f"enqueue rate limit of {self.per_second:g}/s (burst x{self.burst:g}) exceeded; "
            f"retry after {wait_ms / 1000:.3f}s",
            retry_after=wait_ms / 1000,
        )
