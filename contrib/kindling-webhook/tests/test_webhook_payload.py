"""The JSON document: fields, JSON-safety of the context, and the size bound."""

from __future__ import annotations

import datetime as dt
import enum
import json
from pathlib import Path

import pytest

from kindling_core.errors import ConfigError
from kindling_core.items import ErrorEvent
from kindling_webhook.payload import SCHEMA, build_document, encode, json_safe


def test_document_fields() -> None:
    try:
        try:
            raise OSError("disk full")
        except OSError as inner:
            raise RuntimeError("boom") from inner
    except RuntimeError as error:
        event = ErrorEvent(error=error, source="pipe", subject="silver.orders", context={"attempt": 2})
    now = dt.datetime(2024, 5, 1, 14, 0, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    doc = build_document(event, app="orders", now=now, host="worker-3")
    assert doc["schema"] == SCHEMA
    assert doc["source"] == "pipe" and doc["subject"] == "silver.orders"
    assert doc["error_type"] == "RuntimeError" and doc["message"] == "boom"
    assert doc["causes"] == ["OSError: disk full"]
    assert doc["traceback"].startswith("Traceback") and "RuntimeError: boom" in doc["traceback"]
    assert doc["context"] == {"attempt": 2}
    assert doc["timestamp"] == "2024-05-01T12:00:00+00:00"
    assert doc["host"] == "worker-3" and doc["app"] == "orders"
    assert doc["text"] == "[orders] pipe 'silver.orders' failed: RuntimeError: boom"
    assert doc["suppressed"] == 0 and doc["truncated"] is False


def test_kindling_errors_carry_culprit_and_remedy_and_qualified_type() -> None:
    error = ConfigError("bad key", path="tool.kindling.x", remedy="fix it")
    doc = build_document(ErrorEvent(error=error, source="config", subject="pyproject"), host="h")
    assert doc["error_type"] == "kindling_core.errors.ConfigError"
    assert doc["culprit"] == "tool.kindling.x" and doc["remedy"] == "fix it"
    assert doc["app"] is None and not doc["text"].startswith("[")


class Color(enum.Enum):
    RED = "red"


class Opaque:
    def __repr__(self) -> str:
        return "<Opaque>"


class Broken:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_json_safe_context() -> None:
    value = {
        "when": dt.datetime(2024, 1, 2, 3, 4, 5),
        "path": Path("/tmp/x"),
        "color": Color.RED,
        "nan": float("nan"),
        "tags": {"b", "a"},
        "nested": {1: (Opaque(), b"\x00")},
        "broken": Broken(),
        "error": ValueError("v"),
        "long": "x" * 5_000,
    }
    safe = json_safe(value)
    json.dumps(safe)  # must not raise
    assert safe["when"] == "2024-01-02T03:04:05" and safe["path"] == "/tmp/x" and safe["color"] == "red"
    assert safe["nan"] == "nan" and safe["tags"] == ["a", "b"]
    assert safe["nested"] == {"1": ["<Opaque>", "b'\\x00'"]}
    assert safe["broken"] == "<unrepresentable Broken>" and safe["error"] == "ValueError: v"
    assert len(safe["long"]) == 1_000 and safe["long"].endswith("[truncated]")


def test_small_documents_are_encoded_whole() -> None:
    doc = build_document(ErrorEvent(error=RuntimeError("boom"), source="pipe", subject="s"), host="h")
    body = encode(doc, 65_536)
    assert json.loads(body) == doc


@pytest.mark.parametrize("max_bytes", [1_024, 4_096, 65_536])
def test_huge_errors_are_truncated_to_the_limit(max_bytes: int) -> None:
    def deep(n: int) -> None:
        if n:
            deep(n - 1)
        raise RuntimeError("é" * 200_000)

    try:
        deep(300)
    except RuntimeError as error:
        event = ErrorEvent(error=error, source="pipe", subject="s" * 5_000, context={"blob": "y" * 100_000})
    doc = build_document(event, app="a" * 1_000, host="h")
    body = encode(doc, max_bytes)
    assert len(body) <= max_bytes
    decoded = json.loads(body)
    assert decoded["truncated"] is True
    assert decoded["source"] == "pipe" and decoded["error_type"] == "RuntimeError"
    assert decoded["message"].startswith("é") and decoded["message"].endswith("[truncated]")
    if decoded["traceback"] != "…[truncated]":  # the tail (with the error line) is what is kept
        assert decoded["traceback"].startswith("…[truncated]")
