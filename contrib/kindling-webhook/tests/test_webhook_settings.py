"""Settings validation: defaults, the env URL, and a clear error naming each bad key path.

Unknown keys, types and bounds are checked by kindling-core against the plugin's declared
schema (a ``SettingsError``); the URL, headers and environment checks by the plugin itself (a
``WebhookSettingsError``, a subclass). ``parse_settings`` applies both, so these tests call it
on raw tables.
"""

from __future__ import annotations

import pytest

from kindling_core.errors import SettingsError
from kindling_webhook.settings import ENV_URL, parse_settings

URL = "https://hooks.example.com/kindling?token=abc"


def test_no_url_anywhere_means_unconfigured() -> None:
    assert parse_settings({}, environ={}) is None
    assert parse_settings({"retries": 2}, environ={ENV_URL: "  "}) is None


def test_defaults_and_host() -> None:
    settings = parse_settings({"url": URL}, environ={})
    assert settings is not None
    assert (settings.timeout_seconds, settings.retries, settings.backoff_seconds) == (5.0, 3, 0.5)
    assert settings.max_payload_bytes == 65_536 and settings.min_interval_seconds == 0.0
    assert settings.host == "hooks.example.com"
    assert parse_settings({"url": "http://user:pw@127.0.0.1:8080/x"}, environ={}).host == "127.0.0.1:8080"


def test_url_from_environment_only_when_key_absent() -> None:
    assert parse_settings({}, environ={ENV_URL: URL}).url == URL
    assert parse_settings({"url": "http://a.example/x"}, environ={ENV_URL: URL}).url == "http://a.example/x"


def test_headers_and_secret_from_env_are_sent_but_never_shown() -> None:
    settings = parse_settings(
        {"url": URL, "headers": {"X-Team": "data"}, "header-env": {"Authorization": "HOOK_AUTH"}},
        environ={"HOOK_AUTH": "Bearer top-secret"},
    )
    assert dict(settings.headers) == {"X-Team": "data", "Authorization": "Bearer top-secret"}
    assert "top-secret" not in repr(settings)


@pytest.mark.parametrize(
    ("settings", "environ", "path", "fragment"),
    [
        ({"url": 3}, {}, "tool.kindling.settings.webhook.url", "must be a string, got 3"),
        ({"url": ""}, {}, "tool.kindling.settings.webhook.url", "must be a non-empty http(s) URL"),
        ({"url": "ftp://x.example/"}, {}, "tool.kindling.settings.webhook.url", "http:// or https://"),
        ({}, {ENV_URL: "not a url"}, "tool.kindling.settings.webhook.url", f"env {ENV_URL}"),
        ({"url": URL, "timeout-seconds": 0}, {}, "tool.kindling.settings.webhook.timeout-seconds", "positive number"),
        ({"url": URL, "timeout-seconds": "5"}, {}, "tool.kindling.settings.webhook.timeout-seconds", "'5'"),
        ({"url": URL, "timeout-seconds": float("inf")}, {}, "tool.kindling.settings.webhook.timeout-seconds", "inf"),
        ({"url": URL, "retries": -1}, {}, "tool.kindling.settings.webhook.retries", "integer >= 0"),
        ({"url": URL, "retries": 1.5}, {}, "tool.kindling.settings.webhook.retries", "integer"),
        ({"url": URL, "retries": True}, {}, "tool.kindling.settings.webhook.retries", "integer"),
        ({"url": URL, "backoff-seconds": -0.1}, {}, "tool.kindling.settings.webhook.backoff-seconds", ">= 0"),
        ({"url": URL, "max-payload-bytes": 10}, {}, "tool.kindling.settings.webhook.max-payload-bytes", ">= 1024"),
        ({"url": URL, "headers": ["a"]}, {}, "tool.kindling.settings.webhook.headers", "must be a table"),
        ({"url": URL, "headers": {"Bad Name": "x"}}, {}, "tool.kindling.settings.webhook.headers", "header name"),
        ({"url": URL, "headers": {"X-A": 1}}, {}, "tool.kindling.settings.webhook.headers.X-A", "single-line string"),
        (
            {"url": URL, "header-env": {"Authorization": "HOOK_AUTH"}},
            {},
            "tool.kindling.settings.webhook.header-env.Authorization",
            "HOOK_AUTH, which is not set",
        ),
        (
            {"url": URL, "header-env": {"Authorization": "Bearer xyz"}},
            {},
            "tool.kindling.settings.webhook.header-env.Authorization",
            "must name an environment variable",
        ),
        ({"url": URL, "retry": 2}, {}, "tool.kindling.settings.webhook.retry", "Did you mean 'retries'?"),
    ],
)
def test_bad_settings_name_the_key_path(settings: dict, environ: dict, path: str, fragment: str) -> None:
    with pytest.raises(SettingsError) as info:
        parse_settings(settings, environ=environ)
    message = str(info.value)
    assert message.startswith(path + " "), message
    assert fragment in message
    assert info.value.path == path
    assert isinstance(info.value, ValueError)


def test_error_never_echoes_a_secret_from_the_environment() -> None:
    with pytest.raises(SettingsError) as info:
        parse_settings({"url": URL, "header-env": {"Authorization": "HOOK_AUTH"}}, environ={"HOOK_AUTH": "line1\nline2"})
    assert "line1" not in str(info.value)
