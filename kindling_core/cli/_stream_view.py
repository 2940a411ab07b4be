"""What ``kindling stream`` shows: the live table, change lines, the summary and the JSON document.

Everything here is drawn from :class:`~kindling_core.streaming.status.QueryStatus` snapshots
(``app.streams.status()``, which runs no Spark job) plus a :class:`Tally` of the streaming
signals seen during the command, so the view never talks to Spark.

* :class:`LiveTable`: on a terminal, one row per query (state, batch, rows this run, rows/s,
  lag, last progress), redrawn in place.
* :class:`ChangeLines`: elsewhere (CI logs), one line when a query changes state and one
  progress line per query at most every ``progress_every`` seconds.
* :func:`summary_lines` / :func:`summary_document`: the end of the command, per query: final
  state, batches and rows this run, last error, whether its stop timed out.

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
    "FAILED_STATES",
    "ChangeLines",
    "LiveTable",
    "Tally",
    "headline",
    "lag_text",
    "problem_of",
    "problems",
    "summary_document",
    "summary_lines",
]

#: States a query ends in when something went wrong.
FAILED_STATES = frozenset({QueryState.FAILED, QueryState.EXHAUSTED})


# --------------------------------------------------------------------------- counting


@attrs.define
class QueryTally:
    """What one query did during the command (from the ``streaming.*`` signals)."""

    batches: int = 0
    rows: int = 0
    runs: set[str] = attrs.field(factory=set)
    ended: dict[str, str | None] = attrs.field(factory=dict)
    """run id -> the exception it ended with (``None``: ended cleanly)."""


class Tally:
    """Counts micro-batches and rows per query (by Spark query name) and records how each run
    ended, from ``streaming.after_start``, ``streaming.progress_made`` and
    ``streaming.query_terminated``. Receivers run on the manager's threads; reads are locked."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queries: dict[str, QueryTally] = {}
        self._changed = threading.Condition(self._lock)

    def connect(self, signals: SignalBus) -> None:
        signals.connect(sig.AFTER_START, self._started)
        signals.connect(sig.PROGRESS_MADE, self._progressed)
        signals.connect(sig.QUERY_TERMINATED, self._terminated)

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

    def of(self, name: str) -> QueryTally:
        """A copy of what query ``name`` did so far."""
        with self._lock:
            entry = self._queries.get(name, QueryTally())
            return QueryTally(entry.batches, entry.rows, set(entry.runs), dict(entry.ended))

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


def problem_of(status: QueryStatus, tally: QueryTally) -> str | None:
    """Why this query did not end well (``None``: it did): it failed, a run ended with an
    exception (even one kindling was stopping), or its stop timed out."""
    ended_with = next((error for error in tally.ended.values() if error), None)
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

    HEADER = ("QUERY", "STATE", "BATCH", "ROWS", "ROWS/S", "LAG", "LAST PROGRESS")

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
                )
            )
        elapsed = self.clock() - self.began
        return [f"{self.title}: {elapsed:.0f}s (Ctrl-C stops every query)", *_table(self.HEADER, rows, frozenset({2, 3, 4}))]

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
    """The log view: a line per state change, and per query a progress line when it finished
    micro-batches since the last one, at most every ``progress_every`` seconds."""

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

    def _echo(self, key: str, text: str) -> None:
        click.echo(f"[{self.clock() - self.began:6.1f}s] {key}  {text}", file=self.out)

    def update(self, statuses: Mapping[str, QueryStatus]) -> None:
        now = self.clock()
        for key, status in statuses.items():
            if self._states.get(key) is not status.state:
                self._states[key] = status.state
                error = f": {headline(status.last_error)}" if status.state in FAILED_STATES and status.last_error else ""
                self._echo(key, f"{status.state}{error}")
            counted = self.tally.of(status.name)
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


def summary_lines(statuses: Mapping[str, QueryStatus], tally: Tally) -> list[str]:
    """The summary table (state, batches and rows this run, last error) and each error's first line."""
    rows, errors = [], []
    for key, status in statuses.items():
        counted = tally.of(status.name)
        problem = problem_of(status, counted)
        state = str(status.state) + (" (stop timed out)" if status.stop_timed_out else "")
        rows.append((key, state, str(counted.batches), str(counted.rows), headline(problem, 60) or "-"))
        if problem:
            errors.append(f"  {key}: {headline(problem, 400)}")
    table = _table(("QUERY", "STATE", "BATCHES", "ROWS", "LAST ERROR"), rows, frozenset({2, 3}))
    return table + (["", "errors:", *errors] if errors else [])


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
