"""Ctrl-C during a run, with real SIGINTs and a scripted runner (no JVM).

The first SIGINT must cancel the running pipe from another thread (never by raising inside
it), start nothing new and raise ``RunInterrupted``; a second SIGINT aborts at once. The
Spark side (job groups really cancelled, no half-written Delta table) is in
``tests/spark/test_execution.py``.

Every test that presses Ctrl-C uses the ``stray_sigints`` fixture (tests/conftest.py): SIGINT
deliverable even when CI ignores it, and a SIGINT that misses kindling's handler recorded
instead of aborting the pytest session.
"""

from __future__ import annotations

import os
import signal
import threading

import pytest

from kindling_core.execution import PipeStatus, RunInterrupted
from kindling_core.execution.interrupts import cooperative_interrupts
from kindling_core.testing import RecordingErrorHandler, ScriptedRunner, fail, make_app

DEADLINE = 30.0


class BlockingRunner(ScriptedRunner):
    """``blocking`` pipes wait until cancelled (or forever, if ``ignore_cancel``)."""

    def __init__(self, blocking: set[str], *, ignore_cancel: bool = False, script=None):
        super().__init__(script)
        self.blocking = blocking
        self.ignore_cancel = ignore_cancel
        self.started = threading.Event()
        self.released = threading.Event()
        self.cancel_seen = threading.Event()
        self.cancel_threads: set[str] = set()

    def run_pipe(self, pipe, context) -> None:
        super().run_pipe(pipe, context)
        if pipe.id not in self.blocking:
            return
        self.started.set()
        if self.ignore_cancel:
            threading.Event().wait(DEADLINE)  # only a raised KeyboardInterrupt ends this early
            raise AssertionError("the second Ctrl-C did not abort the stuck pipe")
        if not self.released.wait(DEADLINE):
            raise AssertionError("the pipe was never cancelled")
        raise RuntimeError(f"Job group {context.tag} cancelled")

    def cancel(self, context) -> None:
        super().cancel(context)
        self.cancel_threads.add(threading.current_thread().name)
        self.cancel_seen.set()
        if not self.ignore_cancel:
            self.released.set()


def chain(app, *, concurrent_siblings: bool = False) -> None:
    """raw -> first -> second (and, with siblings, two more pipes next to ``first``)."""
    for entity in ("raw.a", "s.first", "s.second", "s.sib1", "s.sib2"):
        app.entity(entity, path=f"/tmp/{entity}")
    app.pipe("first", inputs=["raw.a"], output="s.first")(lambda a: a)
    app.pipe("second", inputs=["s.first"], output="s.second")(lambda a: a)
    if concurrent_siblings:
        app.pipe("sib1", inputs=["raw.a"], output="s.sib1")(lambda a: a)
        app.pipe("sib2", inputs=["raw.a"], output="s.sib2")(lambda a: a)


def interrupt_once_started(runner: BlockingRunner, presses: int = 1) -> threading.Thread:
    def press() -> None:
        if runner.started.wait(DEADLINE):
            os.kill(os.getpid(), signal.SIGINT)
            if presses == 2 and runner.cancel_seen.wait(DEADLINE):  # the first press was handled
                os.kill(os.getpid(), signal.SIGINT)

    thread = threading.Thread(target=press, daemon=True)
    thread.start()
    return thread


def test_first_ctrl_c_cancels_the_running_pipe_from_another_thread_and_starts_nothing_new(stray_sigints) -> None:
    app = make_app()
    chain(app)
    runner = BlockingRunner({"first"})
    handler_before = signal.getsignal(signal.SIGINT)
    interrupt_once_started(runner)
    with pytest.raises(RunInterrupted) as info:
        app.run(runner=runner)
    result = info.value.result
    assert result.interrupted
    assert result.outcome("first").status is PipeStatus.CANCELLED
    assert result.outcome("second").status is PipeStatus.SKIPPED
    assert result.outcome("second").reason == "run interrupted"
    assert [pipe for pipe, _ in runner.calls] == ["first"]
    assert runner.cancel_threads and "MainThread" not in runner.cancel_threads
    assert stray_sigints == []
    assert signal.getsignal(signal.SIGINT) is handler_before, "the previous SIGINT handler was not restored"


def test_second_ctrl_c_aborts_a_pipe_that_ignores_cancellation(stray_sigints) -> None:
    app = make_app()
    chain(app)
    runner = BlockingRunner({"first"}, ignore_cancel=True)
    interrupt_once_started(runner, presses=2)
    with pytest.raises(RunInterrupted) as info:
        app.run(runner=runner)
    assert info.value.result.outcome("first").status is PipeStatus.CANCELLED
    assert info.value.result.outcome("second").status is PipeStatus.SKIPPED
    assert runner.cancelled, "the first press should still have asked the runner to cancel"
    assert stray_sigints == []


def test_ctrl_c_during_a_retry_backoff_ends_the_wait_and_skips_the_retry(stray_sigints) -> None:
    app = make_app(execution={"max-retries": 3, "retry-backoff-seconds": DEADLINE})
    chain(app)
    failed_once = threading.Event()

    def flaky(attempt: int, context) -> None:
        failed_once.set()
        raise ConnectionError("connection reset by peer")

    runner = ScriptedRunner({"first": flaky})

    def press() -> None:
        if failed_once.wait(DEADLINE):  # during or just before the backoff: either way no retry
            os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press, daemon=True).start()
    with pytest.raises(RunInterrupted) as info:
        app.run(runner=runner)
    assert runner.calls == [("first", 1)], "a retry started after Ctrl-C"
    assert info.value.result.outcome("first").status is PipeStatus.CANCELLED
    assert stray_sigints == []


def test_ctrl_c_with_concurrent_pipes_cancels_all_running_and_skips_the_queued(stray_sigints) -> None:
    app = make_app()
    chain(app, concurrent_siblings=True)
    runner = BlockingRunner({"first", "sib1"})
    both_running = threading.Barrier(3, timeout=DEADLINE)
    original = runner.run_pipe

    def run_pipe(pipe, context) -> None:
        if pipe.id in runner.blocking:
            both_running.wait()
        original(pipe, context)

    runner.run_pipe = run_pipe  # type: ignore[method-assign]

    def press() -> None:
        both_running.wait()
        os.kill(os.getpid(), signal.SIGINT)

    threading.Thread(target=press, daemon=True).start()
    with pytest.raises(RunInterrupted) as info:
        app.run(runner=runner, concurrency=2)
    result = info.value.result
    statuses = {o.pipe_id: o.status for o in result.pipes}
    assert statuses["first"] is PipeStatus.CANCELLED and statuses["sib1"] is PipeStatus.CANCELLED
    assert statuses["sib2"] is PipeStatus.SKIPPED and statuses["second"] is PipeStatus.SKIPPED
    assert sorted(pipe for pipe, _ in runner.calls) == ["first", "sib1"]
    assert stray_sigints == []


def test_cancellation_failures_are_reported_and_the_run_still_stops(stray_sigints) -> None:
    class BrokenCancel(BlockingRunner):
        def cancel(self, context) -> None:
            raise ConnectionError("cluster unreachable while cancelling")

    runner = BrokenCancel({"first"})

    class ReleasingRecorder(RecordingErrorHandler):
        def handle(self, event) -> None:  # the pipe ends once the failed cancel is reported
            super().handle(event)
            if event.source == "pipe-cancel":
                runner.released.set()

    recorder = ReleasingRecorder()
    app = make_app({"recorder": recorder})
    chain(app)
    interrupt_once_started(runner)
    with pytest.raises(RunInterrupted) as info:
        app.run(runner=runner)
    assert info.value.result.outcome("first").status is PipeStatus.CANCELLED
    cancel_events = [event for event in recorder.events if event.source == "pipe-cancel"]
    assert [str(event.error) for event in cancel_events] == ["cluster unreachable while cancelling"]
    assert cancel_events[0].subject == "first"


def test_the_handler_is_only_installed_on_the_main_thread_and_never_over_an_ignored_sigint(stray_sigints) -> None:
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        with cooperative_interrupts(lambda: None) as gate:
            assert not gate.installed
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        signal.signal(signal.SIGINT, previous)

    seen: list[bool] = []

    def in_thread() -> None:
        with cooperative_interrupts(lambda: None) as gate:
            seen.append(gate.installed)

    worker = threading.Thread(target=in_thread)
    worker.start()
    worker.join(DEADLINE)
    assert seen == [False]

    with cooperative_interrupts(lambda: None, enabled=False) as gate:
        assert not gate.installed
    with cooperative_interrupts(lambda: None) as gate:
        assert gate.installed and signal.getsignal(signal.SIGINT) is not previous
    assert signal.getsignal(signal.SIGINT) is previous


def test_a_run_without_ctrl_c_is_unaffected(stray_sigints) -> None:
    app = make_app()
    chain(app)
    result = app.run(runner=ScriptedRunner({"second": fail(KeyError("col"))}))
    assert result.outcome("first").status is PipeStatus.SUCCEEDED
    assert result.outcome("second").status is PipeStatus.FAILED
    assert not result.interrupted
