"""Failure policy and retry backoff for runs.

Their rules live in the configuration: :class:`FailurePolicy` (the allowed values of
``tool.kindling.execution.on-failure``) is the leaf enum :mod:`kindling_core.failure_policy`,
and :class:`RetryPolicy` takes its defaults and limits from the
:class:`~kindling_core.config.ExecutionConfig` fields it mirrors.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import attrs

from kindling_core.config import ExecutionConfig
from kindling_core.failure_policy import FailurePolicy

__all__ = ["FailurePolicy", "RetryPolicy"]

_DEFAULTS = ExecutionConfig()

#: The delay stops doubling after this many retries (``base * 2**64``), so that a long run
#: of retries never overflows a float; the cap ``max_delay`` is reached long before.
_MAX_DOUBLINGS = 64


@attrs.frozen
class RetryPolicy:
    """Retries of transient failures: exponential backoff with jitter.

    The delay before retry ``n`` (1-based) is uniform in ``[d/2, d]`` where
    ``d = min(max_delay, base * 2**(n-1))`` ("equal jitter": never zero unless ``base`` is,
    never above the cap). ``max_retries``, ``base`` and ``max_delay`` are
    ``tool.kindling.execution.max-retries``, ``retry-backoff-seconds`` and
    ``retry-backoff-max-seconds``, with the same defaults and checked by the same rules
    (a bad value is a :class:`~kindling_core.errors.ConfigError` naming that key).
    """

    max_retries: int = _DEFAULTS.max_retries
    base: float = _DEFAULTS.retry_backoff_seconds
    max_delay: float = _DEFAULTS.retry_backoff_max_seconds
    random: Callable[[], float] = attrs.field(default=random.random, eq=False, repr=False)

    def __attrs_post_init__(self) -> None:
        ExecutionConfig(  # the configuration's rules, one home
            max_retries=self.max_retries, retry_backoff_seconds=self.base, retry_backoff_max_seconds=self.max_delay
        )

    @classmethod
    def from_config(cls, execution: ExecutionConfig) -> RetryPolicy:
        """The retry policy ``[tool.kindling.execution]`` describes."""
        return cls(
            max_retries=execution.max_retries,
            base=execution.retry_backoff_seconds,
            max_delay=execution.retry_backoff_max_seconds,
        )

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number ``retry`` (1-based)."""
        ceiling = min(self.max_delay, self.base * (2.0 ** min(_MAX_DOUBLINGS, max(0, retry - 1))))
        return ceiling / 2 + self.random() * ceiling / 2
