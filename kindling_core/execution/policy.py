"""Failure policy and retry backoff for runs."""

from __future__ import annotations

import enum
import random
from collections.abc import Callable

import attrs

from kindling_core.errors import ConfigError

__all__ = ["FailurePolicy", "RetryPolicy"]


class FailurePolicy(str, enum.Enum):
    """What a run does after a pipe fails (for good, after retries).

    ``fail_fast``: stop; every pipe not yet run is skipped. ``continue``: run every remaining
    pipe, including dependents of the failed one (they read whatever their inputs hold).
    ``skip_dependents``: skip every pipe downstream of the failed one, run the rest.
    """

    FAIL_FAST = "fail_fast"
    CONTINUE = "continue"
    SKIP_DEPENDENTS = "skip_dependents"

    @classmethod
    def parse(cls, value: str | FailurePolicy, *, path: str = "on_failure") -> FailurePolicy:
        if isinstance(value, FailurePolicy):
            return value
        normalized = str(value).replace("-", "_")
        try:
            return cls(normalized)
        except ValueError:
            from kindling_core.errors import UnknownNameError

            raise UnknownNameError("failure policy", str(value), [p.value for p in cls], path=path) from None


@attrs.frozen
class RetryPolicy:
    """Retries of transient failures: exponential backoff with full jitter.

    The delay before retry ``n`` (1-based) is uniform in ``[d/2, d]`` where
    ``d = min(max_delay, base * 2**(n-1))`` ("equal jitter": never zero, never above the cap).
    """

    max_retries: int = 2
    base: float = 1.0
    max_delay: float = 60.0
    random: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError("max-retries must be >= 0", path="tool.kindling.execution.max-retries")
        if self.base < 0 or self.max_delay < 0:
            raise ConfigError("retry backoff seconds must be >= 0", path="tool.kindling.execution.retry-backoff-seconds")

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        ceiling = min(self.max_delay, self.base * (2 ** max(0, retry - 1)))
        return ceiling / 2 + self.random() * ceiling / 2
