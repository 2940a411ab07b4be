"""Fixtures of the webhook tests: a scripted local HTTP server and a closed port."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
from webhook_server import WebhookServer


@pytest.fixture
def server() -> Iterator[WebhookServer]:
    srv = WebhookServer().start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def closed_port() -> int:
    """A local port with nothing listening (connection refused)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(autouse=True)
def _no_webhook_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests never pick up a webhook URL, plugin switches or a proxy from the developer's shell."""
    for name in ("KINDLING_WEBHOOK_URL", "KINDLING_DISABLE_PLUGINS", "KINDLING_DISABLE_PLUGIN_AUTOLOAD"):
        monkeypatch.delenv(name, raising=False)
    for name in ("no_proxy", "NO_PROXY"):  # urllib honours proxy variables; never for the local server
        monkeypatch.setenv(name, "127.0.0.1,localhost")
