"""``SignalBus``: declared, validated, error-isolated signals over one blinker namespace.

A bus belongs to one app (``docs/architecture.md``, principle 4): it owns a private ``blinker.Namespace``,
the declarations (:class:`SignalSpec`) of every signal its components emit, and, lazily,
the thread pool of its async receivers. Nothing here runs at import time.

Rules the bus enforces:

* **Emitters declare.** Emitting a name that was not declared raises
  :class:`UndeclaredSignalError` (with "did you mean"). Declaring validates the name
  (:mod:`kindling_core.signals.naming`); redeclaring an equal spec is a no-op, a different
  spec under a declared name is a :class:`SignalError`.
* **Payloads are checked at every emit**, receivers or not: a typed signal takes exactly one
  instance of its ``payload_type`` and no keyword arguments; a string signal takes keyword
  arguments only. Anything else raises :class:`SignalPayloadError` naming the signal, the
  expected and the actual type.
* **Connecting to an undeclared name warns** (:class:`UndeclaredSignalWarning`, with "did
  you mean"); in strict mode it raises :class:`UndeclaredSignalError`. The connection is
  kept and becomes live when the name is declared, so connect/declare order does not
  matter.
* **Receivers are held strongly** unless ``weak=True`` (blinker's weak default silently
  drops lambdas and closures).
* **Receivers observe, never steer.** Every receiver is called even when an earlier one
  raised; each failure is reported once (``on_receiver_error`` or the ``kindling.signals``
  logger). With ``propagate_receiver_errors=True`` the first failure is raised to the
  emitter as :class:`ReceiverError` *after* all receivers ran.
* Receivers run in connection order; receivers connected for a specific ``sender`` run
  after the ``ANY`` ones.

Calling convention (blinker's): ``receiver(sender, payload=payload)`` for typed signals,
``receiver(sender, **kwargs)`` for string signals. ``sender`` is the emitter's ``sender``
argument or, when that is ``None``, the bus's ``default_sender`` (the bus itself unless
configured).

Performance and thread-safety: each signal keeps a pre-resolved tuple of its receivers,
rebuilt under a lock on connect/disconnect and replaced atomically (copy-on-write), so an
emit takes no lock, creates no generator and, with no receivers, does two dict/attribute
lookups, a type check and returns. Receivers connected for a specific sender switch that
signal to a slower path that asks blinker per emit. ``benchmarks/bench_signals.py``
measures all of this against raw blinker.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar, overload

import attrs
import blinker
from blinker import ANY

# blinker's own id/ref helpers, so the bus identifies receivers exactly as blinker does.
from blinker._utilities import make_id, make_ref

from kindling_core._names import did_you_mean
from kindling_core.errors import (
    SignalArgumentError,
    SignalArgumentTypeError,
    SignalError,
    UndeclaredSignalError,
    UndeclaredSignalWarning,
)
from kindling_core.signals._async import AsyncDispatcher, AsyncReceiver
from kindling_core.signals._blinker import new_namespace, signal_in
from kindling_core.signals._bound import BoundSignal
from kindling_core.signals._failure import ReceiverFailure, receiver_name, report
from kindling_core.signals._slot import Slot, WeakReceiver, payload_error, raise_receiver_error
from kindling_core.signals._spec import SignalSpec
from kindling_core.signals.naming import check_signal_name

__all__ = ["SignalBus", "BoundSignal", "SignalStats", "ANY"]

F = TypeVar("F", bound=Callable[..., Any])
_SELF: Any = object()  # default_sender sentinel: "the bus itself"


def _name_of(signal: object) -> str:
    return signal.name if isinstance(signal, SignalSpec) else str(signal)


def _not_a_signal(signal: object) -> SignalArgumentTypeError:
    return SignalArgumentTypeError(
        f"signal must be a SignalSpec or a name, not {type(signal).__name__} {signal!r:.80}",
        culprit=repr(signal)[:80],
        remedy="pass the SignalSpec a component declares (e.g. execution.signals.PIPE_AFTER) or its name",
    )


@attrs.frozen
class SignalStats:
    """A snapshot of a bus's counters (``bus.stats``)."""

    receiver_failures: int
    """Failures reported so far (sync and async, including dropped async deliveries)."""
    async_submitted: int
    """Async deliveries accepted (scheduled on a loop or queued on the pool)."""
    async_completed: int
    """Accepted async deliveries that have finished (successfully or not)."""
    async_dropped: int
    """Async deliveries dropped: queue full, bus closed, or cancelled by ``close``."""
    async_pending: int
    """Accepted async deliveries not finished yet."""


class SignalBus:
    """Declares, connects and emits the signals of one app. See the module docstring.

    ``strict``: connecting to an undeclared name raises instead of warning.
    ``propagate_receiver_errors``: raise the first receiver failure to the emitter (as
    ``ReceiverError``) after all receivers ran; off by default, since observers must not
    break the work they observe.
    ``async_workers`` / ``async_queue_size``: the async pool's threads and the bound on
    pending async deliveries (see :mod:`kindling_core.signals._async`).
    ``on_receiver_error``: called once per receiver failure, sync or async (possibly on a
    pool thread); without it failures are logged to ``kindling.signals``.
    ``default_sender``: the sender passed to receivers when an emit gives none; the bus
    itself by default.
    """

    def __init__(
        self,
        *,
        strict: bool = False,
        propagate_receiver_errors: bool = False,
        async_workers: int = 4,
        async_queue_size: int = 10_000,
        on_receiver_error: Callable[[ReceiverFailure], None] | None = None,
        default_sender: Any = _SELF,
    ) -> None:
        self.strict = strict
        self.propagate_receiver_errors = propagate_receiver_errors
        self._on_receiver_error = on_receiver_error
        self._default_sender = self if default_sender is _SELF else default_sender
        if self._default_sender is None:
            raise SignalArgumentError(
                "SignalBus(default_sender=None): None means 'the default' in emit(), so it cannot be the default",
                culprit="default_sender",
                remedy="leave default_sender out (the bus itself) or pass the object receivers should see",
            )
        self._namespace = new_namespace()
        self._lock = threading.Lock()
        self._slots: dict[str, Slot] = {}  # declared
        self._pending: dict[str, Slot] = {}  # connected to, not declared (yet)
        self._declared: tuple[SignalSpec, ...] | None = ()
        self._recorders: tuple[set[str], ...] = ()
        self._failures = 0
        self._async = AsyncDispatcher(
            workers=async_workers, queue_size=async_queue_size, report=self._report
        )

    # -- declarations ---------------------------------------------------------------------

    def declare(
        self, spec_or_name: SignalSpec | str, *, doc: str = "", emitter: str = ""
    ) -> SignalSpec:
        """Declare a signal and return its (stored) spec.

        A name declares a string signal with ``doc`` and ``emitter``; a ``SignalSpec`` is
        declared as is (then ``doc``/``emitter`` must not be given). Idempotent for an equal
        spec; a different spec under a declared name raises ``SignalError``. An invalid name
        raises ``SignalNameError``.
        """
        if isinstance(spec_or_name, SignalSpec):
            if doc or emitter:
                raise SignalArgumentTypeError(
                    f"declare({spec_or_name.name!r}, doc=..., emitter=...): a SignalSpec already carries its doc and emitter",
                    culprit=spec_or_name.name,
                    remedy="pass doc and emitter inside the SignalSpec, not to declare()",
                )
            spec = spec_or_name
        elif isinstance(spec_or_name, str):
            spec = SignalSpec(spec_or_name, None, doc=doc, emitter=emitter)
        else:
            raise SignalArgumentTypeError(
                f"declare() takes a SignalSpec or a signal name, not {type(spec_or_name).__name__}",
                culprit=repr(spec_or_name),
                remedy="declare SignalSpec('namespace.event', PayloadType, doc=...) or a 'namespace.event' string",
            )
        with self._lock:
            slot = self._slots.get(spec.name)
            if slot is not None:
                if slot.spec == spec:
                    return slot.spec
                raise SignalError(
                    f"signal {spec.name!r} is already declared as {slot.spec!r}; the new "
                    f"declaration {spec!r} differs",
                    culprit=spec.name,
                    remedy="declare each signal once, in the component that emits it (or make "
                    "both declarations identical); receivers only connect",
                )
            slot = self._pending.pop(spec.name, None)
            if slot is None:
                slot = Slot(spec.name, signal_in(self._namespace, spec.name, spec.doc or None))
            elif spec.doc:
                slot.signal.__doc__ = spec.doc
            slot.spec = spec
            slot.payload_type = spec.payload_type
            self._slots[spec.name] = slot
            self._declared = None
        return spec

    def declare_all(self, specs: Iterable[SignalSpec]) -> None:
        """Declare each spec (for a component's ``EMITS``)."""
        for spec in specs:
            self.declare(spec)

    def declared(self) -> tuple[SignalSpec, ...]:
        """Every declared spec, sorted by name."""
        declared = self._declared
        if declared is None:
            with self._lock:
                specs = [s.spec for s in self._slots.values() if s.spec is not None]
                declared = tuple(sorted(specs, key=lambda spec: spec.name))
                self._declared = declared
        return declared

    def spec(self, name: str) -> SignalSpec:
        """The declared spec called ``name``; ``UndeclaredSignalError`` (did you mean) if none."""
        slot = self._slots.get(name)
        if slot is None:
            raise self._undeclared(name, "is not declared")
        return slot.spec  # type: ignore[return-value]

    def is_declared(self, signal: SignalSpec | str) -> bool:
        """True when the name (and, for a spec, the same spec) is declared."""
        name = signal.name if isinstance(signal, SignalSpec) else signal
        slot = self._slots.get(name)
        return slot is not None and (not isinstance(signal, SignalSpec) or slot.spec == signal)

    @property
    def namespace(self) -> blinker.Namespace:
        """The bus's private blinker namespace (for introspection; connect through the bus)."""
        return self._namespace

    @property
    def default_sender(self) -> Any:
        """The sender receivers get when an emit passes none."""
        return self._default_sender

    # -- connections ----------------------------------------------------------------------

    @overload
    def connect(
        self,
        signal: SignalSpec | str,
        receiver: None = None,
        *,
        sender: Any = ANY,
        async_: bool = False,
        weak: bool = False,
    ) -> Callable[[F], F]: ...

    @overload
    def connect(
        self,
        signal: SignalSpec | str,
        receiver: F,
        *,
        sender: Any = ANY,
        async_: bool = False,
        weak: bool = False,
    ) -> F: ...

    def connect(
        self,
        signal: SignalSpec | str,
        receiver: Callable[..., Any] | None = None,
        *,
        sender: Any = ANY,
        async_: bool = False,
        weak: bool = False,
    ) -> Any:
        """Connect ``receiver`` to ``signal`` and return it; a decorator without ``receiver``.

        ``sender``: only call the receiver for emits from this sender (default: any).
        ``async_``: run it off the emitter's path (see :mod:`kindling_core.signals._async`).
        ``weak``: hold it by weak reference (dropped when collected); strong by default.
        Connecting one receiver again updates its mode and adds the sender; it is still
        called once per emit.
        """
        if receiver is None:

            def decorator(fn: F) -> F:
                self._connect(signal, fn, sender, async_, weak)
                return fn

            return decorator
        self._connect(signal, receiver, sender, async_, weak)
        return receiver

    def _connect(
        self,
        signal: SignalSpec | str,
        receiver: Callable[..., Any],
        sender: Any,
        async_: bool,
        weak: bool,
    ) -> None:
        if not callable(receiver):
            raise SignalArgumentTypeError(
                f"receiver for signal {_name_of(signal)!r} must be callable, got {receiver!r}",
                culprit=_name_of(signal),
                remedy="connect a function or bound method taking (sender, **kwargs)",
            )
        if sender is None:
            raise SignalArgumentError(
                f"connect({_name_of(signal)!r}, sender=None): sender=None matches nothing (emits "
                "without a sender use the bus's default_sender)",
                culprit=_name_of(signal),
                remedy="use sender=ANY (the default) to receive from every sender",
            )
        with self._lock:
            slot = self._slot_for_connect(signal)
            rid = make_id(receiver)
            ref: Any = receiver
            if weak:
                ref = make_ref(receiver, self._weak_cleanup(slot, rid))
            if async_:
                entry: Callable[..., Any] = AsyncReceiver(
                    receiver, ref, weak=weak, signal=slot.name, dispatcher=self._async
                )
            elif weak:
                entry = WeakReceiver(ref, receiver_name(receiver))
            else:
                entry = receiver
            slot.signal.connect(receiver, sender, weak=weak)
            slot.entries[rid] = entry
            if sender is not ANY:
                slot.filtered.add(rid)
            slot.rebuild()

    def _weak_cleanup(self, slot: Slot, rid: Any) -> Callable[[Any], None]:
        # Runs from the garbage collector, possibly while this thread holds the lock: it must
        # not lock. It only forgets the entry; the dispatch tuple skips the dead wrapper until
        # the next rebuild.
        def cleanup(ref: Any) -> None:
            entry = slot.entries.get(rid)
            if entry is not None and getattr(entry, "ref", getattr(entry, "_ref", None)) is ref:
                slot.entries.pop(rid, None)

        return cleanup

    def _slot_for_connect(self, signal: SignalSpec | str) -> Slot:
        spec = signal if isinstance(signal, SignalSpec) else None
        name = spec.name if spec is not None else signal
        if not isinstance(name, str):
            raise _not_a_signal(signal)
        slot = self._slots.get(name)
        if slot is not None:
            if spec is not None and slot.spec != spec:
                raise SignalError(
                    f"connecting to {spec!r}, but signal {name!r} is declared as {slot.spec!r}",
                    culprit=name,
                    remedy="connect with the declared spec (bus.spec(name)) or by name",
                )
            return slot
        check_signal_name(name)
        error = self._undeclared(name, "is not declared (yet)")
        if self.strict:
            raise error
        warnings.warn(UndeclaredSignalWarning(str(error)), stacklevel=4)
        slot = self._pending.get(name)
        if slot is None:
            slot = self._pending[name] = Slot(name, signal_in(self._namespace, name))
        return slot

    def disconnect(
        self, signal: SignalSpec | str, receiver: Callable[..., Any], *, sender: Any = ANY
    ) -> None:
        """Disconnect ``receiver`` from every sender (or only ``sender``); no-op if unknown."""
        name = signal.name if isinstance(signal, SignalSpec) else signal
        with self._lock:
            slot = self._slots.get(name) or self._pending.get(name)
            if slot is None:
                return
            slot.signal.disconnect(receiver, sender)
            if sender is ANY:
                rid = make_id(receiver)
                slot.entries.pop(rid, None)
                slot.filtered.discard(rid)
            slot.rebuild()

    def has_receivers(self, signal: SignalSpec | str) -> bool:
        """True when any receiver (for any sender) is connected to ``signal``."""
        name = signal.name if isinstance(signal, SignalSpec) else signal
        slot = self._slots.get(name) or self._pending.get(name)
        return slot is not None and bool(slot.signal.receivers)

    # -- emitting -------------------------------------------------------------------------

    def emit(
        self, signal: SignalSpec | str, payload: Any = None, /, *, sender: Any = None, **kwargs: Any
    ) -> None:
        """Emit ``signal``: typed signals with one ``payload``, string signals with kwargs.

        Raises ``UndeclaredSignalError`` for an undeclared signal, ``SignalPayloadError`` for
        a wrong payload, and ``ReceiverError`` only with ``propagate_receiver_errors``.
        """
        if type(signal) is str:
            slot = self._slots.get(signal)
            if slot is None:
                raise self._undeclared(signal, "was emitted but is not declared")
        elif type(signal) is SignalSpec:
            slot = self._slots.get(signal.name)
            if slot is None or slot.spec is not signal:
                slot = self._slot_for_emit(signal)  # not declared, or an equal copy
        else:
            slot = self._slot_for_emit(signal)
        ptype = slot.payload_type
        if ptype is not None:
            if kwargs or (type(payload) is not ptype and not isinstance(payload, ptype)):
                raise payload_error(slot, payload, kwargs)
        elif payload is not None:
            raise payload_error(slot, payload, kwargs)
        if self._recorders:
            self._record(slot.name)
        receivers = slot.dispatch
        if receivers is not None and not receivers:
            return  # the fast path: nobody listens
        self._deliver(slot, receivers, sender, payload, kwargs)

    def _deliver(
        self, slot: Slot, receivers: Any, sender: Any, payload: Any, kwargs: dict[str, Any]
    ) -> None:
        """Call every receiver of ``slot`` (shared by :meth:`emit` and :class:`BoundSignal`).

        ``receivers`` is the slot's cached tuple, or ``None`` when some receiver is bound to a
        specific sender (then they are resolved for ``sender``). Typed signals call
        ``receiver(sender, payload=payload)``, string signals ``receiver(sender, **kwargs)``.
        Every failure is reported; the first is raised afterwards only in propagation mode.
        """
        if sender is None:
            sender = self._default_sender
        if receivers is None:
            receivers = slot.resolve(sender, self._lock)
        first = None
        if slot.payload_type is not None:
            for receiver in receivers:
                try:
                    receiver(sender, payload=payload)
                except Exception as exc:  # noqa: BLE001 - isolated, reported
                    if first is None:
                        first = (receiver, exc)
                    self._failed(slot.name, receiver, exc)
        else:
            for receiver in receivers:
                try:
                    receiver(sender, **kwargs)
                except Exception as exc:  # noqa: BLE001 - isolated, reported
                    if first is None:
                        first = (receiver, exc)
                    self._failed(slot.name, receiver, exc)
        if first is not None and self.propagate_receiver_errors:
            raise_receiver_error(slot.name, *first)

    def _slot_for_emit(self, signal: Any) -> Slot:
        if isinstance(signal, SignalSpec):
            slot = self._slots.get(signal.name)
            if slot is None:
                raise self._undeclared(signal.name, "was emitted but is not declared")
            if slot.spec is not signal and slot.spec != signal:
                raise self._undeclared(
                    signal.name,
                    f"was emitted with {signal!r}, which differs from its declaration "
                    f"{slot.spec!r}",
                )
            return slot
        if isinstance(signal, str):
            slot = self._slots.get(signal)
            if slot is None:
                raise self._undeclared(signal, "was emitted but is not declared")
            return slot
        raise _not_a_signal(signal)

    def bound(self, spec_or_name: SignalSpec | str) -> BoundSignal:
        """A handle on one declared signal for hot paths (name and spec resolved once)."""
        return BoundSignal(self, self._slot_for_emit(spec_or_name))

    @contextmanager
    def record_emits(self) -> Iterator[set[str]]:
        """Collect the name of every successful emit (any thread) while the block runs.

        Used to prove that everything a component emits is declared and documented.
        """
        names: set[str] = set()
        with self._lock:
            self._recorders = (*self._recorders, names)
        try:
            yield names
        finally:
            with self._lock:
                self._recorders = tuple(r for r in self._recorders if r is not names)

    def _record(self, name: str) -> None:
        for names in self._recorders:
            names.add(name)

    # -- failures -------------------------------------------------------------------------

    def _failed(self, signal: str, receiver: Callable[..., Any], exc: Exception) -> None:
        self._report(
            ReceiverFailure(
                signal=signal, receiver=receiver_name(receiver), error=exc, async_=False
            )
        )

    def _report(self, failure: ReceiverFailure) -> None:
        with self._lock:
            self._failures += 1
        report(failure, self._on_receiver_error)

    def _undeclared(self, name: str, what: str) -> UndeclaredSignalError:
        hint = did_you_mean(name, self._slots)
        pending = self._pending.get(name)
        note = ""
        if pending is not None and pending.signal.receivers:
            note = f" ({len(pending.signal.receivers)} receiver(s) are connected to it)"
        error = UndeclaredSignalError(
            f"signal {name!r} {what}{note}.{hint}",
            culprit=name,
            remedy="declare it in the emitting component (bus.declare(...) / EMITS) or fix "
            "the name",
        )
        error.signal = name  # type: ignore[attr-defined]
        return error

    @property
    def stats(self) -> SignalStats:
        """A snapshot of failure and async-delivery counters."""
        a = self._async
        return SignalStats(
            receiver_failures=self._failures,
            async_submitted=a.submitted,
            async_completed=a.completed,
            async_dropped=a.dropped,
            async_pending=a.pending,
        )

    # -- lifecycle ------------------------------------------------------------------------

    def close(self, timeout: float | None = None) -> None:
        """Stop async delivery: wait up to ``timeout`` s for the pool, then join its threads.

        Later async deliveries are dropped and reported; sync receivers keep working.
        Idempotent. See :meth:`AsyncDispatcher.close` for the timeout behaviour.
        """
        self._async.close(timeout)

    def __enter__(self) -> SignalBus:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (
            f"<SignalBus {len(self._slots)} declared, strict={self.strict}, "
            f"propagate_receiver_errors={self.propagate_receiver_errors}>"
        )
