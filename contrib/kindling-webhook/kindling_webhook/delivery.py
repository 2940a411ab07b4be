"""POST a JSON body to a URL with retries, using only ``urllib.request``.

Retry policy (:func:`deliver`):

* retried: connection errors (refused, reset, DNS), timeouts, HTTP 408, 429 and 5xx;
* not retried: every other status outside 2xx (a 4xx means the request itself is wrong;
  redirects are **not** followed, since following one would turn the POST into a GET);
* delay before retry *n* (0-based): ``min(max_delay, backoff * 2**n)``, of which the upper
  half is random ("equal jitter"), so retrying clients spread out; when the response has a
  ``Retry-After`` header (seconds or an HTTP date) that delay is used instead, capped by
  ``max_delay`` as well;
* after the last attempt :class:`WebhookDeliveryError` is raised, naming the URL's host (never
  its path or query, which often carry tokens) and the final status.
"""

from __future__ import annotations

import datetime as _dt
import email.utils
import http.client
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from kindling_core.errors import KindlingError

__all__ = [
    "Attempt",
    "WebhookDeliveryError",
    "backoff_delay",
    "deliver",
    "is_retryable_status",
    "parse_retry_after",
]

logger = logging.getLogger("kindling.webhook")

_RETRYABLE_STATUSES = frozenset({408, 429})
_RESPONSE_EXCERPT = 200


class WebhookDeliveryError(KindlingError):
    """The webhook did not accept an error report after every allowed attempt.

    ``host`` is the URL's ``host[:port]``; ``status`` the final HTTP status (``None`` when the
    last attempt got no response: connection error or timeout); ``attempts`` how many requests
    were made; ``reason`` the final outcome in words.
    """

    def __init__(self, *, host: str, status: int | None, attempts: int, reason: str, remedy: str):
        self.host = host
        self.status = status
        self.attempts = attempts
        self.reason = reason
        outcome = f"HTTP {status} ({reason})" if status is not None else reason
        plural = "attempt" if attempts == 1 else "attempts"
        super().__init__(
            f"webhook delivery to {host} failed after {attempts} {plural}: {outcome}",
            culprit=f"webhook {host}",
            remedy=remedy,
        )


@dataclass(frozen=True)
class Attempt:
    """The outcome of one request: a status (``None`` without a response) and its meaning."""

    status: int | None
    reason: str
    retry_after: float | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300

    @property
    def retryable(self) -> bool:
        return self.status is None or is_retryable_status(self.status)


def is_retryable_status(status: int) -> bool:
    """True for statuses worth retrying: 408, 429 and every 5xx."""
    return status in _RETRYABLE_STATUSES or 500 <= status <= 599


def parse_retry_after(value: str | None, *, now: _dt.datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header: delta-seconds or an HTTP date.

    Decimal seconds (``"0.5"``) are accepted too. Returns ``None`` for a missing or
    unparseable header and ``0.0`` for a date in the past.
    """
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=_dt.timezone.utc)
        seconds = (when - (now or _dt.datetime.now(_dt.timezone.utc))).total_seconds()
    if seconds != seconds:  # NaN
        return None
    return max(0.0, seconds)


def backoff_delay(retry: int, *, base: float, cap: float, rand: Callable[[], float] = random.random) -> float:
    """Delay before retry number ``retry`` (0-based): exponential, capped, equal jitter."""
    ceiling = min(cap, base * (2.0**retry))
    return ceiling / 2.0 + rand() * ceiling / 2.0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """Turn redirects into ordinary HTTP errors (a redirected POST would become a GET)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # type: ignore[no-untyped-def]
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


def _post_once(url: str, body: bytes, headers: Mapping[str, str], timeout: float) -> Attempt:
    request = urllib.request.Request(url, data=body, method="POST", headers=dict(headers))
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read(_RESPONSE_EXCERPT)
            return Attempt(response.status, response.reason or "OK")
    except urllib.error.HTTPError as exc:
        try:
            retry_after = parse_retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            return Attempt(exc.code, str(exc.reason or ""), retry_after=retry_after, error=exc)
        finally:
            exc.close()
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, TimeoutError):
            return Attempt(None, f"timed out after {timeout:g}s", error=exc)
        return Attempt(None, f"connection error: {reason}", error=exc)
    except TimeoutError as exc:  # a timeout while reading the response
        return Attempt(None, f"timed out after {timeout:g}s", error=exc)
    except (OSError, http.client.HTTPException) as exc:  # reset connections, bad status lines
        return Attempt(None, f"connection error: {type(exc).__name__}: {exc}", error=exc)


def deliver(
    url: str,
    body: bytes,
    *,
    headers: Mapping[str, str],
    host: str,
    timeout: float,
    retries: int,
    backoff: float,
    max_delay: float,
    sleep: Callable[[float], Any] = time.sleep,
    rand: Callable[[], float] = random.random,
) -> int:
    """POST ``body`` to ``url``, retrying per the module's policy; return the 2xx status.

    Raises :class:`WebhookDeliveryError` (with the last underlying exception as
    ``__cause__``) when every attempt failed, after logging a warning under
    ``kindling.webhook`` that names ``host`` and the final status.
    """
    attempts = 0
    while True:
        attempt = _post_once(url, body, headers, timeout)
        attempts += 1
        if attempt.ok:
            return attempt.status  # type: ignore[return-value]
        last = attempts > retries or not attempt.retryable
        if last:
            break
        if attempt.retry_after is not None:
            delay = min(max_delay, attempt.retry_after)
        else:
            delay = backoff_delay(attempts - 1, base=backoff, cap=max_delay, rand=rand)
        logger.debug(
            "webhook %s attempt %d: %s; retrying in %.3fs",
            host,
            attempts,
            _outcome(attempt),
            delay,
        )
        sleep(delay)
    final = _outcome(attempt)
    logger.warning("webhook delivery to %s failed after %d attempt(s); final status: %s", host, attempts, final)
    error = WebhookDeliveryError(
        host=host,
        status=attempt.status,
        attempts=attempts,
        reason=attempt.reason,
        remedy=_remedy(attempt),
    )
    if attempt.error is not None:
        error.__cause__ = attempt.error
    raise error


def _outcome(attempt: Attempt) -> str:
    return f"HTTP {attempt.status} {attempt.reason}".rstrip() if attempt.status is not None else attempt.reason


def _remedy(attempt: Attempt) -> str:
    status = attempt.status
    if status is None:
        return "check that the webhook host is reachable from here and raise timeout-seconds if it is slow"
    if 300 <= status < 400:
        return "redirects are not followed: set tool.kindling.settings.webhook.url to the final URL"
    if status in (401, 403):
        return "check the credentials sent (tool.kindling.settings.webhook.header-env)"
    if 400 <= status < 500 and not is_retryable_status(status):
        return "the webhook rejected the request: check the URL and the expected payload"
    return "the webhook is failing or throttling: check its health, or raise retries/backoff-seconds"
