"""Declare, parse and validate ``[tool.kindling.settings.webhook]``.

:data:`SCHEMA` declares every key to kindling-core (the plugin's ``kindling_settings_schema``),
which rejects unknown keys (with a did-you-mean), checks types and bounds and fills in the
defaults before the plugin sees the table. :func:`parse_settings` applies the same schema
(so it can be called on a raw table) and then what a schema cannot say: the URL's scheme and
host, header names, the environment variables of ``header-env``, a positive, finite timeout.

Every key is optional; with no URL at all (neither ``url`` nor ``$KINDLING_WEBHOOK_URL``)
:func:`parse_settings` returns ``None`` and the plugin registers nothing. A bad value raises
a :class:`~kindling_core.errors.SettingsError` (:class:`WebhookSettingsError` for the checks
made here) naming the exact key path, e.g. ``tool.kindling.settings.webhook.timeout-seconds``.

Secrets never belong in TOML: ``header-env`` maps a header name to the *name* of an
environment variable holding its value (``Authorization = "ALERTS_WEBHOOK_AUTH"``). The value
is read once, when the plugin registers, and is redacted from ``repr``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from kindling_core.errors import SettingsError
from kindling_core.plugin_settings import Setting, validate_settings

__all__ = [
    "DEFAULTS",
    "ENV_URL",
    "SCHEMA",
    "SETTINGS_PATH",
    "WebhookSettings",
    "WebhookSettingsError",
    "parse_settings",
]

#: The plugin id, which names the settings table.
PLUGIN_ID = "webhook"

#: Where the settings live in ``pyproject.toml``; every error message starts its key path here.
SETTINGS_PATH = "tool.kindling.settings.webhook"

#: Environment variable consulted when the ``url`` key is absent.
ENV_URL = "KINDLING_WEBHOOK_URL"

#: Every key of ``[tool.kindling.settings.webhook]``, as declared to kindling-core.
SCHEMA: tuple[Setting, ...] = (
    Setting("url", str, description=f"http(s) URL errors are posted to (default: ${ENV_URL})"),
    Setting("app-name", str, description="the app name put in each document (default: tool.kindling.app)"),
    Setting("headers", dict, description="extra request headers: name = value"),
    Setting("header-env", dict, description="extra request headers: name = NAME of an environment variable"),
    Setting("timeout-seconds", float, default=5.0, min=0, description="timeout of one request (> 0)"),
    Setting("retries", int, default=3, min=0, max=20, description="retries after the first attempt"),
    Setting("backoff-seconds", float, default=0.5, min=0, description="first retry delay, doubled per retry"),
    Setting("max-delay-seconds", float, default=10.0, min=0, description="cap of a retry delay"),
    Setting("max-payload-bytes", int, default=65_536, min=1_024, description="documents are trimmed to this size"),
    Setting("min-interval-seconds", float, default=0.0, min=0, description="> 0: post at most one error per interval"),
)

#: Default values of the optional keys (dash-case, as written in TOML).
DEFAULTS: Mapping[str, Any] = MappingProxyType({s.name: s.default for s in SCHEMA if s.default is not None})
# RFC 7230 token characters: what a header name may contain.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class WebhookSettingsError(SettingsError):
    """A value under ``[tool.kindling.settings.webhook]`` fails a check the schema cannot
    express (a URL's scheme, a header name); ``path`` names the key."""

    def __init__(self, key: str, message: str, *, remedy: str | None = None):
        path = f"{SETTINGS_PATH}.{key}" if key else SETTINGS_PATH
        super().__init__(f"{path} {message}", plugin=PLUGIN_ID, key=key, remedy=remedy)


@dataclass(frozen=True)
class WebhookSettings:
    """Validated webhook settings (see the README for each key's meaning).

    ``headers`` holds the final extra request headers, including the values read through
    ``header-env``; it is left out of ``repr`` so secrets do not reach logs.
    """

    url: str
    timeout_seconds: float = DEFAULTS["timeout-seconds"]
    retries: int = DEFAULTS["retries"]
    backoff_seconds: float = DEFAULTS["backoff-seconds"]
    max_delay_seconds: float = DEFAULTS["max-delay-seconds"]
    max_payload_bytes: int = DEFAULTS["max-payload-bytes"]
    min_interval_seconds: float = DEFAULTS["min-interval-seconds"]
    app_name: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)

    @property
    def host(self) -> str:
        """``host[:port]`` of the URL: safe to log (paths and queries often carry tokens)."""
        return urlsplit(self.url).netloc.rpartition("@")[2]


def parse_settings(
    settings: Mapping[str, Any], *, environ: Mapping[str, str]
) -> WebhookSettings | None:
    """Validate the plugin's settings table; ``None`` when no URL is configured anywhere.

    ``settings`` may be the raw table or what the core already validated against
    :data:`SCHEMA` (validating twice changes nothing).
    """
    values = validate_settings(PLUGIN_ID, SCHEMA, settings)
    url = _url(values, environ)
    if url is None:
        return None
    headers = _headers(values.get("headers", {}), "headers")
    headers.update(_env_headers(values.get("header-env", {}), environ))
    app_name = values.get("app-name")
    if app_name is not None and not app_name.strip():
        raise WebhookSettingsError("app-name", f"must be a non-empty string, got {app_name!r}")
    return WebhookSettings(
        url=url,
        timeout_seconds=_seconds(values, "timeout-seconds", positive=True),
        retries=values["retries"],
        backoff_seconds=_seconds(values, "backoff-seconds"),
        max_delay_seconds=_seconds(values, "max-delay-seconds"),
        max_payload_bytes=values["max-payload-bytes"],
        min_interval_seconds=_seconds(values, "min-interval-seconds"),
        app_name=app_name,
        headers=MappingProxyType(headers),
    )


def _url(settings: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    if "url" in settings:
        value, where, key = settings["url"], f"{SETTINGS_PATH}.url", "url"
    else:
        value, where, key = environ.get(ENV_URL, "").strip() or None, f"env {ENV_URL}", "url"
        if value is None:
            return None
    if not isinstance(value, str) or not value.strip():
        raise WebhookSettingsError(key, f"must be a non-empty http(s) URL string, got {value!r}")
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        shown = f"{parts.scheme}://{parts.netloc}" if parts.scheme else repr(value)[:60]
        raise WebhookSettingsError(
            key,
            f"must be an http:// or https:// URL with a host (from {where}), got {shown}",
            remedy="write the full URL, e.g. https://hooks.example.com/kindling",
        )
    return value.strip()


def _seconds(values: Mapping[str, Any], key: str, *, positive: bool = False) -> float:
    """A finite number of seconds (the schema checked it is a number >= 0)."""
    value = values[key]
    if not math.isfinite(value) or (positive and value == 0):
        word = "a positive number" if positive else "a finite number >= 0"
        raise WebhookSettingsError(key, f"must be {word} (seconds), got {value!r}")
    return value


def _check_header_name(name: Any, key: str) -> None:
    if not isinstance(name, str) or not _HEADER_NAME.match(name):
        raise WebhookSettingsError(key, f"has an invalid HTTP header name {name!r}")


def _headers(value: Mapping[str, Any], key: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, text in value.items():
        _check_header_name(name, key)
        if not isinstance(text, str) or "\n" in text or "\r" in text:
            raise WebhookSettingsError(f"{key}.{name}", "must be a single-line string")
        headers[name] = text
    return headers


def _env_headers(value: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, variable in value.items():
        _check_header_name(name, "header-env")
        key = f"header-env.{name}"
        if not isinstance(variable, str) or not _ENV_NAME.match(variable):
            raise WebhookSettingsError(key, f"must name an environment variable, got {variable!r}")
        secret = environ.get(variable)
        if not secret:
            raise WebhookSettingsError(
                key,
                f"names the environment variable {variable}, which is not set (or empty)",
                remedy=f"export {variable} where the app runs, or remove the header",
            )
        if "\n" in secret or "\r" in secret:
            raise WebhookSettingsError(key, f"the value of ${variable} must be a single line")
        headers[name] = secret
    return headers
