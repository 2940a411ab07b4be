"""Turn an :class:`~kindling_core.items.ErrorEvent` into a bounded JSON document.

The document (``"schema": "kindling.error/1"``)::

    {
      "schema": "kindling.error/1",
      "text": "[orders-app] pipe 'silver.orders' failed: RuntimeError: boom",
      "app": "orders-app",                  # or null
      "source": "pipe",
      "subject": "silver.orders",
      "error_type": "RuntimeError",         # module-qualified unless a builtin
      "message": "boom",
      "causes": ["OSError: disk full"],     # the __cause__/__context__ chain, outermost first
      "traceback": "Traceback (most recent call last): ...",   # the tail, when long
      "context": {"attempt": 2},            # JSON-safe: unknown objects become their repr
      "timestamp": "2024-05-01T12:00:00.123456+00:00",         # UTC, ISO-8601
      "host": "worker-3",
      "suppressed": 0,                      # events dropped by min-interval-seconds since the last post
      "truncated": false
    }

``text`` is a one-line summary, so chat tools that read ``text`` (Slack, Mattermost) show
something useful without a translation layer. Invariant: the encoded document never exceeds
``max_bytes``; long fields are cut (messages keep their head, tracebacks their tail, which
holds the failing frame) and ``truncated`` says so.
"""

from __future__ import annotations

import datetime as _dt
import enum
import json
import math
import socket
import traceback
from collections.abc import Mapping
from pathlib import PurePath
from typing import Any

from kindling_core.items import ErrorEvent

__all__ = ["SCHEMA", "build_document", "encode", "json_safe"]

SCHEMA = "kindling.error/1"

_MARK = "…[truncated]"
_SHORT = 200  # source, subject, error type, app: identifiers, never long
_MAX_CAUSES = 5
_MAX_DEPTH = 6
_MAX_ITEMS = 100


def _cut_head(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return text[: max(0, limit - len(_MARK))] + _MARK, True


def _cut_tail(text: str, limit: int) -> tuple[str, bool]:
    if len(text) <= limit:
        return text, False
    return _MARK + text[len(text) - max(0, limit - len(_MARK)) :], True


def _type_name(error: BaseException) -> str:
    cls = type(error)
    module = cls.__module__
    return cls.__qualname__ if module in ("builtins", "__main__") else f"{module}.{cls.__qualname__}"


def _causes(error: BaseException) -> list[str]:
    causes: list[str] = []
    seen = {id(error)}
    current = error.__cause__ or error.__context__
    while current is not None and id(current) not in seen and len(causes) < _MAX_CAUSES:
        seen.add(id(current))
        causes.append(f"{_type_name(current)}: {current}")
        current = current.__cause__ or current.__context__
    return causes


def _traceback_text(error: BaseException) -> str:
    try:
        return "".join(traceback.format_exception(type(error), error, error.__traceback__)).rstrip()
    except Exception as exc:  # noqa: BLE001 - pragma: no cover - a broken __str__ or frame
        return f"<traceback unavailable: {type(exc).__name__}>"


def json_safe(value: Any, *, limit: int = 1_000, _depth: int = 0) -> Any:
    """``value`` as plain JSON types. Strings longer than ``limit`` are cut; objects of other
    types become ``repr`` (cut too); containers deeper than a few levels become their repr."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, str):
        return _cut_head(value, limit)[0]
    if isinstance(value, enum.Enum):
        return json_safe(value.value, limit=limit, _depth=_depth)
    if isinstance(value, (_dt.datetime, _dt.date, _dt.time)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    if isinstance(value, BaseException):
        return _cut_head(f"{_type_name(value)}: {value}", limit)[0]
    if _depth < _MAX_DEPTH:
        if isinstance(value, Mapping):
            items = list(value.items())[:_MAX_ITEMS]
            return {str(k): json_safe(v, limit=limit, _depth=_depth + 1) for k, v in items}
        if isinstance(value, (list, tuple, set, frozenset)):
            values = sorted(value, key=repr) if isinstance(value, (set, frozenset)) else list(value)
            return [json_safe(v, limit=limit, _depth=_depth + 1) for v in values[:_MAX_ITEMS]]
    try:
        text = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not break error reporting
        text = f"<unrepresentable {type(value).__name__}>"
    return _cut_head(text, limit)[0]


def build_document(
    event: ErrorEvent,
    *,
    app: str | None = None,
    suppressed: int = 0,
    now: _dt.datetime | None = None,
    host: str | None = None,
) -> dict[str, Any]:
    """The full (untruncated but sanely bounded) JSON-safe document for ``event``."""
    error = event.error
    try:
        message = str(error)
    except Exception:  # noqa: BLE001 - pragma: no cover - a broken __str__
        message = f"<unprintable {type(error).__name__}>"
    error_type = _type_name(error)
    prefix = f"[{app}] " if app else ""
    summary = f"{prefix}{event.source} {event.subject!r} failed: {error_type}: {message}"
    document: dict[str, Any] = {
        "schema": SCHEMA,
        "text": summary.splitlines()[0] if summary else summary,
        "app": _cut_head(app, _SHORT)[0] if app else None,
        "source": _cut_head(str(event.source), _SHORT)[0],
        "subject": _cut_head(str(event.subject), _SHORT)[0],
        "error_type": _cut_head(error_type, _SHORT)[0],
        "message": message,
        "causes": _causes(error),
        "traceback": _traceback_text(error),
        "context": json_safe(dict(event.context)),
        "timestamp": (now or _dt.datetime.now(_dt.timezone.utc)).astimezone(_dt.timezone.utc).isoformat(),
        "host": host if host is not None else socket.gethostname(),
        "suppressed": suppressed,
        "truncated": False,
    }
    for key in ("culprit", "remedy"):  # KindlingError's structured fields, when present
        extra = getattr(error, key, None)
        if isinstance(extra, str) and extra:
            document[key] = _cut_head(extra, 1_000)[0]
    return document


def encode(document: Mapping[str, Any], max_bytes: int) -> bytes:
    """UTF-8 JSON of ``document``, at most ``max_bytes`` long (see the module invariant).

    When too long, every text field is cut to a budget that halves until the document fits:
    messages keep their head, the traceback its tail, an oversized context is replaced by
    ``{"truncated": "<its JSON, cut>"}``. ``max_bytes`` of 1 KiB or more always fits.
    """
    body = _dumps(document)
    if len(body) <= max_bytes:
        return body
    budget = max_bytes
    while True:
        body = _dumps(_shrink(document, budget))
        if len(body) <= max_bytes or budget == 0:
            return body
        budget //= 2


def _shrink(document: Mapping[str, Any], budget: int) -> dict[str, Any]:
    doc = dict(document, truncated=True)
    for key in ("text", "message", "culprit", "remedy"):
        if isinstance(doc.get(key), str):
            doc[key] = _cut_head(doc[key], budget)[0]
    for key in ("app", "source", "subject", "error_type", "host"):
        if isinstance(doc.get(key), str):
            doc[key] = _cut_head(doc[key], min(budget, _SHORT))[0]
    doc["traceback"] = _cut_tail(str(doc.get("traceback", "")), budget)[0]
    doc["causes"] = [_cut_head(c, budget // 4)[0] for c in doc.get("causes", ())]
    context = _dumps(doc.get("context", {})).decode("utf-8")
    if len(context) > budget:
        doc["context"] = {"truncated": _cut_head(context, budget)[0]}
    return doc


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
