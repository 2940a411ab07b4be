"""What every ``kindling`` subcommand shares: global options → configuration → app, and errors.

The root group stores a :class:`CliOptions` on the click context; subcommands call
:func:`config_from` or :func:`app_from` and wrap their work in :func:`reporting_errors`, which
turns a :class:`~kindling_core.errors.KindlingError` into ``error: ...`` on stderr and exit
status 2 (never a traceback for a user mistake).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import attrs
import click

from kindling_core.config import KindlingConfig, load_config, with_overrides
from kindling_core.errors import KindlingError

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.app import App

EXIT_USAGE = 2
EXIT_PROBLEMS = 1


@attrs.frozen
class CliOptions:
    """Global options given before the subcommand."""

    config_path: str | None = None
    disable_plugins: tuple[str, ...] = ()
    enable_plugins: tuple[str, ...] = ()
    no_autoload: bool = False
    strict_plugins: bool = False


def options_of(ctx: click.Context) -> CliOptions:
    obj = ctx.find_object(CliOptions)
    return obj if obj is not None else CliOptions()


def config_from(ctx: click.Context, **overrides: Any) -> KindlingConfig:
    """Configuration from ``--config`` (or the nearest pyproject), env, then CLI flags."""
    options = options_of(ctx)
    config = load_config(options.config_path)
    plugins: dict[str, Any] = {}
    if options.disable_plugins:
        plugins["disable"] = tuple(config.plugins.disable) + options.disable_plugins
    if options.enable_plugins:
        plugins["enable"] = tuple(config.plugins.enable) + options.enable_plugins
    if options.no_autoload:
        plugins["autoload"] = False
    if options.strict_plugins:
        plugins["strict"] = True
    if plugins:
        overrides["plugins"] = plugins
    return with_overrides(config, **overrides) if overrides else config


def app_from(ctx: click.Context, app_ref: str | None = None, **overrides: Any) -> App:
    """The app named by ``app_ref`` / ``tool.kindling.app``, or a bare app from configuration.

    An app loaded by reference keeps its own configuration; CLI plugin flags apply only to a
    bare app.
    """
    config = config_from(ctx, **overrides)
    ref = app_ref or config.app
    if ref:
        from kindling_core.model.loading import load_app

        return load_app(ref, search_path=config.root)
    from kindling_core.app import App

    return App(config=config)


class _BriefFormatter(logging.Formatter):
    """``level logger: message``; tracebacks only when asked for (``--traceback``)."""

    def __init__(self, tracebacks: bool) -> None:
        super().__init__("%(levelname)s %(name)s: %(message)s")
        self.tracebacks = tracebacks

    def formatException(self, ei: Any) -> str:  # noqa: N802 - logging's API
        return super().formatException(ei) if self.tracebacks else ""

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        return text.rstrip("\n")


def configure_logging(level: str = "WARNING", *, tracebacks: bool = False) -> None:
    """Log ``kindling.*`` records at ``level`` and above to stderr, one line each.

    Only the ``kindling`` logger is configured (the CLI owns the process; a library import
    never configures logging).
    """
    logger = logging.getLogger("kindling")
    for handler in list(logger.handlers):
        if getattr(handler, "_kindling_cli", False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(sys.stderr)
    handler._kindling_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(_BriefFormatter(tracebacks))
    logger.addHandler(handler)
    logger.setLevel(level.upper())
    logger.propagate = False


@contextlib.contextmanager
def reporting_errors() -> Iterator[None]:
    """Print a KindlingError as ``error: ...`` on stderr and exit 2."""
    try:
        yield
    except KindlingError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_USAGE)
