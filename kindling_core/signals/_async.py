"""Delivery of async receivers: on the emitter's running event loop, else on a bounded pool.

Async receivers are opt-in (``bus.connect(name, receiver, async_=True)``) and suit slow,
side-effect-only observers: metrics, webhooks, progress reporting. The emitter never waits
for them and never sees their exceptions.

Where an async receiver runs, decided at each emit:

1. The receiver is a coroutine function **and** the emitting thread is running an asyncio
   event loop (the emit happens inside a coroutine or a loop callback): the coroutine is
   scheduled on that loop with ``loop.create_task``. It runs when the emitter next yields to
   the loop. The loop owns the task: if the loop stops or is closed before the task
   finishes, the task is cancelled and the cancellation is reported as a failure.
2. Otherwise (a plain function, or no running loop — the normal case on a Spark driver,
   which runs no event loop) the call is submitted to the bus's thread pool:
   ``async_workers`` threads named ``kindling-signals-N``, created on first use (never at
   import or bus construction). A coroutine function runs there with ``asyncio.run``, i.e.
   on a fresh event loop per call, so it must not rely on objects bound to another loop.

Event-loop requirements, in short: none. kindling-core never starts, owns or stops an event
loop; it uses the caller's running loop when there is one and a worker thread otherwise.

Bounds: at most ``async_queue_size`` deliveries may be pending (scheduled or queued, not yet
finished) at once. Beyond that, or after :meth:`AsyncDispatcher.close`, a delivery is
dropped: it is counted (``stats.async_dropped``) and reported to the error callback as a
:class:`~kindling_core.signals.ReceiverFailure` whose error says why. The emitter never
blocks.

Failures: an exception raised by an async receiver (on the pool or the loop) is reported to
the error callback as a ``ReceiverFailure`` with ``async_=True``; it never reaches the
emitter, even when the bus propagates receiver errors.

Invariants: every accepted delivery releases its slot exactly once (finished, failed or
cancelled); :meth:`AsyncDispatcher.close` is idempotent and never waits for event-loop
tasks (they may need the very thread that calls ``close``).
"""

from __future__ import annotations

import asyncio
import functools
import inspect
import itertools
import logging
import threading
import time
import weakref
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from kindling_core.errors import SignalArgumentError, SignalError
from kindling_core.signals._failure import LOGGER_NAME, ReceiverFailure, receiver_name

__all__ = ["AsyncDispatcher", "AsyncReceiver", "AsyncDeliveryDropped", "is_coroutine_receiver"]

_log = logging.getLogger(LOGGER_NAME)


class AsyncDeliveryDropped(SignalError, RuntimeError):
    """The error in a ``ReceiverFailure`` for an async delivery that was not made.

    Never raised to an emitter: it is reported (error handlers, ``kindling.signals`` log) and
    counted in ``stats.async_dropped``. ``culprit`` is the signal name.
    """


def is_coroutine_receiver(receiver: Callable[..., Any]) -> bool:
    """True for coroutine functions, partials of them and objects with ``async def __call__``."""
    if inspect.iscoroutinefunction(receiver):
        return True
    call = getattr(type(receiver), "__call__", None)  # noqa: B004 - an async __call__
    return not inspect.isfunction(receiver) and inspect.iscoroutinefunction(call)


class AsyncReceiver:
    """The dispatch entry of an async receiver: calling it hands the call to the dispatcher.

    ``ref`` is the receiver itself, or a weak reference to it when connected with
    ``weak=True``.
    """

    __slots__ = ("_ref", "_weak", "is_coroutine", "signal", "_dispatcher", "__kindling_receiver__")

    def __init__(
        self,
        receiver: Callable[..., Any],
        ref: Callable[..., Any],
        *,
        weak: bool,
        signal: str,
        dispatcher: AsyncDispatcher,
    ) -> None:
        self._ref = ref
        self._weak = weak
        self.is_coroutine = is_coroutine_receiver(receiver)
        self.signal = signal
        self._dispatcher = dispatcher
        self.__kindling_receiver__: object = receiver_name(receiver) if weak else receiver

    def resolve(self) -> Callable[..., Any] | None:
        """The receiver, or None when it was weakly held and has been collected."""
        return self._ref() if self._weak else self._ref

    def __call__(self, sender: Any, /, **kwargs: Any) -> None:
        self._dispatcher.deliver(self, sender, kwargs)


class AsyncDispatcher:
    """Runs async receivers for one bus. Thread-safe. Starts no thread until first needed."""

    def __init__(
        self,
        *,
        workers: int,
        queue_size: int,
        report: Callable[[ReceiverFailure], None],
    ) -> None:
        for name, value in (("async_workers", workers), ("async_queue_size", queue_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                key = name.replace("_", "-")
                raise SignalArgumentError(
                    f"{name} must be an integer of at least 1, got {value!r}",
                    culprit=f"tool.kindling.signals.{key} / SignalBus({name}=...)",
                    remedy=f"set [tool.kindling.signals] {key} (or SignalBus({name}=...)) to 1 or more",
                )
        self._workers = workers
        self._queue_size = queue_size
        self._report = report
        self._lock = threading.Lock()
        self._pool_idle = threading.Condition(self._lock)
        self._pool: ThreadPoolExecutor | None = None
        self._pool_threads: weakref.WeakSet[threading.Thread] = weakref.WeakSet()
        self._thread_numbers = itertools.count()
        self._closed = False
        self._pending = 0  # accepted, not yet finished: pool + loop
        self._pool_pending = 0  # the pool's share of _pending
        self._tasks: set[asyncio.Task[Any]] = set()
        self.submitted = 0
        self.completed = 0
        self.dropped = 0

    # -- delivery -------------------------------------------------------------------------

    def deliver(self, entry: AsyncReceiver, sender: Any, kwargs: dict[str, Any]) -> None:
        """Schedule one call of ``entry``'s receiver; never blocks, never raises."""
        receiver = entry.resolve()
        if receiver is None:  # weakly held and gone: nothing to deliver
            return
        loop: asyncio.AbstractEventLoop | None = None
        if entry.is_coroutine:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                loop = None
        with self._lock:
            if self._closed:
                reason = "the signal bus is closed; async receiver not called"
                remedy = "emit before app.close() / bus.close()"
            elif self._pending >= self._queue_size:
                reason = (
                    f"async signal queue is full ({self._queue_size} deliveries pending); "
                    f"async receiver not called"
                )
                remedy = "make the async receivers faster or raise [tool.kindling.signals] async-queue-size"
            else:
                reason = remedy = ""
                self._pending += 1
                self.submitted += 1
                if loop is None:
                    self._pool_pending += 1
            if reason:
                self.dropped += 1
        if reason:
            self._report_failure(entry, AsyncDeliveryDropped(reason, culprit=entry.signal, remedy=remedy))
            return
        if loop is not None:
            self._schedule_on_loop(loop, entry, receiver, sender, kwargs)
        else:
            self._submit_to_pool(entry, receiver, sender, kwargs)

    def _schedule_on_loop(
        self,
        loop: asyncio.AbstractEventLoop,
        entry: AsyncReceiver,
        receiver: Callable[..., Any],
        sender: Any,
        kwargs: dict[str, Any],
    ) -> None:
        try:
            task = loop.create_task(receiver(sender, **kwargs))
        except Exception as exc:  # noqa: BLE001 - calling the coroutine function raised
            self._finish(pool=False)
            self._report_failure(entry, exc)
            return
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._task_done, entry))

    def _task_done(self, entry: AsyncReceiver, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        self._finish(pool=False)
        if task.cancelled():
            self._report_failure(
                entry,
                asyncio.CancelledError("async receiver task was cancelled before it finished"),
            )
            return
        exc = task.exception()
        if exc is not None:
            self._report_failure(entry, exc)

    def _submit_to_pool(
        self,
        entry: AsyncReceiver,
        receiver: Callable[..., Any],
        sender: Any,
        kwargs: dict[str, Any],
    ) -> None:
        try:
            future = self._ensure_pool().submit(self._run, entry, receiver, sender, kwargs)
        except RuntimeError as exc:  # the pool was shut down under us by close()
            with self._lock:
                self.dropped += 1
                self.submitted -= 1
            self._finish(pool=True)
            self._report_failure(
                entry,
                AsyncDeliveryDropped(
                    f"signal bus closed: {exc}", culprit=entry.signal, remedy="emit before app.close() / bus.close()"
                ),
            )
            return
        future.add_done_callback(functools.partial(self._future_done, entry))

    def _run(
        self,
        entry: AsyncReceiver,
        receiver: Callable[..., Any],
        sender: Any,
        kwargs: dict[str, Any],
    ) -> None:
        try:
            result = receiver(sender, **kwargs)
            if asyncio.iscoroutine(result):
                asyncio.run(result)
        except Exception as exc:  # noqa: BLE001 - reported, never raised
            self._report_failure(entry, exc)

    def _future_done(self, entry: AsyncReceiver, future: Future[None]) -> None:
        self._finish(pool=True)
        if future.cancelled():
            with self._lock:
                self.dropped += 1
            self._report_failure(
                entry,
                AsyncDeliveryDropped(
                    "the signal bus was closed before this async receiver ran (close timed out)",
                    culprit=entry.signal,
                    remedy="give close() a longer timeout, or make the async receivers faster",
                ),
            )

    def _finish(self, *, pool: bool) -> None:
        with self._lock:
            self._pending -= 1
            self.completed += 1
            if pool:
                self._pool_pending -= 1
                if self._pool_pending == 0:
                    self._pool_idle.notify_all()

    def _report_failure(self, entry: AsyncReceiver, error: BaseException) -> None:
        self._report(
            ReceiverFailure(
                signal=entry.signal,
                receiver=receiver_name(entry),
                error=error,
                async_=True,
            )
        )

    # -- the pool -------------------------------------------------------------------------

    def _ensure_pool(self) -> ThreadPoolExecutor:
        pool = self._pool
        if pool is not None:
            return pool
        with self._lock:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(
                    max_workers=self._workers,
                    thread_name_prefix="kindling-signals",
                    initializer=self._name_thread,
                )
            return self._pool

    def _name_thread(self) -> None:
        thread = threading.current_thread()
        thread.name = f"kindling-signals-{next(self._thread_numbers)}"
        self._pool_threads.add(thread)

    @property
    def started(self) -> bool:
        """True once the pool exists (the first pool delivery created it)."""
        return self._pool is not None

    @property
    def pending(self) -> int:
        """Deliveries accepted and not yet finished (pool and event loop)."""
        return self._pending

    def close(self, timeout: float | None = None) -> bool:
        """Refuse new deliveries, wait up to ``timeout`` seconds (``None``: no limit) for the
        pool's queued and running receivers, then shut the pool down and join its threads.

        Returns True when the pool drained. On timeout, queued deliveries are cancelled (and
        reported as dropped), running ones are left to finish on their own, and a warning is
        logged. Called from a pool thread, it does not wait (that would wait for itself).
        Event-loop tasks are not waited for. Idempotent.
        """
        in_pool = threading.current_thread() in self._pool_threads
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            self._closed = True
            pool = self._pool
            drained = True
            if pool is not None and not in_pool:
                while self._pool_pending > 0:
                    remaining = None if deadline is None else deadline - time.monotonic()
                    if remaining is not None and remaining <= 0:
                        drained = False
                        break
                    self._pool_idle.wait(remaining)
        if pool is None:
            return True
        if in_pool:  # cannot join ourselves: queued calls still run, threads exit after
            pool.shutdown(wait=False)
            return False
        if drained:
            pool.shutdown(wait=True)
        else:
            abandoned = self._pool_pending
            pool.shutdown(wait=False, cancel_futures=True)
            if not drained:
                _log.warning(
                    "signal bus closed after %.3gs with %d async receiver call(s) still "
                    "pending; queued calls were cancelled, running ones continue",
                    timeout,
                    abandoned,
                )
        return drained
