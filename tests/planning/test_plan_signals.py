"""Planning signals: declared, documented, typed, and everything emitted is declared."""

from __future__ import annotations

import attrs
import pytest

from kindling_core.planning import CycleError
from kindling_core.planning import signals as plan_signals
from kindling_core.signal_catalog import core_signals
from kindling_core.signals import is_signal_name


def test_emits_are_valid_documented_and_typed() -> None:
    names = [spec.name for spec in plan_signals.EMITS]
    assert names == ["plan.cache_hit", "plan.cache_missed", "plan.after_plan", "plan.plan_failed", "cache.recommended"]
    for spec in plan_signals.EMITS:
        assert is_signal_name(spec.name) and spec.doc and spec.emitter == "Planner"
        assert attrs.has(spec.payload_type)
    assert set(plan_signals.EMITS) <= set(core_signals())


def test_everything_the_planner_emits_is_declared(app) -> None:
    app.entity("raw.a", path="/a")
    app.pipe("p.one", inputs=["raw.a"], output="e.one")(lambda a: a)
    app.pipe("p.two", inputs=["e.one"], output="e.two")(lambda a: a)
    app.pipe("p.three", inputs=["e.one"], output="e.three")(lambda a: a)
    declared = {spec.name for spec in plan_signals.EMITS}
    with app.signals.record_emits() as emitted:
        app.plan()
        app.plan()
        app.pipe("p.loop", inputs=["e.loop"], output="e.loop")(lambda a: a)
        with pytest.raises(CycleError):
            app.plan()
    assert emitted == declared
