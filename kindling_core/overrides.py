"""The command line's configuration overrides, and how they reach an app built at import time.

An app module normally builds its app while it is imported (``app = App()``), so the options
of ``kindling`` (``--config``, ``--disable-plugin``, ``--enable-plugin``, ``--no-autoload``,
``--strict-plugins``) have to reach that constructor. :func:`kindling_core.loading.load_app`
puts a :class:`CliOverrides` *in effect* for the duration of the import only (a context
variable, see :func:`in_effect`), and every :class:`~kindling_core.app.App` built meanwhile
applies it (:func:`app_config`). Outside ``load_app`` nothing is in effect and ``App()``
behaves exactly as written; nothing here does anything on import.

Precedence, later wins:

1. defaults;
2. the configuration file: the nearest ``pyproject.toml``, or what the code names
   (``App(config_path=...)``, ``App(config=...)``); ``--config FILE`` replaces all of these;
3. environment: ``KINDLING_DISABLE_PLUGINS``, ``KINDLING_DISABLE_PLUGIN_AUTOLOAD``;
4. keyword overrides in the code (``App(plugins_config={"disable": [...]})``);
5. the command line: ``--disable-plugin ID`` disables ID whatever enables it;
   ``--enable-plugin ID`` loads ID even with autoload off and even when the file, the
   environment or the code disable it; ``--no-autoload`` turns autoload off and
   ``--strict-plugins`` turns strict mode on whatever the other levels say.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from os import PathLike
from pathlib import Path
from typing import Any

import attrs

from kindling_core.config import KindlingConfig, load_config, with_overrides
from kindling_core.errors import ConfigError

__all__ = ["CliOverrides", "app_config", "in_effect", "overrides_in_effect"]


def _names(value: Any) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(name) for name in value))


def _optional_path(value: Any) -> Path | None:
    return None if value is None else Path(value)


@attrs.frozen
class CliOverrides:
    """Options given before the subcommand (``kindling --config ci.toml run``).

    ``config_path`` replaces the configuration file; the plugin options override every other
    source (see the module docstring). A name given to both ``--enable-plugin`` and
    ``--disable-plugin`` is a :class:`~kindling_core.errors.ConfigError`.
    """

    config_path: Path | None = attrs.field(default=None, converter=_optional_path)
    disable_plugins: tuple[str, ...] = attrs.field(default=(), converter=_names)
    enable_plugins: tuple[str, ...] = attrs.field(default=(), converter=_names)
    no_autoload: bool = False
    strict_plugins: bool = False

    def __attrs_post_init__(self) -> None:
        both = [name for name in self.enable_plugins if name in self.disable_plugins]
        if both:
            raise ConfigError(
                f"plugin {both[0]!r} is given to both --enable-plugin and --disable-plugin",
                path="--enable-plugin",
                culprit=both[0],
                remedy=f"keep one of --enable-plugin {both[0]} and --disable-plugin {both[0]}",
            )

    @property
    def empty(self) -> bool:
        """True when no option was given (applying it changes nothing)."""
        return self == CliOverrides()

    def describe(self) -> str:
        """The options as typed: ``--config ci.toml --disable-plugin x``."""
        words = [f"--config {self.config_path}"] if self.config_path is not None else []
        words += [f"--disable-plugin {name}" for name in self.disable_plugins]
        words += [f"--enable-plugin {name}" for name in self.enable_plugins]
        words += ["--no-autoload"] * self.no_autoload + ["--strict-plugins"] * self.strict_plugins
        return " ".join(words)

    def load(self) -> KindlingConfig:
        """``--config`` (or the nearest pyproject.toml), the environment, then these options."""
        return self.apply(load_config(self.config_path))

    def apply(self, config: KindlingConfig) -> KindlingConfig:
        """``config`` with the plugin options on top (names keep their origin for messages)."""
        plugins = config.plugins
        changes: dict[str, Any] = {}
        if self.disable_plugins:
            changes["cli_disable"] = _names((*plugins.cli_disable, *self.disable_plugins))
        if self.enable_plugins:
            changes["cli_enable"] = _names((*plugins.cli_enable, *self.enable_plugins))
        if self.no_autoload:
            changes["autoload"] = False
        if self.strict_plugins:
            changes["strict"] = True
        return attrs.evolve(config, plugins=attrs.evolve(plugins, **changes)) if changes else config


_IN_EFFECT: ContextVar[CliOverrides | None] = ContextVar("kindling_cli_overrides", default=None)


def overrides_in_effect() -> CliOverrides | None:
    """The overrides :func:`in_effect` here (``None`` outside ``load_app``)."""
    return _IN_EFFECT.get()


@contextlib.contextmanager
def in_effect(overrides: CliOverrides | None) -> Iterator[None]:
    """Make ``overrides`` apply to every App built in this context until the block ends."""
    token = _IN_EFFECT.set(overrides)
    try:
        yield
    finally:
        _IN_EFFECT.reset(token)


def app_config(
    config: KindlingConfig | None,
    config_path: str | PathLike[str] | None,
    keyword_overrides: Mapping[str, Any],
    cli: CliOverrides | None,
) -> KindlingConfig:
    """The configuration of an ``App(config=..., config_path=..., **keyword_overrides)``
    built while ``cli`` is in effect, by the precedence in the module docstring."""
    if cli is not None and cli.config_path is not None:
        base = load_config(cli.config_path)
    else:
        base = config if config is not None else load_config(config_path)
    configured = with_overrides(base, **keyword_overrides) if keyword_overrides else base
    return cli.apply(configured) if cli is not None else configured
