"""``kindling stream``: run the app's streaming pipes as long-running queries and watch them.

The queries are started through ``app.streams`` (consumers first, each on its own checkpoint,
trigger and read options) and watched from ``app.streams.status()``, which runs no Spark job:
on a terminal a table redrawn every second, elsewhere (CI logs) one line per state change and
a progress line per query at most every 10 s. The command ends when:

* Ctrl-C is pressed (the first press stops every query, each within
  ``tool.kindling.streaming.stop-timeout-seconds``; a second press aborts at once);
* ``--until-idle``: every query has processed all the input available (``app.streams.process_all_available``,
  producers first, so a consumer also processes what its producer just wrote); a query that
  fails meanwhile and is being recovered (``[tool.kindling.recovery]``) is waited for and
  drained again once restarted;
* ``--timeout S`` seconds have passed, whatever happens;
* every query has ended on its own (``availableNow`` triggers, failures recovery did not
  restart); a query waiting out a recovery's backoff has not ended.

Then every query is stopped and a summary printed: per query its final state, the micro-batches
and rows it processed during the command, its failures and recoveries, how its last failure was
classified and what recovery did, its last error, and whether its stop timed out.
``--json`` prints one JSON document with the same facts on stdout (progress lines go to stderr).

Exit status: 0 when every query ended well (a failure that was recovered is fine), 1 when one
failed without being recovered (or did not start, or its stop timed out, or ``--until-idle``
was cut short by ``--timeout``), 2 for a usage or configuration
error (an unknown ``--pipes`` name, a checkpoint that cannot be written...), 130 when
interrupted.
"""

from __future__ import annotations

import enum
import json
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from typing import Any, TextIO

import click

from kindling_core.cli._common import EXIT_PROBLEMS, app_from, pipe_ids, reporting_errors
from kindling_core.cli._stream_view import (
    FAILED_STATES,
    ChangeLines,
    LiveTable,
    Tally,
    in_recovery,
    is_alive,
    problems,
    summary_document,
    summary_lines,
)
from kindling_core.cli.run_cmd import EXIT_INTERRUPTED
from kindling_core.errors import KindlingError
from kindling_core.execution.interrupts import InterruptGate, cooperative_interrupts
from kindling_core.streaming.errors import StreamingError, StreamStartError, UnknownStreamError
from kindling_core.streaming.state import QueryState
from kindling_core.streaming.status import QueryStatus

__all__ = ["stream"]

#: How often the view is refreshed (each refresh reads ``app.streams.status()``; no Spark job).
REFRESH_SECONDS = 1.0
#: How long, after stopping, to wait for Spark to report how each run ended (a failure it
#: reported just before the stop must reach the summary).
SETTLE_SECONDS = 5.0


class Ending(str, enum.Enum):
    """Why the watch ended."""

    IDLE = "idle"  # --until-idle: every query caught up
    TIMEOUT = "timeout"  # --timeout reached
    INTERRUPTED = "interrupted"  # Ctrl-C
    ENDED = "ended"  # no query was active any more
    FAILED = "failed"  # --until-idle: a query failed while catching up
    START_FAILED = "start_failed"  # a query did not start


def _check_selection(app: Any, selected: Sequence[str] | None) -> tuple[str, ...]:
    """The app's streaming queries; an error naming ``--pipes`` for a name that is none of them."""
    names: tuple[str, ...] = app.streams.names
    if not names:
        raise StreamingError(
            f"app {app.name!r} has nothing to stream: it declares no streaming pipe and registers no query",
            culprit=f"app {app.name!r}",
            remedy="declare a pipe with @app.pipe(..., mode='streaming'); run batch pipes with kindling run",
        )
    pipes = app.catalog.pipes
    for name in selected or ():
        if name not in names:
            batch = name in pipes
            raise UnknownStreamError(
                name,
                names,
                where="--pipes",
                problem=f"pipe {name!r} is a batch pipe; kindling stream runs streaming pipes only" if batch else "",
                remedy="run batch pipes with kindling run, or declare the pipe with mode='streaming'"
                if batch
                else "pass streaming pipe ids (or names given to app.streams.register()) to --pipes",
            )
    return names


class _Drain(threading.Thread):
    """``--until-idle``: ``app.streams.process_all_available`` off the main thread (the main
    thread keeps the view and Ctrl-C responsive); sets ``wake`` when done. ``recovery_events``:
    the tally's count of failures and recovery events when it began (a drain that saw one is
    repeated)."""

    def __init__(self, streams: Any, deadline: float | None, wake: threading.Event, recovery_events: int) -> None:
        super().__init__(name="kindling-stream-until-idle", daemon=True)
        self.streams = streams
        self.deadline = deadline
        self.wake = wake
        self.recovery_events = recovery_events
        self.caught_up = False
        self.finished = threading.Event()

    def run(self) -> None:
        try:
            remaining = None if self.deadline is None else max(0.0, self.deadline - time.monotonic())
            self.caught_up = bool(self.streams.process_all_available(timeout=remaining))
        except Exception:  # noqa: BLE001 - a query that cannot drain is reported by its status
            self.caught_up = False
        finally:
            self.finished.set()
            self.wake.set()


def _started(streams: Any) -> dict[str, QueryStatus]:
    """The status of the queries this command started (the others are still ``pending``)."""
    return {key: status for key, status in streams.status().items() if status.state is not QueryState.PENDING}


def _watch(
    streams: Any,
    view: LiveTable | ChangeLines,
    gate: InterruptGate,
    wake: threading.Event,
    tally: Tally,
    *,
    until_idle: bool,
    deadline: float | None,
) -> Ending:
    """Refresh the view until Ctrl-C, idleness (``until_idle``), the deadline or the end of every query."""
    drain = _Drain(streams, deadline, wake, tally.recovery_events) if until_idle else None
    if drain is not None:
        drain.start()
    settle_by: float | None = None  # a drain fell short with no failure seen yet: wait this long for Spark's report
    while True:
        wake.clear()  # set again by a drain that finishes or a Ctrl-C from now on
        statuses = _started(streams)
        view.update(statuses)
        now = time.monotonic()
        if gate.requested:
            return Ending.INTERRUPTED
        if drain is not None and drain.finished.is_set():
            verdict = _drained(drain, statuses, tally, deadline=deadline, now=now)
            if verdict is _Verdict.AGAIN:
                settle_by = None
                drain = _Drain(streams, deadline, wake, tally.recovery_events)
                drain.start()
            elif verdict is _Verdict.SETTLE:
                settle_by = now + SETTLE_SECONDS if settle_by is None else settle_by
                if now >= settle_by:
                    return Ending.FAILED
            elif isinstance(verdict, Ending):
                return verdict
        if not any(is_alive(status, tally.of(status.name)) for status in statuses.values()):
            return Ending.ENDED
        if deadline is not None and now >= deadline:
            return Ending.TIMEOUT
        wake.wait(REFRESH_SECONDS if deadline is None else max(0.0, min(REFRESH_SECONDS, deadline - now)))


class _Verdict(enum.Enum):
    """What a finished ``--until-idle`` drain means when it does not end the watch."""

    WAIT = "wait"  # a recovery is under way: drain again once the query runs
    AGAIN = "again"  # a query failed or was recovered while it drained: drain again
    SETTLE = "settle"  # it fell short and Spark's report of why has not arrived yet


def _drained(drain: _Drain, statuses: Mapping[str, QueryStatus], tally: Tally, *, deadline: float | None, now: float) -> Ending | _Verdict:
    """The :class:`Ending` a finished drain brings, or why it brings none yet (:class:`_Verdict`)."""
    if any(in_recovery(status, tally.of(status.name)) for status in statuses.values()):
        return _Verdict.WAIT
    if any(status.state in FAILED_STATES for status in statuses.values()):
        return Ending.FAILED
    if tally.recovery_events != drain.recovery_events:
        return _Verdict.AGAIN
    if drain.caught_up:
        return Ending.IDLE
    if deadline is not None and now >= deadline:
        return Ending.TIMEOUT
    return _Verdict.SETTLE


def _stop_all(streams: Any, tally: Tally, out: TextIO) -> Mapping[str, QueryStatus]:
    """Stop every query (each within the stop timeout), wait for how their runs ended, and
    return their final status."""
    stopping = [key for key, status in _started(streams).items() if status.active or status.state is QueryState.RECOVERING]
    if stopping:
        timeout = streams.settings.stop_timeout_seconds
        click.echo(f"stopping {', '.join(stopping)} (at most {timeout:g}s each)", file=out)
    streams.stop()
    statuses = _started(streams)
    tally.wait_ended([s.run_id for s in statuses.values() if s.run_id and not s.stop_timed_out], SETTLE_SECONDS)
    return _started(streams)


_OUTCOMES = {
    Ending.IDLE: "every query caught up (--until-idle)",
    Ending.TIMEOUT: "--timeout {timeout:g}s reached",
    Ending.INTERRUPTED: "interrupted (Ctrl-C); every query was stopped",
    Ending.ENDED: "every query ended on its own",
    Ending.FAILED: "a query failed (--until-idle)",
    Ending.START_FAILED: "a query did not start; the others were stopped",
}


def _outcome_text(ending: Ending, *, seconds: float, timeout: float | None, until_idle: bool) -> str:
    text = _OUTCOMES[ending].format(timeout=timeout or 0.0)
    if ending is Ending.TIMEOUT and until_idle:
        text += " before every query caught up (--until-idle)"
    return f"stream ended after {seconds:.1f}s: {text}"


def _exit_code(ending: Ending, failing: Sequence[str], *, until_idle: bool) -> int:
    if ending is Ending.INTERRUPTED:
        return EXIT_INTERRUPTED
    if failing or ending in (Ending.FAILED, Ending.START_FAILED) or (until_idle and ending is Ending.TIMEOUT):
        return EXIT_PROBLEMS
    return 0


def _serve(app: Any, selected: Sequence[str] | None, *, until_idle: bool, timeout: float | None, out: TextIO, as_json: bool) -> int:
    """Start, watch, stop and summarise; return the exit status. Closes the app, except when a
    second Ctrl-C aborts (``KeyboardInterrupt`` propagates: the process ends with its queries)."""
    streams = app.streams
    tally = Tally()
    tally.connect(app.signals)
    tty = out.isatty()
    view: LiveTable | ChangeLines = LiveTable(out, tally, f"kindling stream {app.name}") if tty else ChangeLines(out, tally)
    wake = threading.Event()
    began = time.monotonic()
    deadline = None if timeout is None else began + timeout
    start_error: StreamStartError | None = None
    try:
        with cooperative_interrupts(wake.set, action="stopping every streaming query") as gate:
            what = ", ".join(selected) + " (and the streaming pipes they read from)" if selected else ", ".join(streams.names)
            click.echo(f"starting {what}", file=out)
            try:
                streams.start(selected)
            except StreamStartError as exc:
                start_error = exc
            ending = (
                Ending.START_FAILED if start_error else _watch(streams, view, gate, wake, tally, until_idle=until_idle, deadline=deadline)
            )
            view.close()
            statuses = _stop_all(streams, tally, out)
            app.close()
    except KindlingError:
        app.close()  # stops whatever started before the error
        raise
    seconds = time.monotonic() - began
    failing = problems(statuses, tally)
    code = _exit_code(ending, failing, until_idle=until_idle)
    outcome = _outcome_text(ending, seconds=seconds, timeout=timeout, until_idle=until_idle)
    if start_error is not None:
        click.echo(f"error: {start_error}", err=True)
    if as_json:
        document = summary_document(
            statuses,
            tally,
            outcome=ending.value,
            exit_code=code,
            seconds=round(seconds, 3),
            until_idle=until_idle,
            timeout_seconds=timeout,
            error=str(start_error) if start_error is not None else None,
        )
        click.echo(json.dumps(document, indent=2))
    else:
        if ending is Ending.INTERRUPTED:
            click.echo("interrupted: every query was stopped; the next start resumes from its checkpoint", err=True)
        click.echo(f"\n{outcome}", file=out)
        click.echo("\n".join(summary_lines(statuses, tally)), file=out)
    return code


@click.command()
@click.option("--app", "app_ref", metavar="MODULE:ATTR", help="The app to stream (default: tool.kindling.app).")
@click.option(
    "--pipes",
    help="Comma-separated streaming pipe ids (or names given to app.streams.register()) to start, "
    "with the streaming pipes they read from (default: every streaming query).",
)
@click.option(
    "--until-idle",
    is_flag=True,
    help="Stop once every query has processed all the input available (producers first), for jobs and CI; "
    "exit 0 when every query is healthy, 1 otherwise.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    metavar="SECONDS",
    help="Stop every query after this many seconds, whatever happens (with --until-idle, ending this way exits 1).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON document on stdout (progress goes to stderr).")
@click.pass_context
def stream(ctx: click.Context, app_ref: str | None, pipes: str | None, until_idle: bool, timeout: float | None, as_json: bool) -> None:
    """Run the app's streaming pipes as long-running queries and show their status.

    A table on a terminal (a line per change otherwise); Ctrl-C stops every query within the
    stop timeout (tool.kindling.streaming.stop-timeout-seconds) and prints a summary. Exit
    status: 0 ok, 1 a query failed, 2 usage or configuration error, 130 interrupted.
    """
    out = sys.stderr if as_json else sys.stdout
    with reporting_errors():
        selected = pipe_ids(pipes)
        app = app_from(ctx, app_ref, verb="stream")
        _check_selection(app, selected)
        # The session before the Ctrl-C handler: a classic SparkContext installs its own SIGINT
        # handler when it starts on the main thread.
        _ = app.spark
        try:
            code = _serve(app, selected, until_idle=until_idle, timeout=timeout, out=out, as_json=as_json)
        except KeyboardInterrupt:
            click.echo("\naborted: stopped waiting for the queries; they end with this process", err=True)
            sys.exit(EXIT_INTERRUPTED)
    if code:
        sys.exit(code)
