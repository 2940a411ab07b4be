"""The built-in recovery strategies (plugin ``recovery``), through an app's chain."""

from __future__ import annotations

import pytest

from kindling_core.errors import SettingsError
from kindling_core.plugin import (
    Backoff,
    Classification,
    FailureContext,
    FailureKind,
    RecoveryActionKind,
    RecoveryContext,
)
from kindling_core.recovery import RecoveryDecision, decide_recovery
from kindling_core.testing import make_app


def decide(app, kind: FailureKind, *, source: str = "pipe", subject: str = "p.x", attempts_so_far: int = 0) -> RecoveryDecision:
    failure = FailureContext.of(RuntimeError("boom"), source=source, subject=subject)
    context = RecoveryContext(
        failure,
        Classification(kind, "test"),
        attempts_so_far=attempts_so_far,
        max_attempts=5,
        backoff=Backoff(base=4.0, cap=10.0, random=lambda: 0.5),
    )
    return decide_recovery(app.recovery_strategies(), context, app.errors)


def test_the_builtins_run_in_their_default_order() -> None:
    names = [entry.item.name for entry in make_app().recovery_strategies()]
    assert names == ["give-up-on-permanent", "clean-start-on-checkpoint", "alert-only", "restart-with-backoff"]


def test_each_kind_gets_the_builtin_action() -> None:
    app = make_app()
    cases = {
        (FailureKind.PERMANENT, "stream"): (RecoveryActionKind.GIVE_UP, "give-up-on-permanent"),
        (FailureKind.CHECKPOINT, "stream"): (RecoveryActionKind.CLEAN_START, "clean-start-on-checkpoint"),
        (FailureKind.CHECKPOINT, "pipe"): (RecoveryActionKind.GIVE_UP, ""),  # no strategy applies to a batch pipe
        (FailureKind.TRANSIENT, "pipe"): (RecoveryActionKind.RESTART, "restart-with-backoff"),
        (FailureKind.CONFLICT, "stream"): (RecoveryActionKind.RESTART, "restart-with-backoff"),
        (FailureKind.UNKNOWN, "pipe"): (RecoveryActionKind.RESTART, "restart-with-backoff"),
    }
    for (kind, source), expected in cases.items():
        action = decide(app, kind, source=source).action
        assert (action.kind, action.strategy) == expected, (kind, source)


def test_restart_with_backoff_waits_the_backoff_of_the_next_attempt() -> None:
    action = decide(make_app(), FailureKind.TRANSIENT, attempts_so_far=1).action
    assert action.delay_seconds == 4.0  # attempt 2: ceiling min(10, 4 * 2) = 8, times the jitter 0.5
    assert action.reason == "transient failure, attempt 2 of 5"


def test_alert_only_takes_the_pipes_and_queries_its_setting_lists() -> None:
    app = make_app(config={"settings": {"recovery": {"alert-only": ["p.x", "orders-stream"]}}})
    for source, subject in (("pipe", "p.x"), ("stream", "orders-stream")):
        action = decide(app, FailureKind.TRANSIENT, source=source, subject=subject).action
        assert (action.kind, action.strategy) == (RecoveryActionKind.ALERT_ONLY, "alert-only")
        assert action.reason == f"{subject!r} is listed in tool.kindling.settings.recovery.alert-only"
    assert decide(app, FailureKind.TRANSIENT, subject="p.other").action.kind is RecoveryActionKind.RESTART
    assert decide(make_app(), FailureKind.TRANSIENT).action.kind is RecoveryActionKind.RESTART  # empty by default


@pytest.mark.parametrize(
    ("value", "words"),
    [
        ([""], "tool.kindling.settings.recovery.alert-only must list pipe ids and streaming query names (non-empty strings), got ''"),
        ([3], "tool.kindling.settings.recovery.alert-only must list pipe ids and streaming query names (non-empty strings), got 3"),
        ("p.x", "tool.kindling.settings.recovery.alert-only must be an array, got 'p.x'"),
    ],
)
def test_a_bad_alert_only_setting_names_its_key(value: object, words: str) -> None:
    with pytest.raises(SettingsError) as info:
        make_app(config={"settings": {"recovery": {"alert-only": value}}})
    assert str(info.value).splitlines()[0].startswith(words), str(info.value)
    assert info.value.path == "tool.kindling.settings.recovery.alert-only"
