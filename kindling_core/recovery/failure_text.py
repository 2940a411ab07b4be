"""Read a failure's text the way Spark writes it: error classes, ``Caused by:`` lines, Python tracebacks.

Spark wraps the real cause of a failure: a streaming query ends with ``[STREAM_FAILED] Query
... terminated with exception: ...``, a failed task with ``Job aborted due to stage failure``,
and the JVM stack trace lists the inner exceptions as ``Caused by: <type>: <message>`` lines.
A Python UDF's error arrives as the Python worker's traceback inside that text. This module
finds those parts in the text; it imports neither pyspark nor the rest of kindling_core (a
leaf), so :mod:`kindling_core.items` can use it.

:func:`collect_failure_text` builds the text from an exception by duck typing (pyspark's
captured exceptions: ``getCondition()``, ``getMessageParameters()``, the JVM stack trace kept
as ``_stackTrace`` or returned by Spark Connect's ``getStackTrace()``; any exception's
``error_class`` and cause chain); :func:`error_classes`, :func:`caused_by` and
:func:`python_errors` read it. Every sequence is in the order found: outermost first,
innermost last, without repeats.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterable, Iterator

__all__ = [
    "caused_by",
    "collect_failure_text",
    "condition_of",
    "error_classes",
    "exception_chain",
    "python_errors",
    "short_type",
]

#: ``[ERROR_CLASS]`` or ``[ERROR_CLASS.SUB_CLASS]``: upper-case words joined by underscores
#: (at least two words, so ``[INFO]``-like log tags are not taken for one).
ERROR_CLASS_RE = re.compile(r"\[([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+(?:\.[A-Z][A-Z0-9_]*)*)\]")

#: ``Caused by: java.net.SocketTimeoutException: Read timed out`` (a JVM stack trace line).
CAUSED_BY_RE = re.compile(r"^\s*Caused by:\s*(\S.*?)\s*$", re.MULTILINE)

_TRACEBACK_HEADER = "Traceback (most recent call last):"
#: The last line of a Python traceback: ``ValueError: bad row`` or ``socket.timeout`` alone.
_PYTHON_ERROR_LINE_RE = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?::\s?(.*))?$")


def _unique(values: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(v for v in values if v))


def error_classes(text: str) -> tuple[str, ...]:
    """The ``[ERROR_CLASS]`` tokens of ``text`` in order of first appearance."""
    return _unique(match.group(1) for match in ERROR_CLASS_RE.finditer(text))


def caused_by(text: str) -> tuple[str, ...]:
    """The exceptions of the ``Caused by:`` lines of ``text``, outermost first."""
    return _unique(match.group(1) for match in CAUSED_BY_RE.finditer(text))


def python_errors(text: str) -> tuple[str, ...]:
    """The final ``Type: message`` line of each Python traceback in ``text``.

    A traceback is the header line, indented ``File ...`` / source / ``^^^`` lines, then the
    first line that is not indented: the exception. Blank lines inside are skipped.
    """
    found: list[str] = []
    lines = text.splitlines()
    for index, line in enumerate(lines):
        if not line.rstrip().endswith(_TRACEBACK_HEADER):
            continue
        for following in lines[index + 1 :]:
            if not following.strip() or following[:1].isspace():
                continue
            candidate = following.strip()
            if _PYTHON_ERROR_LINE_RE.match(candidate):
                found.append(candidate)
            break
    return _unique(found)


def short_type(error_line: str) -> str:
    """The unqualified exception type of ``"pkg.mod.Type: message"`` (``"Type"``)."""
    head = error_line.split(":", 1)[0].strip()
    return head.rsplit(".", 1)[-1]


# ----------------------------------------------------------------------------- collecting


def exception_chain(error: BaseException) -> Iterator[BaseException]:
    """``error`` and its causes, outermost first, each once: ``__cause__``, else ``__context__``
    unless suppressed (``raise ... from None``, as pyspark raises a captured exception over
    the ``Py4JJavaError`` that repeats its stack trace), the chain a traceback shows."""
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)


def _call(error: BaseException, method: str) -> object:
    """``error.<method>()`` if it has one and it works (a captured exception asks the JVM,
    which may be gone), else ``None``."""
    function = getattr(error, method, None)
    if not callable(function):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # getErrorClass() is deprecated in favour of getCondition()
            return function()
    except Exception:  # noqa: BLE001 - whatever a broken accessor raises, the text goes on without it
        return None


def condition_of(error: BaseException) -> str | None:
    """The error class (condition) ``error`` carries: pyspark's ``getCondition()`` /
    ``getErrorClass()``, or an ``error_class`` attribute (kindling's stream failures)."""
    for method in ("getCondition", "getErrorClass"):
        value = _call(error, method)
        if isinstance(value, str) and value:
            return value
    value = getattr(error, "error_class", None)
    return value if isinstance(value, str) and value else None


def _stack_trace(error: BaseException) -> str | None:
    value = _call(error, "getStackTrace")  # Spark Connect: the server's stack trace
    if not isinstance(value, str):
        value = getattr(error, "_stackTrace", None)  # classic pyspark CapturedException
    return value if isinstance(value, str) and value.strip() else None


def collect_failure_text(error: BaseException) -> str:
    """The searchable text of ``error`` and its cause chain, outermost first.

    Per exception of the chain: ``"<Type>: <message>"`` (``"<Type>: [<CONDITION>] <message>"``
    when its condition is not already in the message), its message parameters not already in
    the text, the failure text it carries (``exception_text``, as a failed stream's error does)
    and its JVM stack trace (with the ``Caused by:`` lines), each unless the message already
    holds it.
    """
    parts: list[str] = []
    for current in exception_chain(error):
        try:
            message = str(current)
        except Exception as exc:  # noqa: BLE001 - a broken __str__ must not hide the failure
            message = f"<str() raised {type(exc).__name__}>"
        condition = condition_of(current)
        if condition and f"[{condition}]" not in message:
            message = f"[{condition}] {message}"
        parts.append(f"{type(current).__name__}: {message}")
        parameters = _call(current, "getMessageParameters")
        if isinstance(parameters, dict):
            written = "\n".join(parts)
            extra = [f"  {key}: {value}" for key, value in parameters.items() if str(value) not in written]
            if extra:
                parts.append("Message parameters:\n" + "\n".join(extra))
        carried = getattr(current, "exception_text", None)  # a failure carried as text (a stream's)
        if isinstance(carried, str) and carried.strip() and carried.strip() not in message:
            parts.append(carried.rstrip())
        trace = _stack_trace(current)
        if trace is not None and trace.strip() not in message:
            parts.append("JVM stacktrace:\n" + trace.rstrip())
    return "\n".join(parts)
