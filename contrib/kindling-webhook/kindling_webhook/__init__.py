"""kindling-webhook: a kindling error handler that POSTs errors as JSON to a webhook.

Install it next to kindling-core and configure a URL::

    [tool.kindling.settings.webhook]
    url = "https://hooks.example.com/kindling"

Modules: :mod:`~kindling_webhook.settings` (validation), :mod:`~kindling_webhook.payload`
(the JSON document), :mod:`~kindling_webhook.delivery` (HTTP with retries),
:mod:`~kindling_webhook.handler` (the error handler), :mod:`~kindling_webhook.plugin` (the
entry point).
"""

from __future__ import annotations

__version__ = "0.1.0"

from kindling_webhook.delivery import WebhookDeliveryError
from kindling_webhook.settings import WebhookSettings, WebhookSettingsError, parse_settings

__all__ = ["WebhookDeliveryError", "WebhookSettings", "WebhookSettingsError", "__version__", "parse_settings"]
