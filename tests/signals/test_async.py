"""Async receivers: event loop when the emitter runs one, bounded pool otherwise."""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import attrs
import pytest

from kindling_core.errors import ReceiverError
from kindling_core.signals import AsyncDeliveryDropped, ReceiverFailure, SignalBus, SignalSpec

DEADLINE = 10.0  # seconds; generous, only reached when something is broken


@attrs.frozen
class Progress:
    batch: int


PROGRESS = SignalSpec("streaming.progress_reported", Progress)


class Failures:
    """Collects failures (from any thread) and lets a test wait for them."""

    def __init__(self) -> None:
        self.items: list[ReceiverFailure] = []
        self._cond = threading.Condition()

    def __call__(self, failure: ReceiverFailure) -> None:
        with self._cond:
            self.items.append(failure)
            self._cond.notify_all()

    def wait_for(self, n: int) -> list[ReceiverFailure]:
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.items) >= n, timeout=DEADLINE), self.items
            return list(self.items)


@pytest.fixture
def failures() -> Failures:
    return Failures()


@pytest.fixture
def bus(failures: Failures):
    bus = SignalBus(on_receiver_error=failures)
    bus.declare(PROGRESS)
    yield bus
    bus.close(timeout=DEADLINE)


def test_without_a_loop_async_receivers_run_on_the_pool(bus: SignalBus) -> None:
    done = threading.Event()
    seen: dict[str, Any] = {}

    def receiver(sender: Any, payload: Progress) -> None:
        seen["thread"] = threading.current_thread().name
        seen["payload"] = payload
        done.set()

    bus.connect(PROGRESS, receiver, async_=True)
    bus.emit(PROGRESS, Progress(1))
    assert done.wait(DEADLINE)
    assert seen["thread"].startswith("kindling-signals-")
    assert seen["payload"] == Progress(1)


def test_coroutine_receiver_without_a_loop_runs_on_the_pool(bus: SignalBus) -> None:
    done = threading.Event()
    seen: dict[str, Any] = {}

    async def receiver(sender: Any, payload: Progress) -> None:
        await asyncio.sleep(0)
        seen["thread"] = threading.current_thread().name
        done.set()

    bus.connect(PROGRESS, receiver, async_=True)
    bus.emit(PROGRESS, Progress(1))
    assert done.wait(DEADLINE)
    assert seen["thread"].startswith("kindling-signals-")


def test_the_emitter_never_waits_for_async_receivers(bus: SignalBus) -> None:
    release = threading.Event()
    started = threading.Event()

    def slow(sender: Any, payload: Progress) -> None:
        started.set()
        release.wait(DEADLINE)

    bus.connect(PROGRESS, slow, async_=True)
    t0 = time.monotonic()
    bus.emit(PROGRESS, Progress(1))
    assert time.monotonic() - t0 < DEADLINE / 2  # returned while the receiver is blocked
    assert started.wait(DEADLINE)
    assert not release.is_set()
    release.set()


def test_with_a_running_loop_coroutines_run_on_that_loop(bus: SignalBus) -> None:
    async def main() -> tuple[asyncio.AbstractEventLoop, asyncio.AbstractEventLoop, str]:
        loop = asyncio.get_running_loop()
        seen: asyncio.Future[tuple[asyncio.AbstractEventLoop, str]] = loop.create_future()

        async def receiver(sender: Any, payload: Progress) -> None:
            seen.set_result((asyncio.get_running_loop(), threading.current_thread().name))

        bus.connect(PROGRESS, receiver, async_=True)
        bus.emit(PROGRESS, Progress(1))
        assert not seen.done()  # scheduled, not run inline
        ran_on, thread = await asyncio.wait_for(seen, DEADLINE)
        return loop, ran_on, thread

    loop, ran_on, thread = asyncio.run(main())
    assert ran_on is loop
    assert thread == threading.current_thread().name
    assert bus.stats.async_completed == 1


def test_plain_async_receivers_use_the_pool_even_with_a_loop(bus: SignalBus) -> None:
    done = threading.Event()
    seen: dict[str, str] = {}

    def receiver(sender: Any, payload: Progress) -> None:
        seen["thread"] = threading.current_thread().name
        done.set()

    bus.connect(PROGRESS, receiver, async_=True)

    async def main() -> None:
        bus.emit(PROGRESS, Progress(1))

    asyncio.run(main())
    assert done.wait(DEADLINE)
    assert seen["thread"].startswith("kindling-signals-")


def test_pool_failures_reach_the_callback_and_never_the_emitter(failures: Failures) -> None:
    bus = SignalBus(on_receiver_error=failures, propagate_receiver_errors=True)
    bus.declare(PROGRESS)

    def broken(sender: Any, payload: Progress) -> None:
        raise RuntimeError("pool boom")

    bus.connect(PROGRESS, broken, async_=True)
    bus.emit(PROGRESS, Progress(1))  # no ReceiverError even with propagation on
    [failure] = failures.wait_for(1)
    assert failure.async_ is True
    assert failure.signal == "streaming.progress_reported"
    assert failure.receiver.endswith(".broken")
    assert isinstance(failure.error, RuntimeError) and str(failure.error) == "pool boom"
    bus.close(timeout=DEADLINE)


def test_coroutine_failures_on_the_loop_reach_the_callback(
    bus: SignalBus, failures: Failures
) -> None:
    async def broken(sender: Any, payload: Progress) -> None:
        raise ValueError("loop boom")

    bus.connect(PROGRESS, broken, async_=True)

    async def main() -> None:
        bus.emit(PROGRESS, Progress(1))
        for _ in range(100):  # let the task run
            await asyncio.sleep(0)
            if failures.items:
                break

    asyncio.run(main())
    [failure] = failures.wait_for(1)
    assert failure.async_ is True
    assert isinstance(failure.error, ValueError) and str(failure.error) == "loop boom"


def test_coroutine_failures_on_the_pool_reach_the_callback(
    bus: SignalBus, failures: Failures
) -> None:
    async def broken(sender: Any, payload: Progress) -> None:
        raise ValueError("coroutine on pool")

    bus.connect(PROGRESS, broken, async_=True)
    bus.emit(PROGRESS, Progress(1))
    [failure] = failures.wait_for(1)
    assert str(failure.error) == "coroutine on pool"


def test_a_full_queue_drops_and_reports(failures: Failures) -> None:
    bus = SignalBus(on_receiver_error=failures, async_workers=1, async_queue_size=2)
    bus.declare(PROGRESS)
    release = threading.Event()
    ran: list[int] = []

    def blocked(sender: Any, payload: Progress) -> None:
        release.wait(DEADLINE)
        ran.append(payload.batch)

    bus.connect(PROGRESS, blocked, async_=True)
    for batch in range(5):
        bus.emit(PROGRESS, Progress(batch))  # never blocks
    dropped = failures.wait_for(3)
    assert bus.stats.async_dropped == 3
    assert all(isinstance(f.error, AsyncDeliveryDropped) for f in dropped)
    assert all("queue is full" in str(f.error) for f in dropped)
    release.set()
    bus.close(timeout=DEADLINE)
    assert sorted(ran) == [0, 1]
    stats = bus.stats
    assert (stats.async_submitted, stats.async_completed, stats.async_pending) == (2, 2, 0)


def test_async_and_sync_receivers_mix(bus: SignalBus) -> None:
    done = threading.Event()
    order: list[str] = []
    bus.connect(PROGRESS, lambda s, payload: done.set(), async_=True)
    bus.connect(PROGRESS, lambda s, payload: order.append("sync"))
    bus.emit(PROGRESS, Progress(1))
    assert order == ["sync"]
    assert done.wait(DEADLINE)


def test_close_waits_for_queued_receivers_and_joins_the_pool(failures: Failures) -> None:
    bus = SignalBus(on_receiver_error=failures, async_workers=2)
    bus.declare(PROGRESS)
    ran: list[int] = []
    lock = threading.Lock()

    def receiver(sender: Any, payload: Progress) -> None:
        time.sleep(0.001)
        with lock:
            ran.append(payload.batch)

    bus.connect(PROGRESS, receiver, async_=True)
    for batch in range(50):
        bus.emit(PROGRESS, Progress(batch))
    workers = [t for t in threading.enumerate() if t.name.startswith("kindling-signals-")]
    assert workers
    bus.close(timeout=DEADLINE)
    assert sorted(ran) == list(range(50))
    assert not any(t.is_alive() for t in workers)
    bus.close()  # idempotent


def test_after_close_async_deliveries_are_dropped_and_sync_receivers_still_run(
    bus: SignalBus, failures: Failures
) -> None:
    sync_calls: list[int] = []
    bus.connect(PROGRESS, lambda s, payload: None, async_=True)
    bus.connect(PROGRESS, lambda s, payload: sync_calls.append(payload.batch))
    bus.close()
    bus.emit(PROGRESS, Progress(7))
    [failure] = failures.wait_for(1)
    assert "closed" in str(failure.error)
    assert sync_calls == [7]
    assert bus.stats.async_dropped == 1


def test_close_with_a_timeout_cancels_queued_work(failures: Failures) -> None:
    bus = SignalBus(on_receiver_error=failures, async_workers=1)
    bus.declare(PROGRESS)
    release = threading.Event()
    started = threading.Event()

    def blocked(sender: Any, payload: Progress) -> None:
        started.set()
        release.wait(DEADLINE)

    bus.connect(PROGRESS, blocked, async_=True)
    for batch in range(3):
        bus.emit(PROGRESS, Progress(batch))
    assert started.wait(DEADLINE)
    bus.close(timeout=0.05)  # one running, two queued: the queued ones are cancelled
    cancelled = failures.wait_for(2)
    assert all("closed before" in str(f.error) for f in cancelled)
    release.set()


def test_async_receivers_on_two_buses_are_independent() -> None:
    one, two = SignalBus(), SignalBus()
    for b in (one, two):
        b.declare(PROGRESS)
    got_one, got_two = threading.Event(), threading.Event()
    one.connect(PROGRESS, lambda s, payload: got_one.set(), async_=True)
    two.connect(PROGRESS, lambda s, payload: got_two.set(), async_=True)
    one.emit(PROGRESS, Progress(1))
    assert got_one.wait(DEADLINE)
    one.close(timeout=DEADLINE)
    assert not got_two.is_set()
    assert not two._async.started  # the second bus never started a pool
    two.close()


def test_propagation_flag_ignores_async_failures_but_not_sync_ones(failures: Failures) -> None:
    bus = SignalBus(on_receiver_error=failures, propagate_receiver_errors=True)
    bus.declare(PROGRESS)
    bus.connect(PROGRESS, lambda s, payload: 1 / 0, async_=True)
    bus.emit(PROGRESS, Progress(1))
    failures.wait_for(1)
    bus.connect(PROGRESS, lambda s, payload: [][0])
    with pytest.raises(ReceiverError):
        bus.emit(PROGRESS, Progress(2))
    bus.close(timeout=DEADLINE)
