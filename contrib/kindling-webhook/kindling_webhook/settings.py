"""Parse and validate ``[tool.kindling.settings.webhook]``.

Every key is optional; with no URL at all (neither ``url`` nor ``$KINDLING_WEBHOOK_URL``)
:func:`parse_settings` returns ``None`` and the plugin registers nothing. A bad value raises
:class:`WebhookSettingsError` naming the exact key path, e.g.
``tool.kindling.settings.webhook.timeout-seconds``.

Secrets never belong in TOML: ``header-env`` maps a header name to the *name* of an
environment variable holding its value (``Authorization = "ALERTS_WEBHOOK_AUTH"``). The value
is read once, when the plugin registers, and is redacted from ``repr``.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from kindling_core.errors import ConfigError

__all__ = [
    "DEFAULTS",
    "ENV_URL",
    "SETTINGS_PATH",
    "WebhookSettings",
    "WebhookSettingsError",
    "parse_settings",
]

#: Where the settings live in ``pyproject.toml``; every error message starts its key path here.
SETTINGS_PATH = "tool.kindling.settings.webhook"

#: Environment variable consulted when the ``url`` key is absent.
ENV_URL = "KINDLING_WEBHOOK_URL"

#: Default values of the optional keys (dash-case, as written in TOML).
DEFAULTS: Mapping[str, Any] = MappingProxyType(
    {
        "timeout-seconds": 5.0,
        "retries": 3,
        "backoff-seconds": 0.5,
        "max-delay-seconds": 10.0,
        "max-payload-bytes": 65_536,
        "min-interval-seconds": 0.0,
    }
)

_KNOWN_KEYS = ("url", "app-name", "headers", "header-env", *DEFAULTS)
_MIN_PAYLOAD_BYTES = 1_024
# RFC 7230 token characters: what a header name may contain.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class WebhookSettingsError(ConfigError, ValueError):
    """A value under ``[tool.kindling.settings.webhook]`` is invalid; ``path`` names the key."""

    def __init__(self, key: str, message: str, *, remedy: str | None = None):
        path = f"{SETTINGS_PATH}.{key}" if key else SETTINGS_PATH
        super().__init__(f"{path} {message}", path=path, remedy=remedy)


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
    """Validate the plugin's settings table; ``None`` when no URL is configured anywhere."""
    for key in settings:
        if key not in _KNOWN_KEYS:
            close = difflib.get_close_matches(str(key), _KNOWN_KEYS, n=1, cutoff=0.6)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise WebhookSettingsError(
                str(key),
                f"is not a known setting.{hint} Known keys: {', '.join(sorted(_KNOWN_KEYS))}.",
                remedy="remove the key or fix its spelling",
            )
    url = _url(settings, environ)
    if url is None:
        return None
    headers = _headers(settings.get("headers", {}), "headers")
    headers.update(_env_headers(settings.get("header-env", {}), environ))
    app_name = settings.get("app-name")
    if app_name is not None and (not isinstance(app_name, str) or not app_name.strip()):
        raise WebhookSettingsError("app-name", f"must be a non-empty string, got {app_name!r}")
    return WebhookSettings(
        url=url,
        timeout_seconds=_number(settings, "timeout-seconds", positive=True),
        retries=_integer(settings, "retries", minimum=0, maximum=20),
        backoff_seconds=_number(settings, "backoff-seconds"),
        max_delay_seconds=_number(settings, "max-delay-seconds"),
        max_payload_bytes=_integer(settings, "max-payload-bytes", minimum=_MIN_PAYLOAD_BYTES),
        min_interval_seconds=_number(settings, "min-interval-seconds"),
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


def _number(settings: Mapping[str, Any], key: str, *, positive: bool = False) -> float:
    value = settings.get(key, DEFAULTS[key])
    bad = isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value)
    if bad or value < 0 or (positive and value == 0):
        word = "a positive number" if positive else "a number >= 0"
        raise WebhookSettingsError(key, f"must be {word} (seconds), got {value!r}")
    return float(value)


def _integer(settings: Mapping[str, Any], key: str, *, minimum: int, maximum: int | None = None) -> int:
    value = settings.get(key, DEFAULTS[key])
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or (
        maximum is not None and value > maximum
    ):
        upper = f" and <= {maximum}" if maximum is not None else ""
        raise WebhookSettingsError(key, f"must be an integer >= {minimum}{upper}, got {value!r}")
    return value


def _table(value: Any, key: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise WebhookSettingsError(
            key, f"must be a table of header = value, got {type(value).__name__}", remedy=f"write it as [{SETTINGS_PATH}.{key}]"
        )
    return value


def _check_header_name(name: Any, key: str) -> None:
    if not isinstance(name, str) or not _HEADER_NAME.match(name):
        raise WebhookSettingsError(key, f"has an invalid HTTP header name {name!r}")


def _headers(value: Any, key: str) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, text in _table(value, key).items():
        _check_header_name(name, key)
        if not isinstance(text, str) or "\n" in text or "\r" in text:
            raise WebhookSettingsError(f"{key}.{name}", "must be a single-line string")
        headers[name] = text
    return headers


def _env_headers(value: Any, environ: Mapping[str, str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for name, variable in _table(value, "header-env").items():
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
