"""Loading and selecting plugins: discovery, enable/disable, failures, conflicts, order."""

from __future__ import annotations

import logging

import pytest

from kindling_core import ErrorHandler, FailureClassifier, hookimpl
from kindling_core.errors import (
    PluginConflictError,
    PluginImportError,
    PluginRequirementError,
    PluginValidationError,
    UnknownNameError,
)
from kindling_core.plugins import PluginStatus, load_plugins
from kindling_core.testing import FakeEntryPoint, builtin_entry_points, make_config, make_registry, plugin_from


def handlers(*names: str):
    return plugin_from(
        kindling_error_handlers=lambda: [ErrorHandler(name=n, description=f"handler {n}", handle=lambda e: None) for n in names]
    )


def classifiers(*names: str):
    return plugin_from(
        kindling_failure_classifiers=lambda: [
            FailureClassifier(name=n, description=f"classifier {n}", classify=lambda c: None) for n in names
        ]
    )


def boom() -> None:
    raise RuntimeError("cannot import: missing libfoo")


def test_builtins_are_discovered_through_entry_points() -> None:
    ids = {ep.name for ep in builtin_entry_points()}
    assert {"strategies", "classifiers", "recovery", "detectors", "error-handlers", "cache"} <= ids
    registry = make_registry()
    assert registry.family("error-handlers").names() == ("log", "signal")
    assert registry.family("failure-classifiers").names()[-1] == "generic"
    assert all(r.builtin and r.distribution == "kindling-core" for r in registry.plugins)


def test_every_item_is_attributed_to_its_plugin() -> None:
    registry = make_registry([FakeEntryPoint("acme", handlers("pager"), distribution="acme-kindling", version="2.1")])
    view = registry.family("error-handlers")
    assert view.origin("pager") == "acme"
    assert view.origin("log") == "error-handlers"
    record = registry.plugin("acme")
    assert record.status is PluginStatus.ACTIVE
    assert record.provides["error-handlers"] == ("pager",)
    assert record.to_json()["distribution"] == "acme-kindling"


def test_plugin_whose_import_raises_is_named_and_others_still_load() -> None:
    registry = make_registry(
        [
            FakeEntryPoint("broken", boom, distribution="broken-dist", version="0.3.1", call=True),
            FakeEntryPoint("fine", handlers("fine-handler")),
        ]
    )
    broken = registry.plugin("broken")
    assert broken.status is PluginStatus.FAILED
    assert "broken (broken-dist 0.3.1)" in broken.error
    assert "missing libfoo" in broken.error
    assert registry.plugin("fine").status is PluginStatus.ACTIVE
    assert "fine-handler" in registry.family("error-handlers").names()
    assert isinstance(registry.problems[0], PluginImportError)


def test_plugin_import_failure_is_fatal_in_strict_mode() -> None:
    with pytest.raises(PluginImportError, match=r"broken \(broken-dist 0\.3\.1\).*missing libfoo") as info:
        make_registry(
            [FakeEntryPoint("broken", boom, distribution="broken-dist", version="0.3.1", call=True)],
            config={"plugins": {"strict": True}},
        )
    assert isinstance(info.value.__cause__, RuntimeError)
    assert info.value.distribution == "broken-dist"


def test_disabled_plugins_are_never_imported() -> None:
    def must_not_load():
        raise AssertionError("a disabled plugin was imported")

    registry = make_registry(
        [FakeEntryPoint("lazy", must_not_load, call=True, distribution="lazy-dist")],
        config={"plugins": {"disable": ["lazy"]}},
    )
    record = registry.plugin("lazy")
    assert record.status is PluginStatus.DISABLED
    assert "tool.kindling.plugins.disable[0]" in record.reason


def test_distribution_name_is_an_alias_for_disable() -> None:
    registry = make_registry(
        [FakeEntryPoint("acme", handlers("pager"), distribution="Acme_Kindling")],
        config={"plugins": {"disable": ["acme-kindling"]}},
    )
    assert registry.plugin("acme").status is PluginStatus.DISABLED


def test_env_disable_and_autoload_off(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from kindling_core.config import load_config

    (tmp_path / "pyproject.toml").write_text("[tool.kindling]\n")
    points = builtin_entry_points() + [
        FakeEntryPoint("one", handlers("h1")),
        FakeEntryPoint("two", handlers("h2"), distribution="two-dist"),
    ]
    env = {"KINDLING_DISABLE_PLUGINS": "one"}
    registry = load_plugins(load_config(start=tmp_path, environ=env), entry_points=points).registry
    assert registry.plugin("one").status is PluginStatus.DISABLED
    assert "env KINDLING_DISABLE_PLUGINS" in registry.plugin("one").reason
    env = {"KINDLING_DISABLE_PLUGIN_AUTOLOAD": "1"}
    registry = load_plugins(load_config(start=tmp_path, environ=env), entry_points=points).registry
    assert registry.plugin("two").status is PluginStatus.DISABLED
    assert registry.plugin("error-handlers").status is PluginStatus.ACTIVE  # built-ins still load
    config = make_config({"plugins": {"autoload": False, "enable": ["two"]}})
    registry = load_plugins(config, entry_points=points).registry
    assert registry.plugin("two").status is PluginStatus.ACTIVE
    assert registry.plugin("one").status is PluginStatus.DISABLED


@pytest.mark.parametrize("key", ["enable", "disable"])
def test_unknown_plugin_name_in_enable_or_disable(key: str) -> None:
    with pytest.raises(UnknownNameError) as info:
        make_registry(config={"plugins": {key: ["strategys"]}})
    message = str(info.value)
    assert f"tool.kindling.plugins.{key}[0]" in message
    assert "Did you mean 'strategies'?" in message
    assert "error-handlers" in message and "kindling-core" in message  # the list of available names


def test_hookimpl_for_a_hook_that_does_not_exist() -> None:
    class Typo:
        @hookimpl
        def kindling_error_handler(self):  # missing "s"
            return []

    registry = make_registry({"typo": Typo()})
    record = registry.plugin("typo")
    assert record.status is PluginStatus.FAILED
    assert "'kindling_error_handler', which is not a kindling hook" in record.error
    assert "Did you mean 'kindling_error_handlers'" in record.error
    with pytest.raises(PluginValidationError, match="typo"):
        make_registry({"typo": Typo()}, config={"plugins": {"strict": True}})


def test_hookimpl_with_unknown_argument() -> None:
    class BadArgs:
        @hookimpl
        def kindling_error_handlers(self, colour):
            return []

    record = make_registry({"bad-args": BadArgs()}).plugin("bad-args")
    assert record.status is PluginStatus.FAILED
    assert "colour" in record.error


def test_item_with_invalid_name_fails_its_plugin() -> None:
    bad = plugin_from(kindling_error_handlers=lambda: [ErrorHandler(name="Pager Duty", description="x", handle=print)])
    record = make_registry({"bad-names": bad}).plugin("bad-names")
    assert record.status is PluginStatus.FAILED
    assert "invalid ErrorHandler name 'Pager Duty'" in record.error
    assert "'pager-duty'" in record.error  # a suggestion
    assert "bad-names (inline)" in record.error


def test_item_of_wrong_type_fails_its_plugin() -> None:
    bad = plugin_from(kindling_error_handlers=lambda: ["log-it"])
    record = make_registry({"wrong-type": bad}).plugin("wrong-type")
    assert record.status is PluginStatus.FAILED
    assert "expected ErrorHandler items" in record.error


def test_two_distributions_claiming_one_id() -> None:
    points = [
        FakeEntryPoint("webhook", handlers("a"), distribution="acme-webhook", version="1.0"),
        FakeEntryPoint("webhook", handlers("b"), distribution="other-webhook", version="2.0"),
    ]
    registry = make_registry(points)
    records = [r for r in registry.plugins if r.id == "webhook"]
    assert len(records) == 2 and all(r.status is PluginStatus.FAILED for r in records)
    problem = registry.problems[0]
    assert isinstance(problem, PluginConflictError)
    assert "acme-webhook 1.0" in str(problem) and "other-webhook 2.0" in str(problem)
    with pytest.raises(PluginConflictError, match="claimed by 2 distributions"):
        make_registry(points, config={"plugins": {"strict": True}})


def test_two_plugins_with_one_item_name() -> None:
    points = [
        FakeEntryPoint("first", handlers("pager"), distribution="first-dist"),
        FakeEntryPoint("second", handlers("pager"), distribution="second-dist"),
    ]
    registry = make_registry(points)
    assert all(registry.plugin(p).status is PluginStatus.FAILED for p in ("first", "second"))
    message = str(registry.problems[0])
    assert "error handler named 'pager'" in message and "first (first-dist" in message and "second (second-dist" in message
    with pytest.raises(PluginConflictError):
        make_registry(points, config={"plugins": {"strict": True}})


def test_shadowing_a_builtin_item_fails_the_third_party_plugin_only() -> None:
    registry = make_registry([FakeEntryPoint("shadow", handlers("log"))])
    assert registry.plugin("shadow").status is PluginStatus.FAILED
    assert registry.family("error-handlers").origin("log") == "error-handlers"


def test_order_with_rest_marker_and_generic_pinned_last() -> None:
    points = [FakeEntryPoint("acme", classifiers("acme-a", "acme-b"))]
    registry = make_registry(points, config={"failure-classifiers": {"order": ["generic", "spark-errors", "..."]}})
    assert registry.family("failure-classifiers").names() == ("spark-errors", "acme-a", "acme-b", "generic")
    registry = make_registry(points, config={"failure-classifiers": {"order": ["acme-b"], "disable": ["acme-a"]}})
    assert registry.family("failure-classifiers").names() == ("acme-b", "spark-errors", "generic")


def test_default_order_puts_third_party_before_builtins_regardless_of_discovery_order() -> None:
    a = FakeEntryPoint("zeta", classifiers("zeta-rule"))
    b = FakeEntryPoint("alpha", classifiers("alpha-rule"))
    for points in ([a, b], [b, a]):
        names = make_registry(points).family("failure-classifiers").names()
        assert names == ("alpha-rule", "zeta-rule", "spark-errors", "generic")


@pytest.mark.parametrize(
    ("config", "path", "hint"),
    [
        ({"failure-classifiers": {"order": ["sprak-errors"]}}, "tool.kindling.failure-classifiers.order[0]", "spark-errors"),
        ({"error-handlers": {"disable": ["logg"]}}, "tool.kindling.error-handlers.disable[0]", "log"),
        ({"strategy": "bacth"}, "tool.kindling.strategy", "batch"),
        ({"change-detectors": {"default": "version-pol"}}, "tool.kindling.change-detectors.default", "version-poll"),
    ],
)
def test_unknown_item_names_in_configuration(config: dict, path: str, hint: str) -> None:
    with pytest.raises(UnknownNameError) as info:
        make_registry(config=config)
    message = str(info.value)
    assert path in message
    assert f"Did you mean '{hint}'" in message
    assert "Available:" in message


def test_require_missing_and_too_old() -> None:
    points = [FakeEntryPoint("acme", handlers("pager"), distribution="acme-kindling", version="1.2.0")]
    with pytest.raises(PluginRequirementError) as info:
        load_plugins(make_config({"plugins": {"require": ["pagerr"]}}), entry_points=points)
    assert "'pagerr'" in str(info.value) and "not installed" in str(info.value)
    assert "tool.kindling.plugins.require[0]" in str(info.value)
    with pytest.raises(PluginRequirementError) as info:
        load_plugins(make_config({"plugins": {"require": ["acme>=2.0"]}}), entry_points=points)
    assert "acme (acme-kindling 1.2.0)" in str(info.value) and ">=2.0" in str(info.value)
    ok = load_plugins(make_config({"plugins": {"require": ["acme-kindling>=1.0"]}}), entry_points=points)
    assert ok.registry.plugin("acme").status is PluginStatus.ACTIVE
    with pytest.raises(PluginRequirementError, match="is disabled"):
        load_plugins(make_config({"plugins": {"require": ["acme"], "disable": ["acme"]}}), entry_points=points)


def test_registration_hook_receives_its_own_settings() -> None:
    seen = {}

    def register(settings, config):
        seen["settings"] = dict(settings)
        seen["strategy"] = config.strategy
        return []

    make_registry({"configurable": plugin_from(kindling_error_handlers=register)}, config={"settings": {"configurable": {"level": 3}}})
    assert seen == {"settings": {"level": 3}, "strategy": "batch"}


def test_registry_is_immutable() -> None:
    registry = make_registry()
    with pytest.raises(AttributeError):
        registry.plugins = ()  # type: ignore[misc]
    with pytest.raises(TypeError):
        registry.families["x"] = None  # type: ignore[index]


def test_failing_plugin_does_not_log_to_root_on_load(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        make_registry([FakeEntryPoint("broken", boom, call=True)])
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
