"""The ``webhook`` error handler: one JSON POST per reported error.

:class:`WebhookHandler` is the callable given to the core as ``ErrorHandler.handle``. It is
thread-safe (errors may be reported from several threads at once) and keeps one piece of
state: the optional rate limit of ``min-interval-seconds``. An error arriving sooner than that
after the previous post is not posted; the next post carries the number of such errors in
``"suppressed"``. (The core's other handlers, such as ``log``, still see every error.)

Delivery is synchronous: the reporting thread waits for the POST and its retries. The worst
case is bounded by ``(retries + 1) * timeout-seconds + retries * max-delay-seconds``.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable
from typing import Any

from kindling_core.items import ErrorEvent
from kindling_webhook import __version__
from kindling_webhook.delivery import deliver
from kindling_webhook.payload import build_document, encode
from kindling_webhook.settings import WebhookSettings

__all__ = ["WebhookHandler"]


class WebhookHandler:
    """POSTs each :class:`~kindling_core.items.ErrorEvent` to ``settings.url`` as JSON.

    ``app`` is the app name put in the document (``None`` when unknown). ``clock``, ``sleep``
    and ``rand`` are injectable for tests; the defaults are ``time.monotonic``,
    ``time.sleep`` and ``random.random``.
    """

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        app: str | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Any] = time.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.app = app
        self._clock = clock
        self._sleep = sleep
        self._rand = rand
        self._lock = threading.Lock()
        self._last_post: float | None = None
        self._suppressed = 0
        self._headers = {
            "Content-Type": "application/json; charset=utf-8",
            "User-Agent": f"kindling-webhook/{__version__}",
            **settings.headers,
        }

    def __repr__(self) -> str:
        return f"WebhookHandler(host={self.settings.host!r}, app={self.app!r})"

    def _admit(self) -> int | None:
        """``None`` if rate-limited (counted), else the number of errors suppressed before."""
        interval = self.settings.min_interval_seconds
        with self._lock:
            now = self._clock()
            if interval > 0 and self._last_post is not None and now - self._last_post < interval:
                self._suppressed += 1
                return None
            self._last_post = now
            suppressed, self._suppressed = self._suppressed, 0
            return suppressed

    def __call__(self, event: ErrorEvent) -> None:
        """Post ``event``; raise :class:`~kindling_webhook.delivery.WebhookDeliveryError` if
        the webhook never accepted it (the core then reports ``errors.handler_failed``)."""
        suppressed = self._admit()
        if suppressed is None:
            return
        settings = self.settings
        document = build_document(event, app=self.app, suppressed=suppressed)
        body = encode(document, settings.max_payload_bytes)
        deliver(
            settings.url,
            body,
            headers=self._headers,
            host=settings.host,
            timeout=settings.timeout_seconds,
            retries=settings.retries,
            backoff=settings.backoff_seconds,
            max_delay=settings.max_delay_seconds,
            sleep=self._sleep,
            rand=self._rand,
        )
