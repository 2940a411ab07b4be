"""User-facing failures are KindlingError subclasses that name the culprit and the remedy,
and stay instances of the builtin error they replaced (``except ValueError`` keeps working)."""

from __future__ import annotations

import pytest

from kindling_core import ErrorHandler, FailureClassifier, KindlingError
from kindling_core.errors import (
    ItemError,
    ItemTypeError,
    PluginValidationError,
    SignalArgumentError,
    SignalArgumentTypeError,
    SignalError,
)
from kindling_core.plugins import PluginStatus
from kindling_core.signals import AsyncDeliveryDropped, ReceiverFailure, SignalBus, SignalSpec
from kindling_core.spark.errors import SparkSettingsError, SparkSetupError
from kindling_core.spark.session import SparkSettings
from kindling_core.testing import make_registry, plugin_from

# ------------------------------------------------------------------------------ items


def test_invalid_item_name_names_the_value_and_suggests_a_fix() -> None:
    with pytest.raises(ItemError) as info:
        ErrorHandler(name="Pager Duty", description="page someone", handle=print)
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, PluginValidationError)
    assert "invalid ErrorHandler name 'Pager Duty'" in str(error)
    assert error.value == "Pager Duty"
    assert error.remedy == "rename it to 'pager-duty'"


def test_empty_item_description_names_the_field() -> None:
    with pytest.raises(ItemError) as info:
        ErrorHandler(name="pager", description="  ", handle=print)
    assert info.value.culprit == "ErrorHandler.description"
    assert "ErrorHandler.description must be a non-empty string, got '  '" in str(info.value)
    assert "kindling plugins list --verbose" in str(info.value)


def test_item_callable_of_wrong_type_is_an_item_type_error() -> None:
    with pytest.raises(ItemTypeError) as info:
        FailureClassifier(name="mine", description="my rules", classify="classify")  # type: ignore[arg-type]
    error = info.value
    assert isinstance(error, TypeError) and isinstance(error, ItemError) and isinstance(error, KindlingError)
    assert error.culprit == "FailureClassifier.classify"
    assert "must be callable, got str" in str(error)
    assert "pass the function itself as classify=" in str(error)


def test_invalid_item_in_a_hook_fails_that_plugin_with_the_item_remedy() -> None:
    bad = plugin_from(kindling_error_handlers=lambda: [ErrorHandler(name="pager", description="", handle=print)])
    registry = make_registry({"acme": bad})
    record = registry.plugin("acme")
    assert record.status is PluginStatus.FAILED
    assert record.error is not None
    assert "acme (inline)" in record.error
    assert "raised ItemError: ErrorHandler.description must be a non-empty string" in record.error
    assert "remedy: give description= one line" in record.error


# ---------------------------------------------------------------------------- signals


def test_bus_rejects_none_as_default_sender() -> None:
    with pytest.raises(SignalArgumentError) as info:
        SignalBus(default_sender=None)
    assert isinstance(info.value, ValueError)
    assert info.value.culprit == "default_sender"
    assert "leave default_sender out" in str(info.value)


@pytest.mark.parametrize("argument", ["async_workers", "async_queue_size"])
@pytest.mark.parametrize("value", [0, -3, "4"])
def test_bus_pool_bounds_name_their_toml_key(argument: str, value: object) -> None:
    with pytest.raises(SignalArgumentError) as info:
        SignalBus(**{argument: value})  # type: ignore[arg-type]
    key = argument.replace("_", "-")
    assert f"{argument} must be an integer of at least 1, got {value!r}" in str(info.value)
    assert f"tool.kindling.signals.{key}" in str(info.value)


def test_connect_rejects_a_receiver_that_is_not_callable() -> None:
    bus = SignalBus()
    bus.declare("acme.sync_failed")
    with pytest.raises(SignalArgumentTypeError) as info:
        bus.connect("acme.sync_failed", "not a function")  # type: ignore[call-overload]
    assert isinstance(info.value, TypeError) and isinstance(info.value, SignalError)
    assert "receiver for signal 'acme.sync_failed' must be callable" in str(info.value)


def test_connect_with_sender_none_names_the_signal_and_any() -> None:
    bus = SignalBus()
    bus.declare("acme.sync_failed")
    with pytest.raises(SignalArgumentError) as info:
        bus.connect("acme.sync_failed", print, sender=None)
    assert info.value.culprit == "acme.sync_failed"
    assert "sender=ANY" in str(info.value)


def test_declare_and_emit_reject_arguments_of_the_wrong_kind() -> None:
    bus = SignalBus()
    spec = SignalSpec("acme.sync_failed")
    with pytest.raises(SignalArgumentTypeError, match="already carries its doc and emitter") as info:
        bus.declare(spec, doc="again")
    assert info.value.culprit == "acme.sync_failed"
    with pytest.raises(SignalArgumentTypeError, match="takes a SignalSpec or a signal name, not int"):
        bus.declare(42)  # type: ignore[arg-type]
    with pytest.raises(SignalArgumentTypeError, match="must be a SignalSpec or a name, not float 1.5"):
        bus.emit(1.5)  # type: ignore[arg-type]
    with pytest.raises(SignalArgumentTypeError, match="must be a SignalSpec or a name, not int"):
        bus.connect(7, print)  # type: ignore[call-overload]


def test_dropped_async_delivery_is_a_signal_error_naming_the_signal() -> None:
    failures: list[ReceiverFailure] = []
    bus = SignalBus(on_receiver_error=failures.append)
    bus.declare("acme.sync_failed")
    bus.connect("acme.sync_failed", lambda sender, **kw: None, async_=True)
    bus.close()
    bus.emit("acme.sync_failed", table="t")
    [failure] = failures
    error = failure.error
    assert isinstance(error, AsyncDeliveryDropped) and isinstance(error, SignalError) and isinstance(error, RuntimeError)
    assert error.culprit == "acme.sync_failed"
    assert "emit before app.close()" in str(error)


# ------------------------------------------------------------------------------ spark


@pytest.mark.parametrize("value", [0, -1, 2.5])
def test_spark_settings_reject_a_bad_shuffle_partition_count(value: object) -> None:
    with pytest.raises(SparkSettingsError) as info:
        SparkSettings(shuffle_partitions=value)  # type: ignore[arg-type]
    error = info.value
    assert isinstance(error, ValueError) and isinstance(error, SparkSetupError)
    assert error.setting == "shuffle_partitions"
    assert f"got {value!r}" in str(error) and "[tool.kindling.spark] shuffle-partitions" in str(error)


# ------------------------------------------------------------------------------ results and plans


def test_an_outcome_of_an_unplanned_pipe_names_it_and_the_planned_ones() -> None:
    from kindling_core.execution.errors import UnknownOutcomeError
    from kindling_core.testing import ScriptedRunner, make_app

    app = make_app()
    app.entity("raw.a", path="lake/raw/a")
    app.entity("silver.a", path="lake/silver/a")
    app.pipe("silver.a", inputs=["raw.a"], output="silver.a")(lambda a: a)
    result = app.run(runner=ScriptedRunner())
    with pytest.raises(KeyError) as info:  # still a KeyError for existing callers
        result.outcome("silver.b")
    error = info.value
    assert isinstance(error, UnknownOutcomeError) and isinstance(error, KindlingError)
    assert "'silver.b'" in str(error) and "Did you mean 'silver.a'?" in str(error)
    assert error.remedy


def test_a_hand_made_plan_says_it_has_no_graph_and_how_to_get_one() -> None:
    from kindling_core.planning import ExecutionPlan
    from kindling_core.planning.errors import PlanWithoutGraphError

    plan = ExecutionPlan(strategy="batch", generations=(("a.x",),), modes={}, cache_recommendations=(), fingerprint="f")
    with pytest.raises(ValueError) as info:
        plan.explain("a.x")
    assert isinstance(info.value, PlanWithoutGraphError)
    assert "app.plan" in str(info.value)
