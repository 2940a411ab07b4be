"""The :class:`FailurePolicy` enum: what a run does after a pipe fails for good.

A leaf module (it imports nothing from kindling_core) so that the configuration can take the
allowed values of ``tool.kindling.execution.on-failure`` from the enum without importing the
executor. :mod:`kindling_core.execution` re-exports it.
"""

from __future__ import annotations

import enum

__all__ = ["FailurePolicy"]


class FailurePolicy(str, enum.Enum):
    """What a run does after a pipe fails (for good, after retries).

    ``fail_fast``: stop; every pipe not yet run is skipped. ``continue``: run every remaining
    pipe, including dependents of the failed one (they read whatever their inputs hold).
    ``skip_dependents``: skip every pipe downstream of the failed one, run the rest.

    Configuration and the CLI accept dashes for underscores and any case (``Fail-Fast``);
    :meth:`spelling` is that one rule.
    """

    FAIL_FAST = "fail_fast"
    CONTINUE = "continue"
    SKIP_DEPENDENTS = "skip_dependents"

    @staticmethod
    def spelling(value: object) -> object:
        """The canonical spelling of ``value`` (lower case, dashes become underscores); non-strings unchanged."""
        if isinstance(value, FailurePolicy):
            return value.value
        return value.lower().replace("-", "_") if isinstance(value, str) else value

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """Every policy's value, in declaration order."""
        return tuple(policy.value for policy in cls)

    @classmethod
    def parse(cls, value: str | FailurePolicy, *, path: str = "tool.kindling.execution.on-failure") -> FailurePolicy:
        """The policy named ``value`` (either spelling).

        Raises :class:`~kindling_core.errors.ConfigError` naming ``path`` with a did-you-mean,
        through the same check as the configuration key (:mod:`kindling_core.config`).
        """
        if isinstance(value, FailurePolicy):
            return value
        from kindling_core.config import check_setting

        return cls(check_setting("execution", "on_failure", value, path=path))
