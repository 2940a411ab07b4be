"""Every signal a core component emits is declared in an ``EMITS`` tuple and documented."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

from kindling_core.docgen import render_signals
from kindling_core.signal_catalog import EMITTING_MODULES, core_signals
from kindling_core.signals import SignalSpec
from kindling_core.testing import ScriptedRunner, fail, make_app

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "kindling_core", ROOT / "plugins"]


def test_every_module_level_spec_is_in_its_modules_emits() -> None:
    for module_name in EMITTING_MODULES:
        module = importlib.import_module(module_name)
        specs = {value.name for value in vars(module).values() if isinstance(value, SignalSpec)}
        declared = {spec.name for spec in module.EMITS}
        assert specs <= declared, f"{module_name} defines signals missing from EMITS: {specs - declared}"


def test_no_signal_is_defined_outside_the_catalogued_modules() -> None:
    catalogued = {Path(importlib.import_module(m).__file__).resolve() for m in EMITTING_MODULES}
    offenders = []
    for folder in SOURCES:
        for path in folder.rglob("*.py"):
            if path.resolve() in catalogued or "signals" in path.parts[-2:-1]:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Call) and getattr(node.func, "id", getattr(node.func, "attr", None)) == "SignalSpec":
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not offenders, f"SignalSpec defined outside kindling_core.signal_catalog.EMITTING_MODULES: {offenders}"


def test_everything_emitted_in_a_run_is_declared_and_documented() -> None:
    app = make_app(execution={"max-retries": 1, "retry-backoff-seconds": 0.0})
    for entity in ("raw.a", "s.a", "s.b", "s.c"):
        app.entity(entity, path=f"/tmp/{entity}")
    app.pipe("p.a", inputs=["raw.a"], output="s.a")(lambda x: x)
    app.pipe("p.b", inputs=["s.a"], output="s.b")(lambda x: x)
    app.pipe("p.c", inputs=["s.b"], output="s.c")(lambda x: x)
    for spec in core_signals():  # receivers everywhere, so emitters do not skip work
        app.signals.connect(spec, lambda sender, **kwargs: None)
    with app.signals.record_emits() as emitted:
        app.plan()
        app.plan()  # a cache hit
        app.run(runner=ScriptedRunner({"p.b": fail(ConnectionError("reset"))}), on_failure="skip_dependents")
        app.errors.report(RuntimeError("x"), source="test", subject="s")
    declared = {spec.name for spec in core_signals()}
    assert emitted, "nothing was emitted"
    assert emitted <= declared, f"emitted but not declared: {emitted - declared}"
    catalogue = render_signals()
    for name in emitted:
        assert f"### `{name}`" in catalogue
    assert {"execution.before_run", "pipe.run_failed", "pipe.retry_scheduled", "pipe.skipped", "plan.cache_hit"} <= emitted
