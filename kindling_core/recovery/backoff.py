"""Exponential backoff with full jitter and a cap: how long to wait before a retry.

A leaf module (it imports nothing of kindling_core), so that :mod:`kindling_core.items` can
carry a :class:`Backoff` in :class:`~kindling_core.items.RecoveryContext` without an import
cycle; the rest of :mod:`kindling_core.recovery` sits above the item types.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable

import attrs

__all__ = ["Backoff"]

#: The ceiling stops doubling after this many attempts (``base * 2**64``), so that a long run
#: of attempts never overflows a float; any finite cap is reached long before.
_MAX_DOUBLINGS = 64


def _seconds(instance: Backoff, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f"Backoff.{attribute.name} must be a finite number of seconds >= 0, got {value!r}")


def _at_least_base(instance: Backoff, attribute: attrs.Attribute[float], value: float) -> None:
    _seconds(instance, attribute, value)
    if value < instance.base:
        raise ValueError(f"Backoff.cap must be >= Backoff.base ({instance.base!r}), got {value!r}")


@attrs.frozen
class Backoff:
    """Exponential backoff with full jitter: the delay before attempt ``n`` (1-based) is uniform
    in ``[0, ceiling(n))`` where ``ceiling(n) = min(cap, base * 2**(n-1))``.

    Full jitter ("sleep a random fraction of the exponential ceiling") spreads the retries of
    many failures that happened together, so they do not hit a recovering service at the same
    instants. The ceiling never exceeds ``cap`` and never overflows, whatever the attempt.
    ``random`` returns a float in ``[0, 1)``; tests pass a fixed one. Invalid ``base``/``cap``
    (negative, not finite, ``cap < base``) raise ``ValueError``; configuration values are
    checked earlier, by their keys' rules.
    """

    base: float = attrs.field(validator=_seconds)
    """Seconds: the ceiling of the first attempt's delay, doubled per further attempt."""
    cap: float = attrs.field(validator=_at_least_base)
    """Seconds: no delay is longer than this."""
    random: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)
    """Source of jitter: a float in ``[0, 1)`` per call (``random.random`` by default)."""

    def ceiling(self, attempt: int) -> float:
        """The longest delay before attempt ``attempt`` (1-based): ``min(cap, base * 2**(attempt-1))``."""
        doublings = min(_MAX_DOUBLINGS, max(0, attempt - 1))
        return min(self.cap, self.base * (2.0**doublings))

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt`` (1-based): ``random() * ceiling(attempt)``."""
        return self.random() * self.ceiling(attempt)
