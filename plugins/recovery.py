"""Built-in recovery strategies, in default order:

``clean-start-on-checkpoint``
    a streaming failure classified ``checkpoint`` → clean start (old checkpoint kept aside);
``give-up-on-permanent``
    a ``permanent`` failure → give up (retrying cannot help);
``restart-with-backoff``
    anything else → restart after ``base * 2**attempts`` seconds (capped), until
    ``max_attempts`` is reached, then give up (the caller emits ``recovery_exhausted``).

Settings (``[tool.kindling.settings.recovery]``, declared in :data:`SETTINGS`, so the core
checks them): ``backoff-seconds`` (default 2), ``backoff-max-seconds`` (default 300), both
numbers >= 0.
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
    hookimpl,
)

#: The keys of ``[tool.kindling.settings.recovery]``.
SETTINGS = (
    Setting("backoff-seconds", float, default=2.0, min=0, description="first restart delay, doubled per attempt"),
    Setting("backoff-max-seconds", float, default=300.0, min=0, description="cap of a restart delay"),
)


def backoff_delay(attempts_so_far: int, base: float, cap: float) -> float:
    """Exponential backoff: ``base * 2**attempts_so_far``, at most ``cap`` (no jitter here)."""
    return min(cap, base * (2 ** max(0, attempts_so_far)))


def clean_start_on_checkpoint(context: RecoveryContext) -> RecoveryAction | None:
    if context.classification.kind is FailureKind.CHECKPOINT and context.failure.source == "stream":
        return RecoveryAction(
            RecoveryActionKind.CLEAN_START,
            f"checkpoint incompatible ({context.classification.reason})",
            strategy="clean-start-on-checkpoint",
        )
    return None


def give_up_on_permanent(context: RecoveryContext) -> RecoveryAction | None:
    if context.classification.kind is FailureKind.PERMANENT:
        return RecoveryAction(
            RecoveryActionKind.GIVE_UP,
            f"permanent failure ({context.classification.reason})",
            strategy="give-up-on-permanent",
        )
    return None


def make_restart_with_backoff(settings: Mapping[str, Any]) -> Callable[[RecoveryContext], RecoveryAction]:
    """``settings`` as validated against :data:`SETTINGS` (defaults filled in)."""
    base = settings["backoff-seconds"]
    cap = settings["backoff-max-seconds"]

    def restart_with_backoff(context: RecoveryContext) -> RecoveryAction:
        if context.attempts_so_far >= context.max_attempts:
            return RecoveryAction(
                RecoveryActionKind.GIVE_UP,
                f"recovery budget exhausted after {context.attempts_so_far} attempts",
                strategy="restart-with-backoff",
            )
        return RecoveryAction(
            RecoveryActionKind.RESTART,
            f"{context.classification.kind.value} failure, attempt {context.attempts_so_far + 1} of {context.max_attempts}",
            delay_seconds=backoff_delay(context.attempts_so_far, base, cap),
            strategy="restart-with-backoff",
        )

    return restart_with_backoff


@hookimpl
def kindling_settings_schema() -> tuple[Setting, ...]:
    """Declare ``backoff-seconds`` and ``backoff-max-seconds``."""
    return SETTINGS


@hookimpl
def kindling_recovery_strategies(settings: Mapping[str, Any]) -> list[RecoveryStrategy]:
    """Register the three built-in strategies in their default order."""
    return [
        RecoveryStrategy(
            name="clean-start-on-checkpoint",
            description="clean start when a stream's checkpoint is incompatible",
            decide=clean_start_on_checkpoint,
        ),
        RecoveryStrategy(
            name="give-up-on-permanent",
            description="give up on permanent failures",
            decide=give_up_on_permanent,
        ),
        RecoveryStrategy(
            name="restart-with-backoff",
            description="restart with exponential backoff until the attempt budget is spent",
            decide=make_restart_with_backoff(settings),
        ),
    ]
