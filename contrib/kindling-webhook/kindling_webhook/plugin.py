"""The kindling plugin (entry point ``webhook`` in the ``kindling`` group).

Registers one error handler, ``webhook``, when a URL is configured in
``[tool.kindling.settings.webhook] url`` or ``$KINDLING_WEBHOOK_URL``; registers nothing
otherwise, so an installed but unconfigured plugin never posts anywhere and never fails.
Invalid settings raise :class:`~kindling_webhook.settings.WebhookSettingsError` naming the
key path; the core reports the plugin as failed with that message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from kindling_core.hookspecs import hookimpl
from kindling_core.items import ErrorHandler

from kindling_webhook.handler import WebhookHandler
from kindling_webhook.settings import parse_settings

__all__ = ["HANDLER_NAME", "kindling_error_handlers"]

#: The name of the registered error handler (``[tool.kindling.error-handlers] order``).
HANDLER_NAME = "webhook"


@hookimpl
def kindling_error_handlers(config: Any, settings: Mapping[str, Any]) -> list[ErrorHandler]:
    """Register the ``webhook`` handler, or nothing when no URL is configured."""
    parsed = parse_settings(settings, environ=os.environ)
    if parsed is None:
        return []
    app = parsed.app_name or getattr(config, "app", "") or None
    return [
        ErrorHandler(
            name=HANDLER_NAME,
            description=f"POST each error as JSON to {parsed.host} (with retries)",
            handle=WebhookHandler(parsed, app=app),
        )
    ]
