# tests/test_acme.py
"""The ACME plugin, tested without Spark: plans, scripted runs, settings and the entry point."""

from __future__ import annotations

import acme_kindling
import pytest

from kindling_core.plugin import FailureKind, SettingsError
from kindling_core.testing import FakeEntryPoint, ScriptedRunner, fail, make_app

QUOTA = RuntimeError("[ACME_QUOTA_EXCEEDED] 1000 calls per minute")


def declare_pipeline(app) -> None:
    """raw.orders -> silver.orders -> gold.revenue (critical) and gold.marketing; raw.clicks -> gold.clicks."""

    @app.pipe("silver.orders", inputs=["raw.orders"], output="silver.orders")
    def orders(raw):
        return raw

    @app.pipe("gold.revenue", inputs=["silver.orders"], output="gold.revenue", tags=["critical"])
    def revenue(orders):
        return orders

    @app.pipe("gold.marketing", inputs=["silver.orders"], output="gold.marketing", tags=["marketing"])
    def marketing(orders):
        return orders

    @app.pipe("gold.clicks", inputs=["raw.clicks"], output="gold.clicks")
    def clicks(raw):
        return raw


def test_critical_pipes_and_what_they_need_run_first(kindling_app_factory) -> None:
    app = kindling_app_factory({"acme": acme_kindling}, config={"strategy": "critical-first"})
    declare_pipeline(app)
    assert app.plan().generations == (
        ("silver.orders",),
        ("gold.revenue",),
        ("gold.clicks", "gold.marketing"),
    )


def test_the_critical_tag_is_a_setting(kindling_app_factory) -> None:
    config = {"strategy": "critical-first", "settings": {"acme": {"critical-tag": "marketing"}}}
    app = kindling_app_factory({"acme": acme_kindling}, config=config)
    declare_pipeline(app)
    assert app.plan().generations[:2] == (("silver.orders",), ("gold.marketing",))


def test_quota_errors_are_retried(kindling_app_factory) -> None:
    config = {"execution": {"max-retries": 2, "retry-backoff-seconds": 0}}
    app = kindling_app_factory({"acme": acme_kindling}, config=config)
    declare_pipeline(app)
    runner = ScriptedRunner({"gold.revenue": fail(QUOTA, times=2)})  # fails twice, then works
    result = app.run(runner=runner)  # no Spark: the runner only records what would run
    assert result.succeeded
    assert result.outcome("gold.revenue").attempts == 3
    assert [attempt for pipe, attempt in runner.calls if pipe == "gold.revenue"] == [1, 2, 3]


def test_without_the_plugin_the_same_error_is_retried_once_only(kindling_app_factory) -> None:
    # unknown to every classifier: one retry (tool.kindling.recovery.unknown-max-attempts), not two
    app = kindling_app_factory(config={"execution": {"max-retries": 2, "retry-backoff-seconds": 0}})
    declare_pipeline(app)
    result = app.run(runner=ScriptedRunner({"gold.revenue": fail(QUOTA, times=2)}), on_failure="continue")
    outcome = result.outcome("gold.revenue")
    assert (outcome.status.value, outcome.attempts) == ("failed", 2)
    assert outcome.classification.kind is FailureKind.UNKNOWN


def test_a_misspelt_setting_is_named_with_its_key_path() -> None:
    with pytest.raises(SettingsError) as caught:
        make_app({"acme": acme_kindling}, config={"settings": {"acme": {"critical-tga": "x"}}})
    assert "tool.kindling.settings.acme.critical-tga" in str(caught.value)
    assert "Did you mean 'critical-tag'?" in str(caught.value)


def test_registered_through_its_entry_point() -> None:
    # What `pip install acme-kindling` gives: an entry point named "acme" in group "kindling".
    shipped = FakeEntryPoint("acme", acme_kindling, distribution="acme-kindling", version="1.0.0")
    app = make_app([shipped])
    record = app.registry.plugin("acme")
    assert record.status.value == "active" and record.label == "acme (acme-kindling 1.0.0)"
    assert dict(record.provides) == {
        "execution-strategies": ("critical-first",),
        "failure-classifiers": ("acme-quota",),
    }
