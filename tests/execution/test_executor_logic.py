"""The generation executor's pure logic with a scripted runner (policies, retries, signals).

Real Spark behaviour (job cancellation, Delta atomicity, the demo) is tested in
``tests/spark/``; these tests pin down ordering and bookkeeping without a JVM.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from kindling_core import Classification, FailureClassifier, FailureKind
from kindling_core.errors import PluginItemError
from kindling_core.execution import PipeStatus, RunInterrupted
from kindling_core.execution import signals as sig
from kindling_core.testing import FakeEntryPoint, RecordingErrorHandler, ScriptedRunner, fail, make_app, plugin_from


def diamond(app) -> None:
    """a -> b, a -> c, (b, c) -> d, and an independent e."""
    for entity in ("raw.a", "s.a", "s.b", "s.c", "g.d", "raw.e", "s.e"):
        app.entity(entity, path=f"/tmp/{entity}")

    @app.pipe("p.a", inputs=["raw.a"], output="s.a")
    def a(x):
        return x

    @app.pipe("p.b", inputs=["s.a"], output="s.b")
    def b(x):
        return x

    @app.pipe("p.c", inputs=["s.a"], output="s.c")
    def c(x):
        return x

    @app.pipe("p.d", inputs=["s.b", "s.c"], output="g.d")
    def d(x, y):
        return x

    @app.pipe("p.e", inputs=["raw.e"], output="s.e")
    def e(x):
        return x


@pytest.fixture
def app():
    application = make_app(execution={"retry-backoff-seconds": 0.0})
    diamond(application)
    return application


def test_runs_every_pipe_in_plan_order(app) -> None:
    runner = ScriptedRunner()
    result = app.run(runner=runner)
    assert result.succeeded and result.status == "succeeded"
    order = [pipe for pipe, _ in runner.calls]
    assert order == [p for generation in app.plan().generations for p in generation]
    assert [o.pipe_id for o in result.pipes] == order
    assert all(o.attempts == 1 and o.status is PipeStatus.SUCCEEDED for o in result.pipes)
    assert runner.threads == {threading.current_thread().name}  # no timeout: the calling thread


def test_with_a_timeout_attempts_run_on_worker_threads(app) -> None:
    runner = ScriptedRunner()
    assert app.run(runner=runner, timeout_seconds=30).succeeded
    assert runner.threads and all(name.startswith("kindling-pipe-") for name in runner.threads)


def test_fail_fast_skips_everything_after(app) -> None:
    runner = ScriptedRunner({"p.b": fail(ValueError("bad data in b"))})
    result = app.run(runner=runner, on_failure="fail_fast")
    assert result.outcome("p.b").status is PipeStatus.FAILED
    assert "bad data in b" in result.outcome("p.b").error_message
    ran = [pipe for pipe, _ in runner.calls]
    assert ran[-1] == "p.b"  # nothing ran after the failure
    skipped = {o.pipe_id for o in result.by_status("skipped")}
    assert skipped == {"p.a", "p.b", "p.c", "p.d", "p.e"} - set(ran)
    assert "p.d" in skipped
    assert all("run stopped after 'p.b' failed (fail_fast)" == result.outcome(p).reason for p in skipped)
    assert not result.succeeded


def test_skip_dependents_runs_independent_pipes(app) -> None:
    runner = ScriptedRunner({"p.b": fail(ValueError("bad"))})
    result = app.run(runner=runner, on_failure="skip_dependents")
    assert result.outcome("p.d").status is PipeStatus.SKIPPED
    assert "upstream pipe 'p.b' failed" in result.outcome("p.d").reason
    for other in ("p.a", "p.c", "p.e"):
        assert result.outcome(other).status is PipeStatus.SUCCEEDED


def test_continue_runs_dependents_too(app) -> None:
    runner = ScriptedRunner({"p.b": fail(ValueError("bad"))})
    result = app.run(runner=runner, on_failure="continue")
    assert result.outcome("p.d").status is PipeStatus.SUCCEEDED
    assert result.counts == {"succeeded": 4, "failed": 1}


def test_policy_from_configuration_and_unknown_policy() -> None:
    from kindling_core.errors import ConfigError

    application = make_app(execution={"on-failure": "skip-dependents"})
    diamond(application)
    result = application.run(runner=ScriptedRunner({"p.a": fail(ValueError("x"))}))
    assert result.on_failure == "skip_dependents"
    assert result.outcome("p.e").status is PipeStatus.SUCCEEDED
    with pytest.raises(ConfigError, match=r"app\.run\(on_failure=\.\.\.\).*Did you mean 'fail_fast'"):
        application.run(runner=ScriptedRunner(), on_failure="fail_fst")


def test_transient_errors_are_retried_with_backoff_and_permanent_ones_are_not() -> None:
    application = make_app(execution={"max-retries": 3, "retry-backoff-seconds": 0.02})
    diamond(application)
    runner = ScriptedRunner({"p.a": fail(ConnectionError("connection reset by peer"), times=2), "p.e": fail(KeyError("col"))})
    retries = []
    application.signals.connect(sig.PIPE_RETRY, lambda s, payload: retries.append(payload))
    result = application.run(runner=runner, on_failure="continue")
    a = result.outcome("p.a")
    assert a.status is PipeStatus.SUCCEEDED and a.attempts == 3
    assert [r.next_attempt for r in retries] == [2, 3]
    assert [r.strategy for r in retries] == ["restart-with-backoff"] * 2
    assert 0 <= retries[0].delay <= 0.02 and 0 <= retries[1].delay <= 0.04  # full jitter under the doubling ceiling
    e = result.outcome("p.e")
    assert e.status is PipeStatus.FAILED and e.attempts == 1 and e.classification.kind is FailureKind.PERMANENT


def test_error_handlers_receive_every_failure(app) -> None:
    recorder = RecordingErrorHandler()
    application = make_app({"rec": recorder}, execution={"max-retries": 1, "retry-backoff-seconds": 0.0})
    diamond(application)
    application.run(runner=ScriptedRunner({"p.a": fail(TimeoutError("slow")), "p.e": fail(ValueError("v"))}), on_failure="continue")
    seen = [(e.subject, e.context["attempt"], e.context["will_retry"]) for e in recorder.events]
    assert seen == [("p.a", 1, True), ("p.a", 2, False), ("p.e", 1, False)]


def test_signals_in_order(app) -> None:
    events: list[str] = []
    for spec in sig.EMITS:
        app.signals.connect(spec, lambda sender, payload, name=spec.name: events.append(name + ":" + getattr(payload, "pipe_id", "")))
    app.run(runner=ScriptedRunner({"p.e": fail(ValueError("x"))}), on_failure="skip_dependents")
    assert events[0] == "execution.before_run:"
    assert events[-2:] == ["execution.after_run:", "execution.run_failed:"]
    assert events.index("pipe.before_run:p.a") < events.index("pipe.after_run:p.a") < events.index("pipe.before_run:p.b")
    assert "pipe.run_failed:p.e" in events


def test_timeout_cancels_the_attempt(app) -> None:
    release = threading.Event()

    def hang(attempt: int, context) -> None:
        context.cancelled.wait(30)  # a well-behaved runner stops when cancelled
        release.set()

    runner = ScriptedRunner({"p.e": hang})
    result = app.run(runner=runner, timeout_seconds=0.2, on_failure="continue")
    outcome = result.outcome("p.e")
    assert outcome.status is PipeStatus.TIMED_OUT and outcome.attempts == 1
    assert "timed out after 0.2s" in outcome.error_message and "cancelled" in outcome.error_message
    assert release.is_set()
    assert len(runner.cancelled) == 1 and "p.e" in runner.cancelled[0]


def test_keyboard_interrupt_cancels_and_reports_partial_result(app) -> None:
    def interrupt(attempt: int, context) -> None:
        raise KeyboardInterrupt

    with pytest.raises(RunInterrupted) as info:
        app.run(runner=ScriptedRunner({"p.b": interrupt}))
    result = info.value.result
    assert result.interrupted and result.status == "interrupted"
    assert result.outcome("p.b").status is PipeStatus.CANCELLED
    assert result.outcome("p.d").status is PipeStatus.SKIPPED


def test_dry_run_runs_nothing(app) -> None:
    runner = ScriptedRunner()
    result = app.run(runner=runner, dry_run=True)
    assert runner.calls == []
    assert {o.status for o in result.pipes} == {PipeStatus.PLANNED}
    assert result.succeeded


def test_two_runs_at_once_do_not_interfere(app) -> None:
    gate = threading.Barrier(2, timeout=10)

    def meet(attempt: int, context) -> None:
        gate.wait()

    results = {}

    def go(name: str, policy: str) -> None:
        script = {"p.e": meet}
        if name == "failing":
            script["p.a"] = fail(ValueError("only in one run"))
        results[name] = app.run(runner=ScriptedRunner(script), on_failure=policy)

    threads = [threading.Thread(target=go, args=("failing", "skip_dependents")), threading.Thread(target=go, args=("clean", "fail_fast"))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert results["clean"].succeeded
    assert results["failing"].outcome("p.d").status is PipeStatus.SKIPPED
    assert results["failing"].run_id != results["clean"].run_id


def test_summary_table_mentions_every_pipe(app) -> None:
    result = app.run(runner=ScriptedRunner({"p.c": fail(ValueError("broken c"))}), on_failure="continue")
    table = result.summary_table()
    for outcome in result.pipes:
        assert outcome.pipe_id in table
    assert "broken c" in table and "failed" in table.splitlines()[-1]


def wide(app, n: int = 4) -> None:
    for i in range(n):
        app.entity(f"raw.w{i}", path=f"/tmp/raw/w{i}")
        app.entity(f"out.w{i}", path=f"/tmp/out/w{i}")

        app.pipe(f"w.p{i}", inputs=[f"raw.w{i}"], output=f"out.w{i}")(lambda x: x)


def test_concurrency_runs_a_generation_at_once_and_records_in_plan_order() -> None:
    app = make_app()
    wide(app, 4)
    together = threading.Barrier(4, timeout=10)
    runner = ScriptedRunner({f"w.p{i}": (lambda attempt, context: together.wait()) for i in range(4)})
    result = app.run(runner=runner, concurrency=4)
    assert result.succeeded
    assert [o.pipe_id for o in result.pipes] == ["w.p0", "w.p1", "w.p2", "w.p3"]
    with pytest.raises(threading.BrokenBarrierError):
        threading.Barrier(2, timeout=0.5).wait()  # sanity: a lone waiter does time out


def test_sequential_by_default_never_overlaps() -> None:
    app = make_app()
    wide(app, 3)
    running = []
    overlaps = []

    def track(attempt, context):
        running.append(context.pipe_id)
        if len(running) > 1:
            overlaps.append(tuple(running))
        time.sleep(0.01)
        running.remove(context.pipe_id)

    app.run(runner=ScriptedRunner({f"w.p{i}": track for i in range(3)}))
    assert overlaps == []


def test_concurrent_failure_and_fail_fast_stops_after_the_generation() -> None:
    app = make_app()
    wide(app, 3)
    app.entity("gold.after", path="/tmp/gold/after")
    app.pipe("after", inputs=["out.w0"], output="gold.after")(lambda x: x)
    result = app.run(runner=ScriptedRunner({"w.p1": fail(ValueError("bad w1"))}), concurrency=3)
    assert result.outcome("w.p1").status is PipeStatus.FAILED
    assert result.outcome("w.p0").status is PipeStatus.SUCCEEDED
    assert result.outcome("w.p2").status is PipeStatus.SUCCEEDED
    assert result.outcome("after").status is PipeStatus.SKIPPED


def test_concurrent_interrupt_cancels_every_running_attempt(stray_sigints) -> None:
    app = make_app()
    wide(app, 3)
    started = threading.Barrier(4, timeout=10)

    def hang(attempt, context):
        started.wait()
        if context.cancelled.wait(30):  # like a Spark action whose job group was cancelled
            raise RuntimeError("[SPARK_JOB_CANCELLED] job cancelled")

    runner = ScriptedRunner({f"w.p{i}": hang for i in range(3)})

    def interrupt_main():
        started.wait()
        import _thread

        _thread.interrupt_main()

    threading.Thread(target=interrupt_main, daemon=True).start()
    with pytest.raises(RunInterrupted) as info:
        app.run(runner=runner, concurrency=3)
    assert {o.status for o in info.value.result.pipes} == {PipeStatus.CANCELLED}
    assert len(set(runner.cancelled)) == 3 and stray_sigints == []


# ----------------------------------------------------------------------------- classification


def classifier_plugin(classify: Callable) -> FakeEntryPoint:
    item = FailureClassifier(name="acme-quota", description="ACME quota errors", classify=classify)
    return FakeEntryPoint("acme", plugin_from(kindling_failure_classifiers=lambda: [item]), distribution="acme-kindling", version="1.2.0")


def test_the_deciding_classification_reaches_the_outcome_the_signal_and_the_error_event() -> None:
    recorder = RecordingErrorHandler()
    application = make_app([FakeEntryPoint("rec", recorder)])
    diamond(application)
    failed = []
    application.signals.connect(sig.PIPE_FAILED, lambda sender, payload: failed.append(payload))
    result = application.run(runner=ScriptedRunner({"p.e": fail(KeyError("col"))}), on_failure="continue")
    decided = Classification(FailureKind.PERMANENT, "KeyError is a programming or data error", "generic")
    assert result.outcome("p.e").classification == decided
    assert result.outcome("p.e").to_dict()["classification"] == {
        "kind": "permanent",
        "classifier": "generic",
        "reason": "KeyError is a programming or data error",
    }
    assert result.outcome("p.a").to_dict()["classification"] is None
    [payload] = failed
    assert payload.classification == decided and payload.kind == "permanent"
    [event] = recorder.events
    assert (event.context["classification"], event.context["classifier"], event.context["classification_reason"]) == (
        "permanent",
        "generic",
        "KeyError is a programming or data error",
    )


@pytest.mark.parametrize(
    ("classify", "problem", "cause"),
    [
        (lambda context: {}["quota"], "raised KeyError: 'quota'", KeyError),
        (lambda context: "transient", "returned str 'transient', not a Classification or None", type(None)),
    ],
)
def test_a_broken_classifier_is_reported_attributed_and_the_next_one_decides(classify, problem, cause) -> None:
    recorder = RecordingErrorHandler()
    application = make_app(
        [classifier_plugin(classify), FakeEntryPoint("rec", recorder)],
        config={"failure-classifiers": {"order": ["acme-quota", "..."]}},
    )
    diamond(application)
    result = application.run(runner=ScriptedRunner({"p.e": fail(KeyError("col"))}), on_failure="continue")
    assert result.outcome("p.e").classification.classifier == "generic"
    item_event, pipe_event = recorder.events
    error = item_event.error
    assert isinstance(error, PluginItemError) and type(error.__cause__) is cause
    assert str(error).splitlines()[0] == (
        f"failure classifier 'acme-quota' of plugin acme (acme-kindling 1.2.0) {problem} while classifying the "
        "failure of pipe 'p.e' (attempt 1); it was skipped and the rest of the failure-classifiers went on"
    )
    assert (item_event.source, item_event.subject) == ("plugin-item", "acme-quota")
    assert {k: item_event.context[k] for k in ("family", "plugin", "distribution", "version")} == {
        "family": "failure-classifiers",
        "plugin": "acme",
        "distribution": "acme-kindling",
        "version": "1.2.0",
    }
    assert "disable = ['acme-quota']" in str(error)
    assert pipe_event.source == "pipe" and pipe_event.subject == "p.e"
