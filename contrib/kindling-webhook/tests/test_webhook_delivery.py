"""The handler against a real local HTTP server: delivery, retries, Retry-After, giving up."""

from __future__ import annotations

import datetime as dt
import email.utils
import logging
import time
from collections.abc import Mapping
from typing import Any

import pytest
from webhook_server import Reply, WebhookServer

from kindling_core.items import ErrorEvent
from kindling_webhook.delivery import WebhookDeliveryError, backoff_delay, parse_retry_after
from kindling_webhook.handler import WebhookHandler
from kindling_webhook.settings import parse_settings

FAST = {"timeout-seconds": 2.0, "backoff-seconds": 0.01, "max-delay-seconds": 0.05}


def _handler(url: str, environ: Mapping[str, str] | None = None, **settings: Any) -> WebhookHandler:
    parsed = parse_settings({"url": url, **FAST, **settings}, environ=environ or {})
    assert parsed is not None
    return WebhookHandler(parsed, app="orders-app")


def _event(message: str = "boom") -> ErrorEvent:
    return ErrorEvent(error=RuntimeError(message), source="pipe", subject="silver.orders", context={"attempt": 1})


def test_delivers_json_with_the_right_fields(server: WebhookServer) -> None:
    _handler(server.url)(_event())
    (request,) = server.wait_for(1)
    assert request.path == "/hooks/kindling?token=s3cret"
    assert request.headers["content-type"] == "application/json; charset=utf-8"
    assert request.headers["user-agent"].startswith("kindling-webhook/")
    doc = request.json()
    assert doc["source"] == "pipe" and doc["subject"] == "silver.orders"
    assert doc["error_type"] == "RuntimeError" and doc["message"] == "boom"
    assert doc["context"] == {"attempt": 1} and doc["app"] == "orders-app"
    assert dt.datetime.fromisoformat(doc["timestamp"]).utcoffset() == dt.timedelta(0)
    assert doc["host"] and "traceback" in doc


def test_sends_extra_headers_and_the_secret_from_env(server: WebhookServer) -> None:
    handler = _handler(
        server.url,
        environ={"HOOK_AUTH": "Bearer t0ken"},
        headers={"X-Team": "data"},
        **{"header-env": {"Authorization": "HOOK_AUTH"}},
    )
    handler(_event())
    (request,) = server.wait_for(1)
    assert request.headers["authorization"] == "Bearer t0ken" and request.headers["x-team"] == "data"
    assert "t0ken" not in repr(handler)


def test_retries_on_503_then_succeeds(server: WebhookServer) -> None:
    server.reply(Reply(503), Reply(503))
    _handler(server.url, retries=3)(_event())
    assert [r.json()["message"] for r in server.wait_for(3)] == ["boom"] * 3
    assert len(server.requests) == 3


def test_retries_on_429_and_honours_retry_after(server: WebhookServer) -> None:
    server.reply(Reply(429, headers={"Retry-After": "0.3"}))
    _handler(server.url, retries=1, **{"max-delay-seconds": 5.0, "backoff-seconds": 0.0})(_event())
    first, second = server.wait_for(2)
    assert second.at - first.at >= 0.3


def test_retry_after_is_capped_and_dates_are_understood(server: WebhookServer) -> None:
    future = email.utils.format_datetime(dt.datetime.now(dt.timezone.utc) + dt.timedelta(seconds=60), usegmt=True)
    server.reply(Reply(503, headers={"Retry-After": "120"}), Reply(429, headers={"Retry-After": future}))
    parsed = parse_settings({"url": server.url, **FAST, "max-delay-seconds": 0.07}, environ={})
    delays: list[float] = []
    WebhookHandler(parsed, sleep=delays.append)(_event())
    assert delays == [0.07, 0.07]
    assert len(server.wait_for(3)) == 3


def test_gives_up_after_n_retries_naming_host_and_status(
    server: WebhookServer, caplog: pytest.LogCaptureFixture
) -> None:
    server.default = Reply(502)
    handler = _handler(server.url, retries=2)
    with caplog.at_level(logging.WARNING, logger="kindling.webhook"), pytest.raises(WebhookDeliveryError) as info:
        handler(_event())
    assert len(server.wait_for(3)) == 3
    error = info.value
    assert (error.host, error.status, error.attempts) == (server.host, 502, 3)
    assert f"webhook delivery to {server.host} failed after 3 attempts: HTTP 502" in str(error)
    assert "s3cret" not in str(error)  # the URL's query (a token) is never shown
    (record,) = [r for r in caplog.records if r.name == "kindling.webhook"]
    assert record.levelno == logging.WARNING
    assert server.host in record.getMessage() and "HTTP 502" in record.getMessage()
    assert "s3cret" not in record.getMessage()


@pytest.mark.parametrize("status", [400, 401, 404, 422])
def test_does_not_retry_other_4xx(server: WebhookServer, status: int) -> None:
    server.default = Reply(status)
    with pytest.raises(WebhookDeliveryError) as info:
        _handler(server.url, retries=3)(_event())
    assert info.value.status == status and info.value.attempts == 1
    assert "after 1 attempt:" in str(info.value)
    assert len(server.requests) == 1


def test_redirects_are_not_followed(server: WebhookServer) -> None:
    server.default = Reply(307, headers={"Location": server.url + "&moved=1"})
    with pytest.raises(WebhookDeliveryError) as info:
        _handler(server.url)(_event())
    assert info.value.status == 307 and "redirects are not followed" in str(info.value)
    assert len(server.requests) == 1


def test_connection_refused_is_retried_then_reported(closed_port: int) -> None:
    handler = _handler(f"http://127.0.0.1:{closed_port}/hook", retries=2)
    with pytest.raises(WebhookDeliveryError) as info:
        handler(_event())
    assert info.value.status is None and info.value.attempts == 3
    assert f"127.0.0.1:{closed_port}" in str(info.value) and "connection error" in str(info.value)
    assert info.value.__cause__ is not None


def test_timeouts_are_retried(server: WebhookServer) -> None:
    server.reply(Reply(200, hang_seconds=5.0))  # first attempt hangs past the timeout
    started = time.monotonic()
    _handler(server.url, retries=1, **{"timeout-seconds": 0.3})(_event())
    assert len(server.wait_for(2)) == 2
    assert time.monotonic() - started < 4.0


def test_min_interval_suppresses_and_counts(server: WebhookServer) -> None:
    now = [100.0]
    parsed = parse_settings({"url": server.url, **FAST, "min-interval-seconds": 60}, environ={})
    handler = WebhookHandler(parsed, clock=lambda: now[0])
    handler(_event("first"))
    handler(_event("dropped"))
    now[0] += 61
    handler(_event("third"))
    first, third = server.wait_for(2)
    assert (first.json()["message"], first.json()["suppressed"]) == ("first", 0)
    assert (third.json()["message"], third.json()["suppressed"]) == ("third", 1)
    assert len(server.requests) == 2


def test_payload_respects_max_bytes(server: WebhookServer) -> None:
    _handler(server.url, **{"max-payload-bytes": 2048})(_event("x" * 100_000))
    (request,) = server.wait_for(1)
    assert len(request.body) <= 2048 and request.json()["truncated"] is True


def test_backoff_is_exponential_capped_with_jitter() -> None:
    assert [backoff_delay(n, base=1.0, cap=5.0, rand=lambda: 0.0) for n in range(5)] == [0.5, 1.0, 2.0, 2.5, 2.5]
    assert [backoff_delay(n, base=1.0, cap=5.0, rand=lambda: 1.0) for n in range(5)] == [1.0, 2.0, 4.0, 5.0, 5.0]


def test_parse_retry_after() -> None:
    now = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    assert parse_retry_after("7", now=now) == 7.0
    assert parse_retry_after("0.25", now=now) == 0.25
    assert parse_retry_after("Mon, 01 Jan 2024 00:00:30 GMT", now=now) == 30.0
    assert parse_retry_after("Sun, 31 Dec 2023 00:00:00 GMT", now=now) == 0.0
    assert parse_retry_after("soon", now=now) is None and parse_retry_after(None) is None
