"""Built-in failure classifiers: ``patterns`` (configured), ``spark-errors`` and ``generic``.

``patterns``
    ``[tool.kindling.failure-classifiers]`` ``transient`` / ``permanent`` / ``checkpoint`` /
    ``conflict``: regular expressions searched in the failure's text. Registered only when a
    pattern is configured; first in the default order (``order`` can move it). The kinds are
    tried in the order permanent, checkpoint, conflict, transient (the more cautious answer
    wins when patterns of two kinds match); the first match decides.
``spark-errors``
    Looks inside what Spark gives (:class:`~kindling_core.items.FailureContext`'s ``text``,
    ``error_classes``, ``causes`` and ``python_errors``), past the ``STREAM_FAILED`` /
    ``StreamingQueryException`` and ``PYTHON_EXCEPTION`` wrappers, and decides by the first of
    these that it recognises:

    1. the innermost error class it has a rule for (:data:`ERROR_CLASS_RULES`);
    2. the innermost Python worker error (a UDF's): network and timeout errors are transient,
       programming and data errors (``ValueError``, ``KeyError``...) permanent;
    3. what the JVM stack trace shows, innermost first: Delta's concurrent-modification
       exceptions (conflict), an unreadable checkpoint log (checkpoint), network exceptions
       and lost executors (transient);
    4. the SQLSTATE of the innermost error class (``42``: analysis error, ``22``: data error,
       ``0A``: unsupported, all permanent; ``08``: connection, transient; ``40``: transaction
       rollback, conflict);
    5. message fragments of transient trouble (throttling, ``Connection reset``...).

    Otherwise it passes. Its reason quotes what matched.
``generic``
    Always decides, pinned last: by Python exception type along the cause chain (an exception
    that only carries another failure, ``carries_failure = True`` such as a failed stream, is
    not judged by its own type); unknown when nothing fits.

Kinds: ``transient`` (passes on retry), ``permanent`` (never retried), ``checkpoint`` (the
stream's checkpoint or state is incompatible or corrupt), ``conflict`` (a concurrent Delta
commit won; retried), ``unknown``. Delta's ``DELTA_SCHEMA_CHANGED*`` on a streaming source is
transient: Delta asks for a restart, which picks up the new schema (a restart that fails the
same way again is a crash loop, and the recovery budget ends it).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kindling_core.plugin import (
    Classification,
    FailureClassifier,
    FailureContext,
    FailureKind,
    KindlingConfig,
    KindlingError,
    hookimpl,
)

TRANSIENT, PERMANENT, CHECKPOINT, CONFLICT = (
    FailureKind.TRANSIENT,
    FailureKind.PERMANENT,
    FailureKind.CHECKPOINT,
    FailureKind.CONFLICT,
)

_QUOTED = 160


def _quote(text: str) -> str:
    """``text`` on one line, at most :data:`_QUOTED` characters, quoted."""
    line = " ".join(text.split())
    return repr(line if len(line) <= _QUOTED else line[: _QUOTED - 3] + "...")


# ----------------------------------------------------------------------------- patterns

#: The order in which configured patterns' kinds are tried.
PATTERN_KINDS: tuple[FailureKind, ...] = (PERMANENT, CHECKPOINT, CONFLICT, TRANSIENT)


def make_patterns(config: KindlingConfig) -> FailureClassifier | None:
    """The ``patterns`` classifier of ``[tool.kindling.failure-classifiers]``, or ``None``
    when no pattern is configured (the configuration already checked every expression)."""
    table = config.failure_classifiers
    compiled = [
        (kind, f"{table.TABLE}.{kind.value}[{index}]", re.compile(pattern))
        for kind in PATTERN_KINDS
        for index, pattern in enumerate(getattr(table, kind.value))
    ]
    if not compiled:
        return None

    def classify(context: FailureContext) -> Classification | None:
        for kind, key, regex in compiled:
            match = regex.search(context.text)
            if match is not None:
                return Classification(kind, f"{key} {regex.pattern!r} matched {_quote(match.group(0))}", "patterns")
        return None

    kinds = ", ".join(dict.fromkeys(kind.value for kind, _, _ in compiled))
    return FailureClassifier(
        name="patterns",
        description=f"[tool.kindling.failure-classifiers] patterns ({kinds}); first unless `order` moves it",
        classify=classify,
    )


# ----------------------------------------------------------------------------- spark-errors

#: Error classes that only wrap the real failure: never decisive on their own.
WRAPPER_CLASSES = frozenset(
    {"STREAM_FAILED", "PYTHON_EXCEPTION", "FAILED_EXECUTE_UDF", "TASK_WRITE_FAILED", "FAILED_READ_FILE", "INTERNAL_ERROR"}
)

#: ``(error class or prefix*, kind, why)``: the first rule matching a class decides for it
#: (a class ``A.B`` matches by ``A``). Classes are looked at innermost first.
ERROR_CLASS_RULES: tuple[tuple[str, FailureKind, str], ...] = (
    # Delta: a concurrent commit won the race; retrying re-reads the table.
    ("DELTA_CONCURRENT_*", CONFLICT, "a concurrent Delta commit conflicts with this one"),
    ("DELTA_METADATA_CHANGED", CONFLICT, "a concurrent Delta commit changed the table's metadata"),
    ("DELTA_PROTOCOL_CHANGED", CONFLICT, "a concurrent Delta commit changed the table's protocol"),
    ("CONCURRENT_STREAM_LOG_UPDATE", CONFLICT, "another run of the query updated its checkpoint log"),
    # Delta asks for a restart: the restarted query reads the new schema or metadata.
    ("DELTA_SCHEMA_CHANGED*", TRANSIENT, "the Delta source's schema changed; Delta asks to restart the query"),
    ("DELTA_STREAMING_METADATA_EVOLUTION", TRANSIENT, "the Delta source's metadata changed; Delta asks to restart the query"),
    ("DELTA_STREAMING_SCHEMA_MISMATCH_ON_RESTART", TRANSIENT, "the Delta source's schema changed; a restart rebuilds the query"),
    # The checkpoint or its state does not fit the query, or is damaged.
    ("STATE_STORE_*", CHECKPOINT, "the query's state does not fit its checkpoint"),
    ("CANNOT_LOAD_STATE_STORE", CHECKPOINT, "the checkpoint's state cannot be loaded"),
    ("STREAMING_STATEFUL_OPERATOR_*", CHECKPOINT, "the stateful operators changed since the checkpoint was written"),
    ("STREAMING_CHECKPOINT_MISSING_METADATA_FILE", CHECKPOINT, "the checkpoint is incomplete"),
    ("CHECKPOINT_FILE_CHECKSUM_VERIFICATION_FAILED", CHECKPOINT, "a checkpoint file is corrupt"),
    ("STATE_REPARTITION_INVALID_CHECKPOINT", CHECKPOINT, "the checkpoint is in an invalid state"),
    ("STATE_REWRITER_INVALID_CHECKPOINT", CHECKPOINT, "the checkpoint is in an invalid state"),
    ("STREAMING_UNFINISHED_REPARTITION_DETECTED", CHECKPOINT, "the checkpoint holds an unfinished state repartitioning"),
    ("DIFFERENT_DELTA_TABLE_READ_BY_STREAMING_SOURCE", CHECKPOINT, "the checkpoint belongs to another Delta source table"),
    ("DELTA_LOG_FILE_NOT_FOUND_FOR_STREAMING_SOURCE", CHECKPOINT, "the checkpoint points at Delta versions no longer kept"),
    ("DELTA_STREAMING_SCHEMA_LOG_*", CHECKPOINT, "the checkpoint's schema tracking log does not fit"),
    ("DELTA_STREAMING_SCHEMA_LOCATION_CONFLICT", CHECKPOINT, "another stream uses the checkpoint's schema location"),
    # Will fail again the same way.
    ("TABLE_OR_VIEW_NOT_FOUND", PERMANENT, "the table or view does not exist"),
    ("PATH_NOT_FOUND", PERMANENT, "the path does not exist"),
    ("DELTA_PATH_DOES_NOT_EXIST", PERMANENT, "the Delta path does not exist"),
    ("DELTA_TABLE_NOT_FOUND", PERMANENT, "the Delta table does not exist"),
    ("DELTA_MISSING_DELTA_TABLE", PERMANENT, "the location is not a Delta table"),
    ("UNRESOLVED_*", PERMANENT, "a name in the query cannot be resolved"),
    ("SCHEMA_NOT_FOUND", PERMANENT, "the schema does not exist"),
    ("DATATYPE_MISMATCH", PERMANENT, "a type does not fit"),
    ("PARSE_*", PERMANENT, "the SQL does not parse"),
    ("DELTA_FAILED_TO_MERGE_FIELDS", PERMANENT, "the data's schema does not merge with the table's"),
    ("DELTA_METADATA_MISMATCH", PERMANENT, "the data's schema does not match the table's"),
    ("DELTA_STREAMING_INCOMPATIBLE_SCHEMA_CHANGE*", PERMANENT, "the Delta source had a schema change streams cannot read"),
    ("DELTA_STREAMING_CANNOT_CONTINUE_PROCESSING_POST_SCHEMA_EVOLUTION", PERMANENT, "the source's schema change needs a decision"),
)

#: SQLSTATE classes (first two characters) of an error class with no rule above.
SQLSTATE_CLASSES: dict[str, tuple[FailureKind, str]] = {
    "42": (PERMANENT, "an analysis error"),
    "22": (PERMANENT, "a data error"),
    "0A": (PERMANENT, "an unsupported feature"),
    "08": (TRANSIENT, "a connection error"),
    "40": (CONFLICT, "a transaction rollback"),
}

#: Python exception types (unqualified) of a worker traceback, by kind.
PYTHON_ERROR_KINDS: dict[str, FailureKind] = {
    **dict.fromkeys(
        (
            "ConnectionError",
            "ConnectionResetError",
            "ConnectionRefusedError",
            "ConnectionAbortedError",
            "BrokenPipeError",
            "TimeoutError",
            "timeout",  # socket.timeout
            "gaierror",  # socket.gaierror: a name lookup failed
            "RemoteDisconnected",
            "IncompleteRead",
            "ReadTimeout",
            "ConnectTimeout",
            "ReadTimeoutError",
            "ConnectTimeoutError",
            "NewConnectionError",
        ),
        TRANSIENT,
    ),
    **dict.fromkeys(
        (
            "ValueError",
            "TypeError",
            "KeyError",
            "IndexError",
            "LookupError",
            "AttributeError",
            "NameError",
            "UnboundLocalError",
            "ZeroDivisionError",
            "ArithmeticError",
            "OverflowError",
            "AssertionError",
            "ImportError",
            "ModuleNotFoundError",
            "NotImplementedError",
            "UnicodeError",
            "UnicodeDecodeError",
            "UnicodeEncodeError",
            "JSONDecodeError",
            "SyntaxError",
        ),
        PERMANENT,
    ),
}

#: What a JVM stack trace shows: ``(kind, regex, why)``; the match found latest in the text
#: (the innermost) decides.
JVM_RULES: tuple[tuple[FailureKind, re.Pattern[str], str], ...] = (
    (
        CONFLICT,
        re.compile(
            r"\b(?:Concurrent(?:Append|DeleteRead|DeleteDelete|Transaction|Write)Exception|MetadataChangedException"
            r"|ProtocolChangedException|DeltaConcurrentModificationException|io\.delta\.exceptions\.ConcurrentModificationException)\b"
        ),
        "a concurrent Delta commit conflicts with this one",
    ),
    (
        CHECKPOINT,
        re.compile(
            r"(?:JsonParseException|JsonMappingException|MismatchedInputException|JsonEOFException|Log file was malformed"
            r"|Incomplete log file|UnsupportedLogVersion)[\s\S]{0,4000}?"
            r"\bat (?P<where>org\.apache\.spark\.sql\.execution\.streaming\.[\w.$]*(?:OffsetSeqLog|CommitLog|MetadataLog)\b[\w.$]*)"
        ),
        "a checkpoint log file cannot be read (corrupt checkpoint)",
    ),
    (
        TRANSIENT,
        re.compile(
            r"\b(?:java\.net\.(?:SocketTimeoutException|ConnectException|SocketException|UnknownHostException|NoRouteToHostException)"
            r"|java\.util\.concurrent\.TimeoutException|FetchFailedException|MetadataFetchFailedException|ExecutorLostFailure"
            r"|Py4JNetworkError)\b"
        ),
        "a network failure or a lost executor",
    ),
)

#: Message fragments of transient trouble (throttling, unavailable services, dropped connections).
TRANSIENT_MARKERS = re.compile(
    r"Connection reset|Connection refused|Read timed out|connect timed out|Too Many Requests|ThrottlingException|SlowDown"
    r"|503 Service Unavailable|ServiceUnavailable|TEMPORARILY_UNAVAILABLE|Server busy|RequestTimeout"
)

#: The SQLSTATE Spark appends to an error class's message (within the message, not a later one's).
_SQLSTATE_RE = r"\[{}\](?:(?!\[[A-Z][A-Z0-9]*_[A-Z0-9_.]*\])[\s\S]){{0,2000}}?SQLSTATE: ([0-9A-Z]{{5}})"


def _class_rule(error_class: str) -> tuple[FailureKind, str] | None:
    base = error_class.split(".", 1)[0]
    for pattern, kind, why in ERROR_CLASS_RULES:
        if base == pattern or (pattern.endswith("*") and base.startswith(pattern[:-1])):
            return kind, why
    return None


def _inside(context: FailureContext, error_class: str) -> str:
    """`` inside [STREAM_FAILED]`` when the class came wrapped (names the outer wrappers)."""
    wrappers = [c for c in context.error_classes if c.split(".", 1)[0] in WRAPPER_CLASSES and c != error_class]
    return f" (inside [{'], ['.join(wrappers)}])" if wrappers else ""


def _by_error_class(context: FailureContext) -> Classification | None:
    for error_class in reversed(context.error_classes):
        rule = _class_rule(error_class)
        if rule is not None:
            kind, why = rule
            return Classification(kind, f"error class [{error_class}]{_inside(context, error_class)}: {why}", "spark-errors")
    return None


def _by_python_error(context: FailureContext) -> Classification | None:
    for line in reversed(context.python_errors):
        name = line.split(":", 1)[0].strip().rsplit(".", 1)[-1]
        kind = PYTHON_ERROR_KINDS.get(name)
        if kind is not None:
            why = "a network or timeout error, usually transient" if kind is TRANSIENT else "a programming or data error"
            return Classification(kind, f"the Python worker raised {_quote(line)}: {why}", "spark-errors")
    return None


def _by_jvm_trace(context: FailureContext) -> Classification | None:
    found: list[tuple[int, FailureKind, str, str]] = []
    for kind, regex, why in JVM_RULES:
        matches = list(regex.finditer(context.text))
        if matches:
            last = matches[-1]
            where = last.groupdict().get("where")
            shown = f"{last.group(0).split(':', 1)[0].split()[0]} at {where}" if where else last.group(0)
            found.append((last.start(), kind, why, shown))
    if not found:
        return None
    _, kind, why, shown = max(found, key=lambda entry: entry[0])
    return Classification(kind, f"the stack trace shows {shown}: {why}", "spark-errors")


def _by_sqlstate(context: FailureContext) -> Classification | None:
    for error_class in reversed(context.error_classes):
        if error_class.split(".", 1)[0] in WRAPPER_CLASSES:
            continue
        match = re.search(_SQLSTATE_RE.format(re.escape(error_class)), context.text)
        if match is not None and match.group(1)[:2] in SQLSTATE_CLASSES:
            kind, what = SQLSTATE_CLASSES[match.group(1)[:2]]
            return Classification(kind, f"error class [{error_class}] has SQLSTATE {match.group(1)}, {what}", "spark-errors")
    return None


def _by_marker(context: FailureContext) -> Classification | None:
    match = TRANSIENT_MARKERS.search(context.text)
    if match is None:
        return None
    return Classification(TRANSIENT, f"matched {match.group(0)!r}, usually transient", "spark-errors")


def classify_spark(context: FailureContext) -> Classification | None:
    """Look inside Spark's failure; see the module docstring for the order of the evidence."""
    for step in (_by_error_class, _by_python_error, _by_jvm_trace, _by_sqlstate, _by_marker):
        decided = step(context)
        if decided is not None:
            return decided
    return None


# ----------------------------------------------------------------------------- generic

_TRANSIENT_TYPES: tuple[type[BaseException], ...] = (ConnectionError, TimeoutError)
_PERMANENT_TYPES: tuple[type[BaseException], ...] = (
    KindlingError,  # names a culprit and a remedy: a declaration, schema or config problem
    TypeError,
    ValueError,
    KeyError,
    AttributeError,
    NameError,
    ImportError,
    NotImplementedError,
    AssertionError,
    ZeroDivisionError,
    IndexError,
)


def _chain(error: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def classify_generic(context: FailureContext) -> Classification:
    """Decide by exception type along the cause chain; unknown when nothing fits.

    An exception with ``carries_failure = True`` (a failed stream: it carries Spark's failure)
    is not judged by its own type; its causes still are.
    """
    for error in _chain(context.error):
        if getattr(error, "carries_failure", False):
            continue
        if isinstance(error, _TRANSIENT_TYPES):
            return Classification(TRANSIENT, f"{type(error).__name__} is usually transient", "generic")
        if isinstance(error, _PERMANENT_TYPES):
            return Classification(PERMANENT, f"{type(error).__name__} is a programming or data error", "generic")
    return Classification(FailureKind.UNKNOWN, "no classifier recognised the error", "generic")


@hookimpl
def kindling_failure_classifiers(config: KindlingConfig) -> list[FailureClassifier]:
    """Register ``patterns`` (when configured), ``spark-errors`` and ``generic`` (always last)."""
    patterns = make_patterns(config)
    return [
        *([patterns] if patterns is not None else []),
        FailureClassifier(
            name="spark-errors",
            description="looks inside Spark's failure (error classes, Python worker errors, the JVM stack trace): "
            "transient, permanent, checkpoint or conflict",
            classify=classify_spark,
        ),
        FailureClassifier(
            name="generic",
            description="by Python exception type; unknown when nothing fits (always last)",
            classify=classify_generic,
        ),
    ]
