"""What ``kindling stream`` shows: the live table, change lines, the summary and the JSON document.

Everything here is drawn from :class:`~kindling_core.streaming.status.QueryStatus` snapshots
(``app.streams.status()``, which runs no Spark job) plus a :class:`Tally` of the streaming
signals seen during the command, so the view never talks to Spark.

* :class:`LiveTable`: on a terminal, one row per query (state, batch, rows this run, rows/s,
  lag, last progress, failures, recovery), redrawn in place.
* :class:`ChangeLines`: elsewhere (CI logs), one line when a query changes state, one line per
  recovery event (a restart scheduled, a recovery confirmed, the budget exhausted, recovery
  declined) and one progress line per query at most every ``progress_every`` seconds.
* :func:`summary_lines` / :func:`summary_document`: the end of the command, per query: final
  state, batches and rows this run, failures and recoveries, how the last failure was
  classified and what recovery did about it, last error, whether its stop timed out.

A failure that was recovered (the restarted run proved healthy, ``streaming.recovered``) is not
a problem: the command still exits 0 for it. One that was not (recovery declined or exhausted,
or the command ended while the query was still recovering) is.

*Lag* is how far the last micro-batch's end offsets were behind the latest offsets its sources
had available (see :func:`lag_text`); it is as of that batch.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, TextIO

import attrs
import click

from kindling_core.signals import SignalBus
from kindling_core.streaming import signals as sig
from kindling_core.streaming.state import QueryState
from kindling_core.streaming.status import QueryStatus

__all__ = [
    "ALIVE_STATES",
    "FAILED_STATES",
    "ChangeLines",
    "LiveTable",
    "Tally",
    "headline",
    "in_recovery",
    "is_alive",
    "lag_text",
    "problem_of",
    "problems",
    "recovery_text",
    "summary_document",
    "summary_lines",
]

#: States a query ends in when something went wrong.
FAILED_STATES = frozenset({QueryState.FAILED, QueryState.EXHAUSTED})
#: States of a query that runs or will run again by itself (a recovery waiting out its backoff).
ALIVE_STATES = frozenset({QueryState.STARTING, QueryState.RUNNING, QueryState.RECOVERING})


# --------------------------------------------------------------------------- counting


@attrs.define
class QueryTally:
    """What one query did during the command (from the ``streaming.*`` signals)."""

    batches: int = 0
    rows: int = 0
    runs: set[str] = attrs.field(factory=set)
    ended: dict[str, str | None] = attrs.field(factory=dict)
    """run id -> the exception it ended with (``None``: ended cleanly)."""
    recovered: set[str] = attrs.field(factory=set)
    """The failed runs a later recovery made good (``streaming.recovered``)."""
    recovery: str | None = None
    """The last recovery event: ``scheduled``, ``started``, ``recovered``, ``exhausted`` or
    ``declined`` (``None``: none during the command)."""
    deciding_since: float | None = None
    """When (``time.monotonic``) a run failed that the manager has not yet said what recovery
    does about (``None``: nothing pending)."""
    notes: list[str] = attrs.field(factory=list)
    """One line per recovery event, in order (what :class:`ChangeLines` prints)."""


def _decided(decision: Any, error: str) -> str:
    """``transient failure (spark-errors: matched ...): ConnectionError: ...`` from a recovery decision."""
    classification = decision.classification
    by = f" ({classification.classifier}: {classification.reason})" if classification.classifier else ""
    return f"{classification.kind.value} failure{by}: {headline(error)}"


def _attempts(count: int) -> str:
    return f"{count} attempt" if count == 1 else f"{count} attempts"


class Tally:
    """Counts micro-batches and rows per query (by Spark query name), records how each run
    ended, and follows recoveries, from ``streaming.after_start``, ``streaming.progress_made``,
    ``streaming.query_terminated`` and the ``streaming.recovery_*`` / ``streaming.recovered``
    signals. Receivers run on the manager's threads; reads are locked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queries: dict[str, QueryTally] = {}
        self._changed = threading.Condition(self._lock)
        self._recovery_events = 0  # failures and recovery events of every query so far

    @property
    def recovery_events(self) -> int:
        """How many failures and recovery events (of any query) were seen so far: a change
        means some query failed, or is being or was recovered, in between."""
        with self._lock:
            return self._recovery_events

    def connect(self, signals: SignalBus) -> None:
        signals.connect(sig.AFTER_START, self._started)
        signals.connect(sig.PROGRESS_MADE, self._progressed)
        signals.connect(sig.QUERY_TERMINATED, self._terminated)
        signals.connect(sig.QUERY_FAILED, self._failed)
        signals.connect(sig.RECOVERY_SCHEDULED, self._scheduled)
        signals.connect(sig.RECOVERY_STARTED, self._recovering)
        signals.connect(sig.RECOVERED, self._recovered)
        signals.connect(sig.RECOVERY_EXHAUSTED, self._exhausted)
        signals.connect(sig.RECOVERY_DECLINED, self._declined)

    def _entry(self, name: str) -> QueryTally:
        return self._queries.setdefault(name, QueryTally())

    def _started(self, sender: Any, payload: sig.StreamStarted) -> None:
        with self._lock:
            self._entry(payload.name).runs.add(payload.run_id)

    def _progressed(self, sender: Any, payload: sig.StreamProgress) -> None:
        with self._lock:
            entry = self._entry(payload.name)
            entry.batches += 1
            entry.rows += payload.progress.num_input_rows

    def _terminated(self, sender: Any, payload: sig.StreamTerminated) -> None:
        with self._changed:
            self._entry(payload.name).ended[payload.run_id] = payload.exception
            self._changed.notify_all()

    def _failed(self, sender: Any, payload: sig.StreamTerminated) -> None:
        with self._lock:
            self._recovery_events += 1
            if not payload.requested:  # a failure kindling did not cause: the manager judges it
                self._entry(payload.name).deciding_since = time.monotonic()

    def _note(self, name: str, event: str, line: str) -> None:
        with self._lock:
            self._recovery_events += 1
            entry = self._entry(name)
            entry.recovery = event
            entry.deciding_since = None
            entry.notes.append(line)

    def _scheduled(self, sender: Any, payload: sig.StreamRecoveryScheduled) -> None:
        what = f"recovering (attempt {payload.attempt}/{payload.max_attempts} in {payload.delay:.1f}s)"
        self._note(payload.name, "scheduled", f"{what}: {_decided(payload.decision, payload.error)}")

    def _recovering(self, sender: Any, payload: sig.StreamRecovering) -> None:
        with self._lock:
            self._recovery_events += 1
            self._entry(payload.name).recovery = "started"

    def _recovered(self, sender: Any, payload: sig.StreamRecovered) -> None:
        with self._lock:
            entry = self._entry(payload.name)
            entry.recovered.update(run for run, error in entry.ended.items() if error)
        batches = "micro-batch" if payload.batches == 1 else "micro-batches"
        proof = f"{payload.batches} healthy {batches}" if payload.healthy_by == "batches" else "a healthy period"
        self._note(payload.name, "recovered", f"recovered after {_attempts(payload.attempts)} in {payload.seconds:.1f}s ({proof})")

    def _exhausted(self, sender: Any, payload: sig.StreamRecoveryExhausted) -> None:
        line = f"exhausted after {_attempts(payload.attempts)} (budget {payload.max_attempts}): {_decided(payload.decision, payload.error)}"
        self._note(payload.name, "exhausted", line)

    def _declined(self, sender: Any, payload: sig.StreamRecoveryDeclined) -> None:
        action = payload.decision.action
        by = f" by {action.strategy}" if action.strategy else ""
        line = f"not recovered ({action.kind.value}{by}: {action.reason}): {_decided(payload.decision, payload.error)}"
        self._note(payload.name, "declined", line)

    def of(self, name: str) -> QueryTally:
        """A copy of what query ``name`` did so far."""
        with self._lock:
            entry = self._queries.get(name, QueryTally())
            return attrs.evolve(
                entry, runs=set(entry.runs), ended=dict(entry.ended), recovered=set(entry.recovered), notes=list(entry.notes)
            )

    def wait_ended(self, runs: Iterable[str], timeout: float) -> bool:
        """Wait (at most ``timeout`` s) until each of ``runs`` started during the command has
        reported its end, so a failure Spark reported just before the stop is not missed."""
        with self._changed:
            started = {run for entry in self._queries.values() for run in entry.runs}
            waiting = set(runs) & started

            def all_ended() -> bool:
                ended = {run for entry in self._queries.values() for run in entry.ended}
                return waiting <= ended

            return self._changed.wait_for(all_ended, timeout)


def _unresolved(tally: QueryTally) -> str | None:
    """The exception of the last run that failed with nothing made good after it: neither a
    recovery (``streaming.recovered``) nor a later run that ended cleanly."""
    unresolved = None
    for run, error in tally.ended.items():
        if error is None:
            unresolved = None
        elif run not in tally.recovered:
            unresolved = error
    return unresolved


#: How long a failure may wait for the manager's decision before the view stops expecting one
#: (the classifier and recovery-strategy chains take about a millisecond; a plugin may be slow).
JUDGING_SECONDS = 10.0


def _judging(tally: QueryTally) -> bool:
    return tally.deciding_since is not None and time.monotonic() - tally.deciding_since < JUDGING_SECONDS


def is_alive(status: QueryStatus, tally: QueryTally) -> bool:
    """The query runs, or will run again by itself: starting, running, waiting out a recovery's
    backoff, or failed a moment ago and being judged (a restart may follow)."""
    return status.state in ALIVE_STATES or _judging(tally)


def in_recovery(status: QueryStatus, tally: QueryTally) -> bool:
    """A failure of the query is being judged, or its restart is waiting or starting."""
    return status.state in (QueryState.RECOVERING, QueryState.STARTING) or _judging(tally)


def problem_of(status: QueryStatus, tally: QueryTally) -> str | None:
    """Why this query did not end well (``None``: it did): it failed (or exhausted its
    recovery), a run ended with an exception that nothing made good afterwards (a recovery, or
    a later run that ended cleanly; even a run kindling was stopping), or its stop timed out."""
    ended_with = _unresolved(tally)
    if status.state in FAILED_STATES or ended_with:
        return status.last_error or ended_with or str(status.state)
    if status.stop_timed_out:
        return status.last_error or "its stop timed out"
    return None


# --------------------------------------------------------------------------- cells


def _offset_gap(end: str | None, latest: str | None) -> tuple[int, str] | None:
    """``(gap, unit)`` between two offsets of one source, when their JSON says."""
    try:
        first, last = json.loads(end or "null"), json.loads(latest or "null")
    except ValueError:
        return None
    if isinstance(first, dict) and isinstance(last, dict) and "reservoirVersion" in last:  # Delta
        gap = int(last["reservoirVersion"]) - int(first.get("reservoirVersion", 0))
        return (gap, "version" if gap == 1 else "versions") if gap > 0 else None
    pairs = _numeric_pairs(first, last)
    if not pairs:
        return None
    gap = sum(max(0, int(newest - old)) for old, newest in pairs)
    return (gap, "") if gap > 0 else None


def _numeric_pairs(first: Any, last: Any) -> list[tuple[float, float]]:
    if isinstance(first, bool) or isinstance(last, bool):
        return []
    if isinstance(first, (int, float)) and isinstance(last, (int, float)):
        return [(first, last)]
    if isinstance(first, dict) and isinstance(last, dict):
        return [pair for key in last if key in first for pair in _numeric_pairs(first[key], last[key])]
    return []


def lag_text(status: QueryStatus) -> str:
    """How far behind the last micro-batch left the query: ``-`` before the first batch, ``0``
    when every source was read up to its latest available offset (or Spark did not say), else
    Delta versions (``2 versions``), the sum of numeric offsets (Kafka: messages), or
    ``behind`` when the offsets' shape says no more."""
    if status.batch_id is None:
        return "-"
    behind = [source for source in status.sources if not source.caught_up]
    if not behind:
        return "0"
    gaps = [_offset_gap(source.end_offset, source.latest_offset) for source in behind]
    if any(gap is None for gap in gaps) or len({gap[1] for gap in gaps if gap}) != 1:
        return "behind"
    total = sum(int(gap[0]) for gap in gaps if gap)
    unit = next(gap[1] for gap in gaps if gap)
    return f"{total} {unit}".strip()


def recovery_text(status: QueryStatus, tally: QueryTally) -> str:
    """Where the query is in recovering from failures: ``recovering (attempt 2/5 in 0.8s)``
    during a backoff, ``restarted (attempt 2/5)`` until the restarted run proves healthy,
    ``recovered``, ``exhausted after 5 attempts``, ``not recovered (give-up)``; ``-`` when
    nothing failed."""
    attempt = f"attempt {status.recovery_attempts}/{status.recovery_limit}"
    if status.state is QueryState.RECOVERING:
        wait = "" if status.next_attempt_at is None else f" in {max(0.0, status.next_attempt_at - status.taken_at):.1f}s"
        return f"recovering ({attempt}{wait})"
    if status.state is QueryState.EXHAUSTED:
        return f"exhausted after {_attempts(status.recovery_attempts)}"
    if tally.recovery == "started" and status.state in ALIVE_STATES:
        return f"restarted ({attempt})"
    if tally.recovery == "recovered":
        return "recovered" if status.recoveries <= 1 else f"recovered ({status.recoveries}x)"
    if status.state is QueryState.FAILED and status.recovery_action:
        return f"not recovered ({status.recovery_action})"
    return "-"


def _age(status: QueryStatus) -> str:
    if status.last_progress_at is None:
        return "-"
    seconds = max(0.0, status.taken_at - status.last_progress_at)
    return f"{seconds:.0f}s ago" if seconds < 120 else f"{seconds / 60:.0f}m ago"


#: ``Caused by: pkg.SomeException: message`` / ``pkg.SomeError: message``, the lines naming an exception.
_EXCEPTION_LINE = re.compile(r"^(?:Caused by: )?(?:[\w$]+\.)*([\w$]*(?:Error|Exception)): (.+)$")
#: Messages of the wrappers around a foreachBatch function's error (py4j's proxy, Spark's).
_WRAPPERS = ("An exception was raised by the Python Proxy",)


def headline(text: str | None, width: int = 160) -> str:
    """The telling line of an error text: the innermost exception it names (Spark's and py4j's
    wrappers put the cause last: the last ``Caused by:`` line, the last line of a Python
    traceback), as ``Name: message``; else its first line. Cut to ``width`` characters."""
    lines = [line.strip() for line in (text or "").strip().splitlines() if line.strip()]
    named = [match for match in map(_EXCEPTION_LINE.match, lines) if match and not match.group(2).startswith(_WRAPPERS)]
    line = f"{named[-1].group(1)}: {named[-1].group(2)}" if named else (lines[0] if lines else "")
    return line if len(line) <= width else line[: width - 3] + "..."


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], right: frozenset[int]) -> list[str]:
    """Aligned columns (``right``: the indexes of right-aligned ones)."""
    widths = [max(len(cell) for cell in column) for column in zip(header, *rows, strict=True)]

    def line(cells: Sequence[str]) -> str:
        pairs = enumerate(zip(cells, widths, strict=True))
        return "  ".join(cell.rjust(width) if index in right else cell.ljust(width) for index, (cell, width) in pairs).rstrip()

    return [line(header), *(line(row) for row in rows)]


# --------------------------------------------------------------------------- live views


class LiveTable:
    """The terminal view: the whole table redrawn in place at each :meth:`update`."""

    HEADER = ("QUERY", "STATE", "BATCH", "ROWS", "ROWS/S", "LAG", "LAST PROGRESS", "FAILURES", "RECOVERY")

    def __init__(self, out: TextIO, tally: Tally, title: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.out = out
        self.tally = tally
        self.title = title
        self.clock = clock
        self.began = clock()
        self._drawn = 0

    def render(self, statuses: Mapping[str, QueryStatus]) -> list[str]:
        rows = []
        for key, status in statuses.items():
            counted = self.tally.of(status.name)
            rows.append(
                (
                    key,
                    str(status.state),
                    "-" if status.batch_id is None else str(status.batch_id),
                    str(counted.rows),
                    f"{status.processed_rows_per_second:.1f}",
                    lag_text(status),
                    _age(status),
                    str(status.failures),
                    recovery_text(status, counted),
                )
            )
        elapsed = self.clock() - self.began
        return [f"{self.title}: {elapsed:.0f}s (Ctrl-C stops every query)", *_table(self.HEADER, rows, frozenset({2, 3, 4, 7}))]

    def update(self, statuses: Mapping[str, QueryStatus]) -> None:
        lines = self.render(statuses)
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")  # back to the table's first line, clear below
        self.out.write("\n".join(lines) + "\n")
        self.out.flush()
        self._drawn = len(lines)

    def close(self) -> None:
        """Leave the last table on screen."""
        self._drawn = 0


class ChangeLines:
    """The log view: a line per state change and per recovery event, and per query a progress
    line when it finished micro-batches since the last one, at most every ``progress_every``
    seconds.

    Recovery events come from the signals (a restart after a short backoff happens between two
    refreshes, so the states alone would not show it): ``recovering`` and ``exhausted`` are said
    by their event lines, not again as states."""

    def __init__(
        self,
        out: TextIO,
        tally: Tally,
        *,
        progress_every: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.out = out
        self.tally = tally
        self.progress_every = progress_every
        self.clock = clock
        self.began = clock()
        self._states: dict[str, QueryState] = {}
        self._batches: dict[str, tuple[int, float]] = {}  # key -> batches counted when last shown, when
        self._notes: dict[str, int] = {}  # key -> recovery notes already shown

    def _echo(self, key: str, text: str) -> None:
        click.echo(f"[{self.clock() - self.began:6.1f}s] {key}  {text}", file=self.out)

    def update(self, statuses: Mapping[str, QueryStatus]) -> None:
        now = self.clock()
        for key, status in statuses.items():
            counted = self.tally.of(status.name)
            shown_notes = self._notes.get(key, 0)
            for note in counted.notes[shown_notes:]:
                self._echo(key, note)
            self._notes[key] = len(counted.notes)
            if self._states.get(key) is not status.state:
                self._states[key] = status.state
                said = status.state in (QueryState.RECOVERING, QueryState.EXHAUSTED) or (
                    status.state is QueryState.FAILED and counted.recovery == "declined" and len(counted.notes) > shown_notes
                )
                error = f": {headline(status.last_error)}" if status.state in FAILED_STATES and status.last_error else ""
                if not said:
                    self._echo(key, f"{status.state}{error}")
            shown, at = self._batches.get(key, (0, float("-inf")))
            if counted.batches != shown and now - at >= self.progress_every:
                self._batches[key] = (counted.batches, now)
                self._echo(
                    key,
                    f"{counted.batches} batches, {counted.rows} rows so far; last batch {status.batch_id}: "
                    f"{status.processed_rows_per_second:.1f} rows/s, lag {lag_text(status)}",
                )

    def close(self) -> None:
        pass


# --------------------------------------------------------------------------- the end


def _last_failure(status: QueryStatus) -> str:
    """``transient (spark-errors: matched ...) -> restart (restart-with-backoff: ...)``: how the
    last failure was classified and what recovery decided."""
    classified = f"{status.classification} ({status.classifier}: {status.classification_reason})"
    if not status.recovery_action:
        return classified
    by = f"{status.recovery_strategy}: " if status.recovery_strategy else ""
    return f"{classified} -> {status.recovery_action} ({by}{status.recovery_reason})"


def summary_lines(statuses: Mapping[str, QueryStatus], tally: Tally) -> list[str]:
    """The summary table (state, batches and rows this run, failures and recoveries, last
    error), each error's first line, and for each query that failed how its last failure was
    classified and what recovery did."""
    rows, errors, recoveries = [], [], []
    for key, status in statuses.items():
        counted = tally.of(status.name)
        problem = problem_of(status, counted)
        state = str(status.state) + (" (stop timed out)" if status.stop_timed_out else "")
        counts = (str(counted.batches), str(counted.rows), str(status.failures), str(status.recoveries))
        rows.append((key, state, *counts, headline(problem, 60) or "-"))
        if problem:
            errors.append(f"  {key}: {headline(problem, 400)}")
        if status.classification:
            recoveries.append(f"  {key}: {_last_failure(status)}")
    table = _table(("QUERY", "STATE", "BATCHES", "ROWS", "FAILURES", "RECOVERED", "LAST ERROR"), rows, frozenset({2, 3, 4, 5}))
    return table + (["", "errors:", *errors] if errors else []) + (["", "last failure:", *recoveries] if recoveries else [])


def summary_document(statuses: Mapping[str, QueryStatus], tally: Tally, **facts: Any) -> dict[str, Any]:
    """The ``--json`` document: ``facts`` (outcome, exit code...) and one entry per query."""
    queries = []
    for key, status in statuses.items():
        counted = tally.of(status.name)
        queries.append(
            {
                "query": key,
                "name": status.name,
                "pipe": status.pipe,
                "state": str(status.state),
                "batches": counted.batches,
                "rows": counted.rows,
                "last_batch_id": status.batch_id,
                "problem": problem_of(status, counted),
                "last_error": status.last_error,
                "stop_timed_out": status.stop_timed_out,
                "restarts": status.restarts,
                "failures": status.failures,
                "recoveries": status.recoveries,
                "recovery_attempts": status.recovery_attempts,
                "recovery_limit": status.recovery_limit,
                "classification": status.classification,
                "classifier": status.classifier,
                "classification_reason": status.classification_reason,
                "recovery_action": status.recovery_action,
                "recovery_strategy": status.recovery_strategy,
                "recovery_reason": status.recovery_reason,
                "trigger": status.trigger,
                "checkpoint": status.checkpoint,
                "query_id": status.query_id,
                "run_id": status.run_id,
            }
        )
    return {**facts, "queries": queries}


def problems(statuses: Mapping[str, QueryStatus], tally: Tally) -> list[str]:
    """The keys of the queries that did not end well (see :func:`problem_of`)."""
    return [key for key, status in statuses.items() if problem_of(status, tally.of(status.name))]
