"""One policy for a plugin item that fails while the core uses it: report, attribute, go on.

Failure classifiers are covered with the executor (tests/execution/test_executor_logic.py);
here: cache heuristics during planning, and the policy function itself.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest

from kindling_core import CacheHeuristic, CacheRecommendation, FailureClassifier
from kindling_core.errorhandling import SKIPPED, call_plugin_item
from kindling_core.errors import PluginItemError
from kindling_core.testing import FakeEntryPoint, RecordingErrorHandler, make_app, make_registry, plugin_from

LABEL = "acme (acme-kindling 1.2.0)"


def acme_plugin(**hooks: Any) -> FakeEntryPoint:
    return FakeEntryPoint("acme", plugin_from(**hooks), distribution="acme-kindling", version="1.2.0")


def good(context: Any) -> list[CacheRecommendation]:
    return [CacheRecommendation("silver.orders", "MEMORY_ONLY", "read twice")]


def app_with(recommend: Any) -> tuple[Any, RecordingErrorHandler]:
    heuristics = [
        CacheHeuristic(name="acme-hot", description="cache what is hot", recommend=recommend),
        CacheHeuristic(name="acme-good", description="cache silver.orders", recommend=good),
    ]
    plugin = acme_plugin(kindling_cache_heuristics=lambda: heuristics)
    recorder = RecordingErrorHandler()
    app = make_app([plugin, FakeEntryPoint("rec", recorder)], config={"cache": {"order": ["acme-hot", "acme-good", "..."]}})
    app.entity("raw.orders", path="/tmp/raw/orders")
    app.entity("silver.orders", path="/tmp/silver/orders")
    app.entity("gold.a", path="/tmp/gold/a")
    app.pipe("silver.orders", inputs=["raw.orders"], output="silver.orders")(lambda frame: frame)
    app.pipe("gold.a", inputs=["silver.orders"], output="gold.a")(lambda frame: frame)
    return app, recorder


def raises(context: Any) -> None:
    raise LookupError("no hot tag")


def half_way(context: Any):
    yield CacheRecommendation("gold.a", "MEMORY_ONLY", "hot")
    raise LookupError("no hot tag")


@pytest.mark.parametrize(
    ("recommend", "problem"),
    [
        (raises, "raised LookupError: no hot tag"),
        (half_way, "raised LookupError: no hot tag"),
        (
            lambda context: CacheRecommendation("gold.a", "MEMORY_ONLY", "hot"),
            "returned a single CacheRecommendation for 'gold.a' instead of an iterable; return [recommendation]",
        ),
        (lambda context: "gold.a", "returned str 'gold.a', not an iterable of CacheRecommendation"),
        (lambda context: ["gold.a"], "returned str 'gold.a' among its recommendations, not a CacheRecommendation"),
    ],
)
def test_a_broken_cache_heuristic_is_reported_and_the_rest_still_advise(recommend: Any, problem: str) -> None:
    app, recorder = app_with(recommend)
    plan = app.plan()
    assert [(r.entity, r.heuristic) for r in plan.cache_recommendations] == [("silver.orders", "acme-good")]
    [event] = recorder.events
    assert isinstance(event.error, PluginItemError)
    assert str(event.error).splitlines()[0] == (
        f"cache heuristic 'acme-hot' of plugin {LABEL} {problem} while recommending what to cache for a 'batch' "
        "plan; it was skipped and the rest of the cache-heuristics went on"
    )
    assert (event.source, event.subject, event.context["plugin"], event.context["version"]) == (
        "plugin-item",
        "acme-hot",
        "acme",
        "1.2.0",
    )
    assert "[tool.kindling.cache] disable = ['acme-hot']" in str(event.error)


def test_without_error_handlers_the_failure_is_logged_attributed(caplog: pytest.LogCaptureFixture) -> None:
    classifier = FailureClassifier(name="acme-quota", description="d", classify=raises)
    registry = make_registry([acme_plugin(kindling_failure_classifiers=lambda: [classifier])])
    [entry] = [e for e in registry.family("failure-classifiers").attributed() if e.item.name == "acme-quota"]
    with caplog.at_level(logging.ERROR, logger="kindling.errors"):
        answer = call_plugin_item(None, entry, entry.item.classify, None, during="testing")
    assert answer is SKIPPED
    [record] = caplog.records
    assert record.getMessage().startswith(f"failure classifier 'acme-quota' of plugin {LABEL} raised LookupError")


def test_interrupts_are_never_swallowed() -> None:
    def interrupted(context: Any) -> None:
        raise KeyboardInterrupt

    item = FailureClassifier(name="acme-quota", description="d", classify=interrupted)
    with pytest.raises(KeyboardInterrupt):
        call_plugin_item(None, item, item.classify, None, during="testing")
