"""Built-in failure classifiers: ``spark-errors`` (Spark/Delta error classes) and ``generic``.

Spark reports streaming failures as ``STREAM_FAILED`` and wraps most errors, so both
classifiers read :attr:`~kindling_core.items.FailureContext.text` (the message of the error
and of every cause, including ``Caused by:`` lines), not just the exception type.

``spark-errors`` decides only when it recognises an error class or marker; ``generic`` always
decides (it is pinned last): Python programming errors and kindling's own errors (schema
conflicts, missing merge keys, unwritable locations: each names a culprit and a remedy) are
permanent, network/timeout errors transient, and everything else unknown.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from kindling_core.plugin import (
    Classification,
    FailureClassifier,
    FailureContext,
    FailureKind,
    KindlingError,
    hookimpl,
)

#: Markers (error classes, exception names, message fragments) per kind; first match wins,
#: checked in the order CHECKPOINT, TRANSIENT, PERMANENT.
SPARK_MARKERS: dict[FailureKind, tuple[str, ...]] = {
    FailureKind.CHECKPOINT: (
        "STATE_STORE_",
        "STREAMING_STATEFUL_OPERATOR_NOT_MATCH",
        "StateSchemaNotCompatible",
        "INCOMPATIBLE_DATA_FOR_STATE",
        "schema for existing state",
        "DIFFERENT_DELTA_TABLE_READ_BY_STREAMING_SOURCE",
        "DELTA_SCHEMA_CHANGED_WITH_STARTING_OPTIONS",
        "checkpoint location",
        "Unable to find batch",
        "CANNOT_LOAD_STATE_STORE",
        "[DELTA_STREAMING_",
    ),
    FailureKind.TRANSIENT: (
        "DELTA_CONCURRENT_APPEND",
        "DELTA_CONCURRENT_DELETE_READ",
        "DELTA_CONCURRENT_TRANSACTION",
        "DELTA_METADATA_CHANGED",
        "ConcurrentAppendException",
        "ConcurrentModificationException",
        "ExecutorLostFailure",
        "FetchFailedException",
        "TEMPORARILY_UNAVAILABLE",
        "Py4JNetworkError",
        "Connection reset",
        "Connection refused",
        "SocketTimeoutException",
        "Read timed out",
        "Too Many Requests",
        "ThrottlingException",
        "SlowDown",
        "503 Service Unavailable",
        "ServiceUnavailable",
    ),
    FailureKind.PERMANENT: (
        "TABLE_OR_VIEW_NOT_FOUND",
        "UNRESOLVED_COLUMN",
        "PATH_NOT_FOUND",
        "DELTA_MISSING_DELTA_TABLE",
        "DELTA_FAILED_TO_MERGE_FIELDS",
        "DELTA_METADATA_MISMATCH",
        "_LEGACY_ERROR_TEMP_DELTA",
        "DATATYPE_MISMATCH",
        "PARSE_SYNTAX_ERROR",
        "AnalysisException",
        "NOT_A_DELTA_TABLE",
    ),
}

_PATTERNS = {kind: re.compile("|".join(re.escape(m) for m in markers)) for kind, markers in SPARK_MARKERS.items()}


def classify_spark(context: FailureContext) -> Classification | None:
    """Recognise Spark / Delta error classes and markers anywhere in the cause chain."""
    for kind, pattern in _PATTERNS.items():
        match = pattern.search(context.text)
        if match:
            return Classification(kind, f"matched {match.group(0)!r}", "spark-errors")
    return None


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
    """Decide by exception type along the cause chain; unknown when nothing fits."""
    for error in _chain(context.error):
        if isinstance(error, _TRANSIENT_TYPES):
            return Classification(FailureKind.TRANSIENT, f"{type(error).__name__} is usually transient", "generic")
        if isinstance(error, _PERMANENT_TYPES):
            return Classification(
                FailureKind.PERMANENT, f"{type(error).__name__} is a programming or data error", "generic"
            )
    return Classification(FailureKind.UNKNOWN, "no classifier recognised the error", "generic")


@hookimpl
def kindling_failure_classifiers() -> list[FailureClassifier]:
    """Register ``spark-errors`` and ``generic`` (the core always runs ``generic`` last)."""
    return [
        FailureClassifier(
            name="spark-errors",
            description="Spark and Delta error classes: concurrent writes transient, state/checkpoint errors, analysis errors permanent",
            classify=classify_spark,
        ),
        FailureClassifier(
            name="generic",
            description="by Python exception type; unknown when nothing fits (always last)",
            classify=classify_generic,
        ),
    ]
