"""The kindling plugin (entry point ``webhook`` in the ``kindling`` group).

Declares its settings (:data:`~kindling_webhook.settings.SCHEMA`), so kindling-core rejects
an unknown key or a bad value in ``[tool.kindling.settings.webhook]`` before this plugin runs.
Registers one error handler, ``webhook``, when a URL is configured in
``[tool.kindling.settings.webhook] url`` or ``$KINDLING_WEBHOOK_URL``; registers nothing
otherwise, so an installed but unconfigured plugin never posts anywhere and never fails.
Invalid settings raise a :class:`~kindling_core.errors.SettingsError` naming the key path: a
configuration error, which stops the app (lenient or strict), so a typo never silently turns
alerting off.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from kindling_core.hookspecs import hookimpl
from kindling_core.items import ErrorHandler
from kindling_core.plugin_settings import Setting
from kindling_webhook.handler import WebhookHandler
from kindling_webhook.settings import SCHEMA, parse_settings

__all__ = ["HANDLER_NAME", "kindling_error_handlers", "kindling_settings_schema"]

#: The name of the registered error handler (``[tool.kindling.error-handlers] order``).
HANDLER_NAME = "webhook"


@hookimpl
def kindling_settings_schema() -> tuple[Setting, ...]:
    """Declare every key of ``[tool.kindling.settings.webhook]``."""
    return SCHEMA


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
