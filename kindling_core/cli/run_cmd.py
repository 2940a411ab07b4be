"""``kindling run`` (plan, run with progress, summarise) and ``kindling show ENTITY``."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from kindling_core.cli._common import EXIT_PROBLEMS, app_from, pipe_ids, reporting_errors
from kindling_core.cli._setting_type import SettingType
from kindling_core.errors import KindlingError
from kindling_core.execution import PipeStatus, PipeTimeoutError, RunInterrupted, RunResult
from kindling_core.execution import signals as sig

EXIT_INTERRUPTED = 130

_MARKS = {"succeeded": "ok", "failed": "FAILED", "timed_out": "TIMED OUT", "skipped": "skipped", "cancelled": "cancelled"}


class Progress:
    """Prints one line per finished pipe (status, duration); a bar prefix on a terminal."""

    def __init__(self, total: int, *, stream: Any, bar: bool) -> None:
        self.total = total
        self.done = 0
        self.stream = stream
        self.bar = bar
        self.started: dict[str, float] = {}

    def _line(self, pipe_id: str, status: str, seconds: float | None, detail: str = "") -> None:
        self.done += 1
        prefix = f"[{self.done:>{len(str(self.total))}}/{self.total}]"
        if self.bar:
            filled = int(20 * self.done / max(1, self.total))
            prefix = f"[{'#' * filled}{'.' * (20 - filled)}] {self.done}/{self.total}"
        took = f"{seconds:6.2f}s" if seconds is not None else "       "
        text = f"{prefix} {_MARKS.get(status, status):<9} {took}  {pipe_id}"
        if detail:
            text += f"  ({detail})"
        click.echo(text, file=self.stream)

    def connect(self, signals: Any) -> None:
        signals.connect(sig.PIPE_BEFORE, self.on_start)
        signals.connect(sig.PIPE_AFTER, self.on_done)
        signals.connect(sig.PIPE_FAILED, self.on_failed)
        signals.connect(sig.PIPE_SKIPPED, self.on_skipped)
        signals.connect(sig.PIPE_RETRY, self.on_retry)

    def on_start(self, sender: Any, payload: sig.PipeStarted) -> None:
        self.started.setdefault(payload.pipe_id, time.perf_counter())

    def _elapsed(self, pipe_id: str) -> float:
        return time.perf_counter() - self.started.pop(pipe_id, time.perf_counter())

    def on_done(self, sender: Any, payload: sig.PipeFinished) -> None:
        attempts = f"attempt {payload.attempt}" if payload.attempt > 1 else ""
        self._line(payload.pipe_id, "succeeded", self._elapsed(payload.pipe_id), attempts)

    def on_failed(self, sender: Any, payload: sig.PipeFailed) -> None:
        if not payload.will_retry:
            first = f"{type(payload.error).__name__}: {payload.error}".splitlines()[0][:120]
            status = "timed_out" if isinstance(payload.error, PipeTimeoutError) else "failed"
            self._line(payload.pipe_id, status, self._elapsed(payload.pipe_id), first)

    def on_retry(self, sender: Any, payload: sig.PipeRetry) -> None:
        click.echo(
            f"    retrying {payload.pipe_id} (attempt {payload.next_attempt}) in {payload.delay:.1f}s: {payload.error}",
            file=self.stream,
        )

    def on_skipped(self, sender: Any, payload: sig.PipeSkipped) -> None:
        self._line(payload.pipe_id, "skipped", None, payload.reason)


def _print_outputs(app: Any, result: RunResult, stream: Any) -> None:
    written = [o for o in result.pipes if o.status is PipeStatus.SUCCEEDED]
    if not written:
        return
    from kindling_core.spark.delta import resolve_location

    click.echo("\nDelta tables written:", file=stream)
    entities = app.catalog.entities
    where = {o.output: resolve_location(entities[o.output], app.config.root) for o in written if o.output in entities}
    width = max(len(o.output) for o in written)
    for outcome in written:
        click.echo(f"  {outcome.output:<{width}}  {where.get(outcome.output, '?')}", file=stream)
    example = written[-1].output
    command = _invocation()
    click.echo(
        f"\nQuery them with `{command} show ENTITY` (for example `{command} show "
        f"{example}`), or in Python:\n"
        f"  spark.read.format('delta').load('{where.get(example, '...')}').show()",
        file=stream,
    )


def _invocation() -> str:
    """How the user can call kindling again: ``kindling`` if that is on PATH, else the path used."""
    import os
    import shutil

    used = sys.argv[0] if sys.argv and os.path.basename(sys.argv[0]) == "kindling" else ""
    if not used or shutil.which("kindling") == os.path.abspath(used):
        return "kindling"
    relative = os.path.relpath(used)
    return relative if not relative.startswith("..") else used


def _dry_run(app: Any, plan: Any, strategy: str | None, selected: list[str] | None, as_json: bool, **options: Any) -> None:
    """Check the planned pipes' declarations, then run the plan without running anything.

    Prints the plan and what was checked; problems (each with its remedy) go to stderr and
    exit with status 1, like a run whose pipes fail. ``--json``: one document with the plan,
    the check and the dry-run result (``null`` when a problem was found). ``options`` are the
    run's ``app.run`` settings (``on_failure``, ``timeout_seconds``), checked and shown as a run would.
    """
    from kindling_core.model import check_pipes

    check = check_pipes((app.catalog.pipes[pipe_id] for pipe_id in plan.pipes), app.catalog.entities)
    result = app.run(strategy=strategy, pipes=selected, dry_run=True, **options) if check.ok else None
    if as_json:
        document = {"plan": plan.to_dict(), "check": check.to_dict(), "result": result.to_dict() if result else None}
        click.echo(json.dumps(document, indent=2))
    else:
        click.echo(plan.to_text())
        click.echo(f"\ndry run: {check.summary()}")
        if check.ok:
            click.echo("dry run: plan is valid; nothing was run or written")
    if not check.ok:
        count = len(check.problems)
        click.echo(f"dry run: {count} problem{'' if count == 1 else 's'} would fail the run:", err=True)
        for problem in check.problems:
            click.echo(f"  - {problem}", err=True)
        sys.exit(EXIT_PROBLEMS)


@click.command()
@click.option("--app", "app_ref", metavar="MODULE:ATTR", help="The app to run (default: tool.kindling.app).")
@click.option("--strategy", help="Execution strategy (default: tool.kindling.strategy).")
@click.option("--pipes", help="Comma-separated pipe ids to run (with what they need).")
@click.option(
    "--on-failure",
    type=SettingType("execution", "on_failure"),
    help="Failure policy, dashes or underscores (default: tool.kindling.execution.on-failure).",
)
@click.option(
    "--timeout",
    "timeout_seconds",
    type=SettingType("execution", "timeout_seconds"),
    help="Per-pipe timeout in seconds, 0 = none (default: tool.kindling.execution.timeout-seconds).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Print the plan and check the planned pipes' declarations (declared entities, merge keys, merge targets); "
    "run and write nothing. Exit 1 on a problem.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the run result as JSON on stdout (progress goes to stderr).")
@click.pass_context
def run(
    ctx: click.Context,
    app_ref: str | None,
    strategy: str | None,
    pipes: str | None,
    on_failure: str | None,
    timeout_seconds: float | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Plan and run the app's pipes, with one progress line per pipe and a summary."""
    stream = sys.stderr if as_json else sys.stdout
    with reporting_errors():
        selected = pipe_ids(pipes)
        app = app_from(ctx, app_ref, verb="run")
        if not app.catalog.pipes:  # before Spark starts: an empty app is a wrong reference, not a job
            reference = app_ref or app.config.app or app.name
            raise KindlingError(
                f"app {reference!r} declares no pipes: there is nothing to run",
                culprit=f"app {reference!r}",
                remedy="declare pipes with @app.pipe(...) in the app's module, or point --app / tool.kindling.app at the app that does",
            )
        plan = app.plan(strategy=strategy, pipes=selected).for_bounded_run()  # the order app.run runs
        if dry_run:
            _dry_run(app, plan, strategy, selected, as_json, on_failure=on_failure, timeout_seconds=timeout_seconds)
            return
        if not as_json:
            click.echo(f"running {plan.pipe_count} pipes in {len(plan.generations)} generations (strategy {plan.strategy})", file=stream)
        Progress(plan.pipe_count, stream=stream, bar=stream.isatty()).connect(app.signals)
        try:
            result = app.run(strategy=strategy, pipes=selected, on_failure=on_failure, timeout_seconds=timeout_seconds)
        except RunInterrupted as interrupted:
            click.echo("\ninterrupted: running Spark jobs were cancelled; committed tables are intact", err=True)
            click.echo(interrupted.result.summary_table(), err=True)
            sys.exit(EXIT_INTERRUPTED)
    if as_json:
        click.echo(json.dumps(result.to_dict(), indent=2))
    else:
        click.echo("\n" + result.summary_table(), file=stream)
        _print_outputs(app, result, stream)
    if not result.succeeded:
        sys.exit(EXIT_PROBLEMS)


@click.command()
@click.argument("entity_id")
@click.option("--app", "app_ref", metavar="MODULE:ATTR", help="The app declaring the entity (default: tool.kindling.app).")
@click.option("--limit", default=20, show_default=True, help="Rows to show.")
@click.pass_context
def show(ctx: click.Context, entity_id: str, app_ref: str | None, limit: int) -> None:
    """Print the first rows of an entity's table (and its row count)."""
    with reporting_errors():
        app = app_from(ctx, app_ref, verb=f"look up entity {entity_id!r} in")
        from kindling_core.spark.delta import EntityIO, resolve_location

        entity = app.catalog.entity(entity_id)
        frame = EntityIO(app.spark, root=app.config.root).read(entity)
        click.echo(f"{entity_id} at {resolve_location(entity, app.config.root)}: {frame.count()} rows")
        frame.show(limit, truncate=40)
