"""SignalBus behaviour: declarations, payload checks, connections, error isolation."""

from __future__ import annotations

import dataclasses
import gc
import logging
import threading
import warnings
from typing import Any

import attrs
import pytest

from kindling_core.errors import (
    ReceiverError,
    SignalError,
    SignalNameError,
    SignalPayloadError,
    UndeclaredSignalError,
    UndeclaredSignalWarning,
)
from kindling_core.signals import ANY, ReceiverFailure, SignalBus, SignalSpec


@attrs.frozen
class RunFinished:
    pipe: str
    rows: int = 0


@attrs.frozen
class OtherPayload:
    value: int


AFTER_RUN = SignalSpec(
    "pipe.after_run", RunFinished, doc="A pipe run finished.", emitter="executor"
)
DELIVERY_FAILED = SignalSpec(
    "webhook.delivery_failed", doc="A webhook call failed.", emitter="webhook"
)


@pytest.fixture
def failures() -> list[ReceiverFailure]:
    return []


@pytest.fixture
def bus(failures: list[ReceiverFailure]):
    bus = SignalBus(on_receiver_error=failures.append)
    bus.declare_all([AFTER_RUN, DELIVERY_FAILED])
    yield bus
    bus.close(timeout=5)


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[Any, dict[str, Any]]] = []

    def __call__(self, sender: Any, **kwargs: Any) -> None:
        self.calls.append((sender, kwargs))


# -- declarations ----------------------------------------------------------------------


def test_declared_specs_are_sorted_and_looked_up_by_name(bus: SignalBus) -> None:
    bus.declare("alpha.before_x")
    assert [s.name for s in bus.declared()] == [
        "alpha.before_x",
        "pipe.after_run",
        "webhook.delivery_failed",
    ]
    assert bus.spec("pipe.after_run") is AFTER_RUN
    assert bus.spec("alpha.before_x").payload_type is None


def test_declare_is_idempotent_for_an_equal_spec(bus: SignalBus) -> None:
    copy = SignalSpec("pipe.after_run", RunFinished, doc="A pipe run finished.", emitter="executor")
    assert bus.declare(copy) is AFTER_RUN
    assert (
        bus.declare("webhook.delivery_failed", doc="A webhook call failed.", emitter="webhook")
        is DELIVERY_FAILED
    )
    assert len(bus.declared()) == 2


def test_declaring_a_different_spec_under_a_declared_name_fails(bus: SignalBus) -> None:
    with pytest.raises(SignalError) as info:
        bus.declare(SignalSpec("pipe.after_run", OtherPayload))
    assert "'pipe.after_run'" in str(info.value)
    assert "OtherPayload" in str(info.value) and "RunFinished" in str(info.value)


def test_declare_validates_the_name(bus: SignalBus) -> None:
    with pytest.raises(SignalNameError, match="'pipe.start'"):
        bus.declare("pipe.start")


def test_unknown_spec_lookup_suggests_a_declared_name(bus: SignalBus) -> None:
    with pytest.raises(UndeclaredSignalError, match="Did you mean 'pipe.after_run'"):
        bus.spec("pipe.after_rnu")


def test_payload_types_must_be_immutable() -> None:
    @dataclasses.dataclass
    class Mutable:
        x: int

    @dataclasses.dataclass(frozen=True)
    class Frozen:
        x: int

    @attrs.define
    class MutableAttrs:
        x: int

    with pytest.raises(SignalError, match="not immutable"):
        SignalSpec("pipe.after_run", Mutable)
    with pytest.raises(SignalError, match="not immutable"):
        SignalSpec("pipe.after_run", MutableAttrs)
    with pytest.raises(SignalError, match="must be a class"):
        SignalSpec("pipe.after_run", RunFinished(pipe="x"))  # type: ignore[arg-type]
    assert SignalSpec("pipe.after_run", Frozen).typed


def test_spec_is_frozen_and_hashable() -> None:
    with pytest.raises(attrs.exceptions.FrozenInstanceError):
        AFTER_RUN.name = "pipe.before_run"  # type: ignore[misc]
    assert {AFTER_RUN: 1}[
        SignalSpec("pipe.after_run", RunFinished, "A pipe run finished.", "executor")
    ] == 1


# -- emitting and payload checks -------------------------------------------------------


def test_typed_emit_calls_receiver_with_sender_and_payload(bus: SignalBus) -> None:
    rec = Recorder()
    bus.connect(AFTER_RUN, rec)
    payload = RunFinished("orders", 3)
    sender = object()
    bus.emit(AFTER_RUN, payload, sender=sender)
    bus.emit("pipe.after_run", payload)
    assert rec.calls == [(sender, {"payload": payload}), (bus, {"payload": payload})]
    assert bus.default_sender is bus


def test_string_signal_passes_keyword_arguments(bus: SignalBus) -> None:
    rec = Recorder()
    bus.connect("webhook.delivery_failed", rec)
    bus.emit("webhook.delivery_failed", url="https://x", status=503)
    bus.emit(DELIVERY_FAILED)
    assert rec.calls == [(bus, {"url": "https://x", "status": 503}), (bus, {})]


def test_a_subclass_instance_is_a_valid_payload(bus: SignalBus) -> None:
    @attrs.frozen
    class Special(RunFinished):
        extra: int = 1

    rec = Recorder()
    bus.connect(AFTER_RUN, rec)
    bus.emit(AFTER_RUN, Special("p"))
    assert len(rec.calls) == 1


def test_wrong_payload_type_names_signal_expected_and_actual_type(bus: SignalBus) -> None:
    with pytest.raises(SignalPayloadError) as info:
        bus.emit(AFTER_RUN, OtherPayload(1))
    message = str(info.value)
    assert "'pipe.after_run'" in message
    assert f"{__name__}.RunFinished" in message
    assert f"{__name__}.OtherPayload" in message
    assert isinstance(info.value, TypeError)


def test_payload_is_checked_even_without_receivers(bus: SignalBus) -> None:
    assert not bus.has_receivers(AFTER_RUN)
    with pytest.raises(SignalPayloadError, match="NoneType|None"):
        bus.emit(AFTER_RUN)
    with pytest.raises(SignalPayloadError, match="dict"):
        bus.emit(AFTER_RUN, {"pipe": "x"})


def test_typed_signal_rejects_keyword_arguments(bus: SignalBus) -> None:
    with pytest.raises(SignalPayloadError, match="keyword arguments"):
        bus.emit(AFTER_RUN, RunFinished("p"), rows=3)


def test_string_signal_rejects_a_positional_payload(bus: SignalBus) -> None:
    with pytest.raises(SignalPayloadError) as info:
        bus.emit("webhook.delivery_failed", {"url": "x"})
    assert "'webhook.delivery_failed'" in str(info.value)
    assert "keyword arguments" in str(info.value) and "dict" in str(info.value)


def test_emitting_an_undeclared_name_raises_with_did_you_mean(bus: SignalBus) -> None:
    with pytest.raises(UndeclaredSignalError) as info:
        bus.emit("pipe.after_rnu", RunFinished("p"))
    assert "'pipe.after_rnu'" in str(info.value)
    assert "Did you mean 'pipe.after_run'" in str(info.value)


def test_emitting_an_undeclared_spec_raises(bus: SignalBus) -> None:
    with pytest.raises(UndeclaredSignalError):
        bus.emit(SignalSpec("pipe.before_run", RunFinished), RunFinished("p"))


def test_emitting_a_spec_that_differs_from_the_declaration_raises(bus: SignalBus) -> None:
    with pytest.raises(UndeclaredSignalError, match="differs from its declaration"):
        bus.emit(SignalSpec("pipe.after_run", OtherPayload), OtherPayload(1))


def test_an_equal_copy_of_the_declared_spec_can_emit(bus: SignalBus) -> None:
    rec = Recorder()
    bus.connect(AFTER_RUN, rec)
    bus.emit(
        SignalSpec("pipe.after_run", RunFinished, "A pipe run finished.", "executor"),
        RunFinished("p"),
    )
    assert len(rec.calls) == 1


# -- connecting ------------------------------------------------------------------------


def test_connect_to_an_undeclared_name_warns_with_did_you_mean(bus: SignalBus) -> None:
    with pytest.warns(UndeclaredSignalWarning, match="Did you mean 'pipe.after_run'"):
        bus.connect("pipe.after_rnu", Recorder())


def test_connect_warning_points_at_the_caller(bus: SignalBus) -> None:
    with pytest.warns(UndeclaredSignalWarning) as record:
        bus.connect("pipe.before_run", Recorder())

        @bus.connect("pipe.before_write")
        def receiver(sender: Any, **kw: Any) -> None: ...

    assert [w.filename for w in record] == [__file__, __file__]


def test_connect_to_an_undeclared_name_raises_in_strict_mode() -> None:
    bus = SignalBus(strict=True)
    bus.declare(AFTER_RUN)
    with pytest.raises(UndeclaredSignalError, match="Did you mean 'pipe.after_run'"):
        bus.connect("pipe.after_rnu", Recorder())
    assert not bus.has_receivers("pipe.after_rnu")


def test_connect_to_an_invalid_name_raises(bus: SignalBus) -> None:
    with pytest.raises(SignalNameError):
        bus.connect("Pipe.AfterRun", Recorder())


def test_early_connection_becomes_live_when_the_signal_is_declared() -> None:
    bus = SignalBus()
    rec = Recorder()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UndeclaredSignalWarning)
        bus.connect("pipe.before_run", rec)
    with pytest.raises(UndeclaredSignalError, match="1 receiver"):
        bus.emit("pipe.before_run")
    bus.declare("pipe.before_run")
    bus.emit("pipe.before_run", step=1)
    assert rec.calls == [(bus, {"step": 1})]


def test_connect_works_as_a_decorator_and_returns_the_receiver(bus: SignalBus) -> None:
    seen = []

    @bus.connect("pipe.after_run")
    def on_after_run(sender: Any, payload: RunFinished) -> None:
        seen.append(payload.pipe)

    assert callable(on_after_run) and on_after_run.__name__ == "on_after_run"
    bus.emit(AFTER_RUN, RunFinished("orders"))
    assert seen == ["orders"]
    f = Recorder()
    assert bus.connect(AFTER_RUN, f) is f


def test_lambdas_and_closures_stay_connected_after_gc(bus: SignalBus) -> None:
    seen: list[str] = []

    def install() -> None:
        bus.connect(AFTER_RUN, lambda sender, payload: seen.append("lambda"))

        def closure(sender: Any, payload: RunFinished) -> None:
            seen.append("closure")

        bus.connect(AFTER_RUN, closure)

    install()
    gc.collect()
    bus.emit(AFTER_RUN, RunFinished("p"))
    assert seen == ["lambda", "closure"]


def test_weak_receivers_are_dropped_when_collected(bus: SignalBus) -> None:
    seen: list[str] = []

    class Listener:
        def on_run(self, sender: Any, payload: RunFinished) -> None:
            seen.append(payload.pipe)

    listener = Listener()
    bus.connect(AFTER_RUN, listener.on_run, weak=True)
    bus.emit(AFTER_RUN, RunFinished("first"))
    del listener
    gc.collect()
    bus.emit(AFTER_RUN, RunFinished("second"))
    assert seen == ["first"]
    assert not bus.has_receivers(AFTER_RUN)


def test_receivers_run_in_connection_order_and_once_each(bus: SignalBus) -> None:
    order: list[int] = []
    receivers = [lambda s, payload, i=i: order.append(i) for i in range(10)]
    for r in receivers:
        bus.connect(AFTER_RUN, r)
    bus.connect(AFTER_RUN, receivers[3])  # connecting again does not duplicate
    bus.emit(AFTER_RUN, RunFinished("p"))
    assert order == list(range(10))


def test_disconnect_stops_delivery(bus: SignalBus) -> None:
    rec = Recorder()
    bus.connect(AFTER_RUN, rec)
    assert bus.has_receivers(AFTER_RUN)
    bus.disconnect(AFTER_RUN, rec)
    bus.disconnect("pipe.after_run", rec)  # no-op the second time
    bus.disconnect("nothing.connected_here", rec)  # no-op for unknown names
    assert not bus.has_receivers("pipe.after_run")
    bus.emit(AFTER_RUN, RunFinished("p"))
    assert rec.calls == []


def test_sender_filter(bus: SignalBus) -> None:
    a, b = object(), object()
    only_a, anyone = Recorder(), Recorder()
    bus.connect(AFTER_RUN, only_a, sender=a)
    bus.connect(AFTER_RUN, anyone, sender=ANY)
    payload = RunFinished("p")
    bus.emit(AFTER_RUN, payload, sender=a)
    bus.emit(AFTER_RUN, payload, sender=b)
    bus.emit(AFTER_RUN, payload)
    bus.bound(AFTER_RUN).emit(payload, sender=a)
    assert [s for s, _ in only_a.calls] == [a, a]
    assert [s for s, _ in anyone.calls] == [a, b, bus, a]
    bus.disconnect(AFTER_RUN, only_a)
    bus.emit(AFTER_RUN, payload, sender=a)
    assert len(only_a.calls) == 2


def test_sender_none_is_rejected_at_connect(bus: SignalBus) -> None:
    with pytest.raises(ValueError, match="ANY"):
        bus.connect(AFTER_RUN, Recorder(), sender=None)


def test_custom_default_sender() -> None:
    app = object()
    bus = SignalBus(default_sender=app)
    bus.declare(AFTER_RUN)
    rec = Recorder()
    bus.connect(AFTER_RUN, rec)
    bus.emit(AFTER_RUN, RunFinished("p"))
    assert rec.calls[0][0] is app


def test_two_buses_are_independent() -> None:
    one, two = SignalBus(), SignalBus()
    one.declare(AFTER_RUN)
    two.declare(AFTER_RUN)
    rec_one, rec_two = Recorder(), Recorder()
    one.connect(AFTER_RUN, rec_one)
    two.connect(AFTER_RUN, rec_two)
    one.emit(AFTER_RUN, RunFinished("from-one"))
    assert [kw["payload"].pipe for _, kw in rec_one.calls] == ["from-one"]
    assert rec_two.calls == []
    two.declare("pipe.before_run")
    with pytest.raises(UndeclaredSignalError):
        one.emit("pipe.before_run")
    assert one.namespace is not two.namespace
    assert one.namespace["pipe.after_run"] is not two.namespace["pipe.after_run"]


# -- receiver failures -----------------------------------------------------------------


def test_a_failing_receiver_does_not_stop_later_receivers_or_the_emitter(
    bus: SignalBus, failures: list[ReceiverFailure]
) -> None:
    calls: list[str] = []

    def first(sender: Any, payload: RunFinished) -> None:
        calls.append("first")
        raise RuntimeError("first broke")

    def second(sender: Any, payload: RunFinished) -> None:
        calls.append("second")

    bus.connect(AFTER_RUN, first)
    bus.connect(AFTER_RUN, second)
    bus.emit(AFTER_RUN, RunFinished("p"))  # does not raise
    calls.append("emitter continued")
    assert calls == ["first", "second", "emitter continued"]
    assert len(failures) == 1
    failure = failures[0]
    assert failure.signal == "pipe.after_run"
    assert failure.receiver.endswith(
        "test_a_failing_receiver_does_not_stop_later_receivers_or_the_emitter.<locals>.first"
    )
    assert isinstance(failure.error, RuntimeError) and str(failure.error) == "first broke"
    assert failure.async_ is False
    assert bus.stats.receiver_failures == 1


def test_failures_propagate_only_when_configured(failures: list[ReceiverFailure]) -> None:
    bus = SignalBus(propagate_receiver_errors=True, on_receiver_error=failures.append)
    bus.declare(DELIVERY_FAILED)
    calls: list[str] = []

    def broken(sender: Any, **kw: Any) -> None:
        calls.append("broken")
        raise KeyError("missing")

    def also_broken(sender: Any, **kw: Any) -> None:
        calls.append("also_broken")
        raise ValueError("second")

    bus.connect(DELIVERY_FAILED, broken)
    bus.connect(DELIVERY_FAILED, also_broken)
    with pytest.raises(ReceiverError) as info:
        bus.emit(DELIVERY_FAILED, url="x")
    assert calls == ["broken", "also_broken"]  # all ran before the raise
    assert isinstance(info.value.__cause__, KeyError)  # the first failure
    assert info.value.signal == "webhook.delivery_failed"
    assert info.value.receiver.endswith(".broken")
    assert "'webhook.delivery_failed'" in str(info.value)
    assert len(failures) == 2  # both still reported


def test_failures_are_logged_without_a_callback(caplog: pytest.LogCaptureFixture) -> None:
    bus = SignalBus()
    bus.declare(AFTER_RUN)

    def broken(sender: Any, payload: RunFinished) -> None:
        raise RuntimeError("kaputt")

    bus.connect(AFTER_RUN, broken)
    with caplog.at_level(logging.ERROR, logger="kindling.signals"):
        bus.emit(AFTER_RUN, RunFinished("p"))
    [record] = [r for r in caplog.records if r.name == "kindling.signals"]
    assert "pipe.after_run" in record.getMessage() and "kaputt" in record.getMessage()
    assert record.exc_info is not None and record.exc_info[1].args == ("kaputt",)


def test_a_failing_error_callback_is_logged_and_does_not_break_the_emitter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def bad_callback(failure: ReceiverFailure) -> None:
        raise OSError("callback down")

    bus = SignalBus(on_receiver_error=bad_callback)
    bus.declare(AFTER_RUN)
    bus.connect(AFTER_RUN, lambda s, payload: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="kindling.signals"):
        bus.emit(AFTER_RUN, RunFinished("p"))
    messages = [r.getMessage() for r in caplog.records]
    assert any("on_receiver_error callback failed" in m for m in messages)
    assert any("ZeroDivisionError" in m for m in messages)


def test_keyboard_interrupt_is_not_swallowed(bus: SignalBus) -> None:
    def interrupt(sender: Any, payload: RunFinished) -> None:
        raise KeyboardInterrupt

    bus.connect(AFTER_RUN, interrupt)
    with pytest.raises(KeyboardInterrupt):
        bus.emit(AFTER_RUN, RunFinished("p"))


# -- bound signals ---------------------------------------------------------------------


def test_bound_signal_emits_with_the_same_checks(
    bus: SignalBus, failures: list[ReceiverFailure]
) -> None:
    rec = Recorder()
    bound = bus.bound(AFTER_RUN)
    assert not bound.has_receivers
    bus.connect(AFTER_RUN, rec)
    assert bound.has_receivers  # sees connections made after binding
    bound.emit(RunFinished("p"))
    assert rec.calls == [(bus, {"payload": RunFinished("p")})]
    with pytest.raises(SignalPayloadError):
        bound.emit(OtherPayload(1))
    with pytest.raises(SignalPayloadError):
        bound.emit_kwargs(pipe="p")

    kw = bus.bound("webhook.delivery_failed")
    kw_rec = Recorder()
    bus.connect(DELIVERY_FAILED, kw_rec)
    kw.emit_kwargs(url="u")
    kw.emit()
    assert kw_rec.calls == [(bus, {"url": "u"}), (bus, {})]
    with pytest.raises(SignalPayloadError):
        kw.emit({"url": "u"})

    bus.connect(AFTER_RUN, lambda s, payload: 1 / 0)
    bound.emit(RunFinished("p"))
    assert [f.error.__class__ for f in failures] == [ZeroDivisionError]


def test_bound_requires_a_declared_signal(bus: SignalBus) -> None:
    with pytest.raises(UndeclaredSignalError):
        bus.bound("pipe.before_run")


def test_bound_propagates_when_configured() -> None:
    bus = SignalBus(propagate_receiver_errors=True)
    bus.declare(AFTER_RUN)
    bus.connect(AFTER_RUN, lambda s, payload: 1 / 0)
    with pytest.raises(ReceiverError):
        bus.bound(AFTER_RUN).emit(RunFinished("p"))


# -- auditing and concurrency ----------------------------------------------------------


def test_record_emits_collects_names(bus: SignalBus) -> None:
    bus.emit(AFTER_RUN, RunFinished("before recording"))
    with bus.record_emits() as names:
        bus.emit(AFTER_RUN, RunFinished("p"))
        bus.bound(DELIVERY_FAILED).emit_kwargs(url="u")
        with pytest.raises(UndeclaredSignalError):
            bus.emit("pipe.before_run")
    bus.emit(DELIVERY_FAILED)
    assert names == {"pipe.after_run", "webhook.delivery_failed"}
    assert {n for n in names} <= {s.name for s in bus.declared()}


def test_connect_and_disconnect_race_with_emits(bus: SignalBus) -> None:
    stop = threading.Event()
    errors: list[BaseException] = []
    count = [0]

    def counter(sender: Any, payload: RunFinished) -> None:
        count[0] += 1

    def emitter() -> None:
        try:
            while not stop.is_set():
                bus.emit(AFTER_RUN, RunFinished("p"))
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=emitter) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for i in range(300):
            r = (lambda s, payload: None) if i % 2 else counter
            bus.connect(AFTER_RUN, r, sender=ANY if i % 3 else object())
            bus.disconnect(AFTER_RUN, r)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=10)
    assert errors == []
    assert not bus.has_receivers(AFTER_RUN)


def test_import_starts_no_thread_and_bus_creation_starts_no_thread() -> None:
    before = {t.name for t in threading.enumerate()}
    bus = SignalBus()
    bus.declare(AFTER_RUN)
    bus.connect(AFTER_RUN, lambda s, payload: None, async_=True)
    after = {t.name for t in threading.enumerate()}
    assert not any(n.startswith("kindling-signals") for n in after - before)
    bus.close()
