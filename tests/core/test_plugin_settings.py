"""A plugin's declared settings: the core validates [tool.kindling.settings.<id>] and names keys.

Through the public API: fake plugins with ``plugin_from`` / ``FakeEntryPoint``, apps and
registries from ``kindling_core.testing``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from kindling_core import ErrorHandler, ExecutionStrategy
from kindling_core.errors import ConfigError, SettingsError, UnknownNameError
from kindling_core.plugin import Classification, FailureContext, FailureKind, RecoveryActionKind, RecoveryContext, Setting
from kindling_core.plugins import PluginStatus, load_plugins
from kindling_core.testing import FakeEntryPoint, make_app, make_config, make_registry, plugin_from

SCHEMA = [
    Setting("hot-tag", str, default="hot", description="tag of entities to cache"),
    Setting("min-rows", int, default=0, min=0, max=1000, description="skip smaller entities"),
    Setting("ratio", float, default=0.5, min=0, max=1, description="share of memory"),
    Setting("mode", str, default="fast", choices=["fast", "safe"], description="how hard to try"),
    Setting("tags", list, description="extra tags"),
    Setting("labels", dict, description="extra labels"),
    Setting("enabled", bool, default=True, description="switch"),
]


def acme(seen: dict[str, Any] | None = None, schema: list[Setting] | None = None, **hooks: Any) -> Any:
    """A plugin declaring ``schema`` that records the settings each of its hooks receives."""
    seen = {} if seen is None else seen

    def handlers(settings: Mapping[str, Any]) -> list[ErrorHandler]:
        seen["kindling_error_handlers"] = settings
        return [ErrorHandler(name="acme-pager", description="page someone", handle=lambda event: None)]

    def configure(settings: Mapping[str, Any]) -> None:
        seen["kindling_configure"] = settings

    return plugin_from(
        kindling_settings_schema=lambda: SCHEMA if schema is None else schema,
        kindling_error_handlers=handlers,
        kindling_configure=configure,
        **hooks,
    )


def entry_point(plugin: Any) -> FakeEntryPoint:
    return FakeEntryPoint("acme", plugin, distribution="acme-kindling", version="1.2.0")


def settings_config(table: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"settings": {"acme": table}, **extra}


def test_every_hook_of_the_plugin_receives_the_validated_settings_with_defaults() -> None:
    seen: dict[str, Any] = {}
    app = make_app([entry_point(acme(seen))], config=settings_config({"min-rows": 10, "ratio": 1, "tags": ["a"]}))
    expected = {
        "hot-tag": "hot",
        "min-rows": 10,
        "ratio": 1.0,
        "mode": "fast",
        "tags": ("a",),
        "enabled": True,
    }
    assert dict(seen["kindling_error_handlers"]) == expected
    assert seen["kindling_configure"] is seen["kindling_error_handlers"]
    assert isinstance(seen["kindling_error_handlers"]["ratio"], float)  # an integer became a float
    assert dict(app.registry.settings_for("acme")) == expected
    with pytest.raises(TypeError):
        seen["kindling_configure"]["mode"] = "safe"  # type: ignore[index]


def test_a_strategy_plans_with_its_plugins_validated_settings() -> None:
    received: list[Mapping[str, Any]] = []

    def plan(request: Any) -> list[list[str]]:
        received.append(request.settings)
        return [[pipe] for pipe in request.topological_order()]

    plugin = plugin_from(
        kindling_settings_schema=lambda: [Setting("width", int, default=2, min=1, description="pipes at once")],
        kindling_execution_strategies=lambda: [ExecutionStrategy(name="acme-fast", description="d", plan=plan)],
    )
    app = make_app([entry_point(plugin)], config={"strategy": "acme-fast"})
    app.entity("raw.a", path="/tmp/raw/a")
    app.entity("out.a", path="/tmp/out/a")
    app.pipe("p.a", inputs=["raw.a"], output="out.a")(lambda frame: frame)
    app.plan()
    assert [dict(settings) for settings in received] == [{"width": 2}]


def test_a_plugin_without_a_schema_keeps_its_table_as_written() -> None:
    seen: dict[str, Any] = {}

    def handlers(settings: Mapping[str, Any]) -> list[ErrorHandler]:
        seen.update(settings)
        return []

    registry = make_registry([entry_point(plugin_from(kindling_error_handlers=handlers))], config=settings_config({"anything": [1]}))
    assert seen == {"anything": [1]}
    assert registry.plugin("acme").settings_schema is None


ACME = "tool.kindling.settings.acme"


@pytest.mark.parametrize("strict", [False, True])
@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        (
            "hot-tga",
            "x",
            "is not a setting of plugin acme (acme-kindling 1.2.0). Did you mean 'hot-tag'? Known keys of "
            f"[{ACME}]: hot-tag, min-rows, ratio, mode, tags, labels, enabled.",
        ),
        ("min-rows", "5", "must be an integer >= 0 and <= 1000, got '5'"),
        ("min-rows", True, "must be an integer >= 0 and <= 1000, got True"),
        ("min-rows", 1001, "must be an integer >= 0 and <= 1000, got 1001"),
        ("ratio", float("nan"), "must be a number >= 0 and <= 1, got nan"),
        ("mode", "fsat", "must be one of 'fast', 'safe', got 'fsat'. Did you mean 'fast'?"),
        ("tags", "a", "must be an array, got 'a'"),
        ("labels", 3, "must be a table, got 3"),
        ("enabled", "yes", "must be a boolean, got 'yes'"),
    ],
)
def test_a_bad_value_is_a_config_error_naming_the_exact_key_in_lenient_and_strict_mode(
    key: str, value: Any, said: str, strict: bool
) -> None:
    config = settings_config({key: value}, plugins={"strict": strict})
    with pytest.raises(SettingsError) as info:
        make_app([entry_point(acme())], config=config)
    assert str(info.value).splitlines()[0] == f"{ACME}.{key} {said}"
    assert info.value.path == f"{ACME}.{key}" and info.value.plugin == "acme"
    assert isinstance(info.value, ConfigError) and isinstance(info.value, ValueError)


def test_a_missing_required_setting_names_its_key_and_what_it_is_for() -> None:
    schema = [Setting("url", str, required=True, description="where alerts go")]
    with pytest.raises(SettingsError) as info:
        make_registry([entry_point(acme(schema=schema))])
    assert str(info.value).splitlines()[0] == (
        "tool.kindling.settings.acme.url is required by plugin acme (acme-kindling 1.2.0): where alerts go"
    )
    assert "add url = <a string> under [tool.kindling.settings.acme]" in str(info.value)


def test_tools_that_report_problems_list_the_plugin_as_failed_with_the_key_path() -> None:
    config = make_config(settings_config({"hot-tga": "x"}))
    registry = load_plugins(config, entry_points=[entry_point(acme())], raise_config_errors=False).registry
    record = registry.plugin("acme")
    assert record.status is PluginStatus.FAILED
    assert record.error.splitlines()[0] == (
        "plugin acme (acme-kindling 1.2.0) has invalid settings: tool.kindling.settings.acme.hot-tga is not a "
        "setting of plugin acme (acme-kindling 1.2.0). Did you mean 'hot-tag'? Known keys of "
        "[tool.kindling.settings.acme]: hot-tag, min-rows, ratio, mode, tags, labels, enabled."
    )
    assert [p.plugin for p in registry.problems] == ["acme"]
    assert "acme-pager" not in registry.family("error-handlers").names()


def test_an_empty_schema_declares_no_settings() -> None:
    with pytest.raises(SettingsError) as info:
        make_registry([entry_point(acme(schema=[]))], config=settings_config({"x": 1}))
    assert f"{ACME}.x is not a setting" in str(info.value) and f"Known keys of [{ACME}]: (none)." in str(info.value)


@pytest.mark.parametrize(
    ("schema_hook", "message"),
    [
        (
            lambda: Setting("x", int, description="d"),
            "plugin acme (acme-kindling 1.2.0) failed in kindling_settings_schema: it returned a single Setting ('x') "
            "instead of an iterable; return a list of Setting items, e.g. [Setting(...)]",
        ),
        (
            lambda: [Setting("x", int, description="d"), Setting("x", str, description="d")],
            "plugin acme (acme-kindling 1.2.0) failed in kindling_settings_schema: it returned two settings named 'x'",
        ),
        (
            lambda: [Setting("x", int, default="3", description="d")],
            "plugin acme (acme-kindling 1.2.0) failed in kindling_settings_schema: it raised ItemError: "
            "Setting 'x': its default '3' is not an integer",
        ),
        (
            lambda: [Setting("x", int, min="0", description="d")],
            "plugin acme (acme-kindling 1.2.0) failed in kindling_settings_schema: it raised ItemError: "
            "Setting 'x': min applies to int and float settings only and must be a number, got '0'",
        ),
        (
            lambda: [Setting("x", set, description="d")],
            "plugin acme (acme-kindling 1.2.0) failed in kindling_settings_schema: it raised ItemTypeError: "
            "Setting 'x': type must be one of bool, int, float, str, list, dict, got set",
        ),
        (
            lambda: [Setting("x", str, required=True, default="a", description="d")],
            "plugin acme (acme-kindling 1.2.0) failed in kindling_settings_schema: it raised ItemError: "
            "Setting 'x': a required setting has no default (got default='a')",
        ),
    ],
)
def test_a_broken_schema_fails_its_plugin_only(schema_hook: Any, message: str) -> None:
    plugin = plugin_from(kindling_settings_schema=schema_hook, kindling_error_handlers=lambda: [])
    registry = make_registry([entry_point(plugin)])
    record = registry.plugin("acme")
    assert record.status is PluginStatus.FAILED
    assert record.error.splitlines()[0] == message
    assert registry.plugin("recovery").status is PluginStatus.ACTIVE


def test_settings_for_a_plugin_that_is_not_installed_is_an_error_with_did_you_mean() -> None:
    with pytest.raises(UnknownNameError) as info:
        make_app([entry_point(acme())], config={"settings": {"amce": {"hot-tag": "x"}}})
    message = str(info.value)
    assert message.splitlines()[0] == (
        "unknown plugin 'amce' at tool.kindling.settings.amce. Did you mean 'acme'? "
        "Available: acme, cache, classifiers, detectors, error-handlers, recovery, strategies."
    )
    assert info.value.path == "tool.kindling.settings.amce"


def test_settings_of_a_disabled_or_failed_plugin_are_fine() -> None:
    def broken() -> None:
        raise ImportError("libacme.so not found")

    config = settings_config({"anything": 1}, plugins={"disable": ["acme"]})
    assert make_registry([entry_point(acme())], config=config).plugin("acme").status is PluginStatus.DISABLED
    failing = FakeEntryPoint("acme", broken, distribution="acme-kindling", version="1.2.0", call=True)
    assert make_registry([failing], config=settings_config({"anything": 1})).plugin("acme").status is PluginStatus.FAILED


def test_a_table_named_after_the_distribution_configures_the_plugin() -> None:
    seen: dict[str, Any] = {}
    make_registry([entry_point(acme(seen))], config={"settings": {"acme-kindling": {"mode": "safe"}}})
    assert seen["kindling_error_handlers"]["mode"] == "safe"
    with pytest.raises(SettingsError, match=r"^tool\.kindling\.settings\.acme-kindling\.mode must be one of"):
        make_registry([entry_point(acme())], config={"settings": {"acme-kindling": {"mode": "slow"}}})
    with pytest.raises(ConfigError) as info:
        make_registry([entry_point(acme())], config={"settings": {"acme": {}, "acme-kindling": {}}})
    assert f"plugin 'acme' is configured twice: [{ACME}] and [{ACME}-kindling]" in str(info.value)


def test_the_builtin_recovery_plugin_declares_its_alert_only_setting() -> None:
    registry = make_registry(config={"settings": {"recovery": {"alert-only": ["p"]}}})
    assert dict(registry.settings_for("recovery")) == {"alert-only": ("p",)}
    alert_only = registry.family("recovery-strategies").get("alert-only")
    failure = FailureContext.of(ConnectionError("reset"), source="pipe", subject="p", attempt=1)
    action = alert_only.decide(RecoveryContext(failure, Classification(FailureKind.TRANSIENT, "reset")))
    assert action.kind is RecoveryActionKind.ALERT_ONLY  # the configured name took effect
    with pytest.raises(SettingsError) as info:
        make_registry(config={"settings": {"recovery": {"alert-onyl": ["p"]}}})
    assert str(info.value).startswith("tool.kindling.settings.recovery.alert-onyl is not a setting")
    assert "Did you mean 'alert-only'" in str(info.value)
    with pytest.raises(SettingsError) as info:  # the backoff moved to [tool.kindling.recovery]
        make_registry(config={"settings": {"recovery": {"backoff-seconds": 3}}})
    assert str(info.value).startswith("tool.kindling.settings.recovery.backoff-seconds is not a setting")
