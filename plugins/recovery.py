"""Built-in recovery strategies, in default order (the first that returns an action decides):

``give-up-on-permanent``
    a ``permanent`` failure → give up (retrying cannot help);
``clean-start-on-checkpoint``
    a streaming failure classified ``checkpoint`` → clean start (old checkpoint kept aside);
``alert-only``
    a failure of a pipe or streaming query listed in the ``alert-only`` setting → leave it
    failed and alert a human (nothing is restarted for it);
``restart-with-backoff``
    a ``transient``, ``conflict`` or ``unknown`` failure → restart after
    ``context.backoff.delay(attempt)`` seconds (exponential, full jitter, capped).

The budget is the core's, not a strategy's: a restart when ``attempts_so_far`` has reached
``max_attempts`` is refused by the core (the decision is exhausted), and a permanent failure is
never restarted, whatever a strategy says. The backoff and budget come from
``[tool.kindling.recovery]`` for streams and ``[tool.kindling.execution]`` for batch pipes.

Settings (``[tool.kindling.settings.recovery]``, declared in :data:`SETTINGS`, so the core
checks them): ``alert-only``, the pipe ids and streaming query names whose failures are only
alerted (default: none).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from kindling_core.plugin import (
    FailureKind,
    RecoveryAction,
    RecoveryActionKind,
    RecoveryContext,
    RecoveryStrategy,
    Setting,
    SettingsError,
    hookimpl,
)

#: The keys of ``[tool.kindling.settings.recovery]``.
SETTINGS = (
    Setting(
        "alert-only",
        list,
        default=(),
        description="pipe ids and streaming query names whose failures are only alerted, never restarted",
    ),
)

#: The failure kinds ``restart-with-backoff`` restarts.
RESTARTABLE = frozenset({FailureKind.TRANSIENT, FailureKind.CONFLICT, FailureKind.UNKNOWN})


def give_up_on_permanent(context: RecoveryContext) -> RecoveryAction | None:
    """Give up on a ``permanent`` failure."""
    if context.classification.kind is FailureKind.PERMANENT:
        return RecoveryAction(
            RecoveryActionKind.GIVE_UP,
            f"permanent failure ({context.classification.reason})",
            strategy="give-up-on-permanent",
        )
    return None


def clean_start_on_checkpoint(context: RecoveryContext) -> RecoveryAction | None:
    """Clean start a streaming query whose failure is classified ``checkpoint``."""
    if context.classification.kind is FailureKind.CHECKPOINT and context.failure.source == "stream":
        return RecoveryAction(
            RecoveryActionKind.CLEAN_START,
            f"checkpoint incompatible ({context.classification.reason})",
            strategy="clean-start-on-checkpoint",
        )
    return None


def alert_only_names(settings: Mapping[str, Any]) -> frozenset[str]:
    """The ``alert-only`` setting as a set of names; a non-string or empty entry is a
    :class:`~kindling_core.errors.SettingsError` naming the key."""
    names = settings.get("alert-only", ())
    bad = [name for name in names if not isinstance(name, str) or not name.strip()]
    if bad:
        raise SettingsError(
            f"tool.kindling.settings.recovery.alert-only must list pipe ids and streaming query names (non-empty strings), got {bad[0]!r}",
            plugin="recovery",
            key="alert-only",
            remedy='write the names as strings, e.g. alert-only = ["silver.orders"]',
        )
    return frozenset(names)


def make_alert_only(names: frozenset[str]) -> Callable[[RecoveryContext], RecoveryAction | None]:
    """Alert only (no restart) for a failure whose subject (pipe id or query name) is in ``names``."""

    def alert_only(context: RecoveryContext) -> RecoveryAction | None:
        if context.failure.subject in names:
            return RecoveryAction(
                RecoveryActionKind.ALERT_ONLY,
                f"{context.failure.subject!r} is listed in tool.kindling.settings.recovery.alert-only",
                strategy="alert-only",
            )
        return None

    return alert_only


def restart_with_backoff(context: RecoveryContext) -> RecoveryAction | None:
    """Restart a ``transient``, ``conflict`` or ``unknown`` failure after ``context.backoff.delay(attempt)``."""
    kind = context.classification.kind
    if kind not in RESTARTABLE:
        return None
    attempt = context.attempts_so_far + 1
    return RecoveryAction(
        RecoveryActionKind.RESTART,
        f"{kind.value} failure, attempt {attempt} of {context.max_attempts}",
        delay_seconds=context.backoff.delay(attempt),
        strategy="restart-with-backoff",
    )


@hookimpl
def kindling_settings_schema() -> tuple[Setting, ...]:
    """Declare ``alert-only``."""
    return SETTINGS


@hookimpl
def kindling_recovery_strategies(settings: Mapping[str, Any]) -> list[RecoveryStrategy]:
    """Register the four built-in strategies in their default order."""
    return [
        RecoveryStrategy(
            name="give-up-on-permanent",
            description="give up on permanent failures",
            decide=give_up_on_permanent,
        ),
        RecoveryStrategy(
            name="clean-start-on-checkpoint",
            description="clean start when a stream's checkpoint is incompatible",
            decide=clean_start_on_checkpoint,
        ),
        RecoveryStrategy(
            name="alert-only",
            description="only alert (never restart) the pipes and queries listed in its alert-only setting",
            decide=make_alert_only(alert_only_names(settings)),
        ),
        RecoveryStrategy(
            name="restart-with-backoff",
            description="restart transient, conflict and unknown failures with exponential backoff and full jitter",
            decide=restart_with_backoff,
        ),
    ]
