"""What every ``kindling`` subcommand shares: global options → configuration → app, and errors.

The root group stores the global options as a :class:`~kindling_core.overrides.CliOverrides`
on the click context; subcommands call :func:`config_from` or :func:`app_from` (which applies
the options to the app module's ``App()`` too, see :mod:`kindling_core.overrides`) and wrap
their work in :func:`reporting_errors`, which turns a
:class:`~kindling_core.errors.KindlingError` into ``error: ...`` on stderr and exit status 2
(never a traceback for a user mistake).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import click

from kindling_core.config import KindlingConfig
from kindling_core.errors import ConfigError, KindlingError
from kindling_core.overrides import CliOverrides

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.app import App

__all__ = ["CliOverrides", "app_from", "config_from", "configure_logging", "options_of", "pipe_ids", "reporting_errors"]

EXIT_USAGE = 2
EXIT_PROBLEMS = 1


def options_of(ctx: click.Context) -> CliOverrides:
    """The global options given before the subcommand (none when run without the root group)."""
    obj = ctx.find_object(CliOverrides)
    return obj if obj is not None else CliOverrides()


def config_from(ctx: click.Context) -> KindlingConfig:
    """``--config`` (or the nearest pyproject.toml), the environment, then the CLI's plugin options."""
    return options_of(ctx).load()


def pipe_ids(value: str | None) -> list[str] | None:
    """``--pipes a,b`` as a list (``None`` when not given); naming no pipe is an error."""
    if value is None:
        return None
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names:
        raise ConfigError(
            f"--pipes {value!r} names no pipe", path="--pipes", remedy="pass --pipes id1,id2, or leave --pipes out for every pipe"
        )
    return names


def _no_app(config: KindlingConfig, verb: str) -> ConfigError:
    where = str(config.source) if config.source is not None else f"pyproject.toml (none found at or above {config.root})"
    return ConfigError(
        f"no app to {verb}: pass --app package.module:attr or set tool.kindling.app in {where}",
        path="tool.kindling.app",
        source=str(config.source) if config.source is not None else None,
        remedy='add app = "pipelines.main:app" under [tool.kindling] (in pyproject.toml or the file '
        "given to --config), or pass --app",
    )


def app_from(ctx: click.Context, app_ref: str | None, *, verb: str) -> App:
    """The app named by ``--app`` or ``tool.kindling.app``, built under the global options.

    The reference is resolved from the configuration's folder (the folder of ``--config`` or
    of the nearest pyproject.toml; the working directory when there is neither). No reference
    at all is a :class:`ConfigError` naming ``verb`` (``"run"``, ``"plan"``). In lenient plugin
    mode every plugin that failed to load gets one warning line on stderr.
    """
    from kindling_core.loading import load_app

    options = options_of(ctx)
    config = options.load()
    ref = app_ref or config.app
    if not ref:
        raise _no_app(config, verb)
    app = load_app(ref, search_path=config.root, overrides=options)
    warn_failed_plugins(app)
    return app


def warn_failed_plugins(app: App) -> None:
    """One ``warning: plugin ID (DIST VERSION) ...`` line on stderr per failed plugin (lenient
    mode only: strict mode has already raised), plus where to look for details."""
    if app.config.plugins.strict:
        return
    from kindling_core.plugins import PluginStatus

    for record in app.registry.plugins:
        if record.status is not PluginStatus.FAILED:
            continue
        lines = (record.error or "").strip().splitlines()
        first = lines[0] if lines else "no error text"
        said = first if first.startswith(f"plugin {record.label} ") else f"plugin {record.label} failed: {first}"
        click.echo(f"warning: {said}; run 'kindling plugins check' for details", err=True)


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
    """Print a KindlingError as ``error: ...`` on stderr and exit 2.

    When the error was raised while the user's own code ran (a bad declaration in the app
    module), an ``  at FILE:LINE`` line names the last place in the user's files it passed,
    unless the culprit is a command-line option (``path`` ``--disable-plugin``): then the
    user's code is not what to fix.
    """
    try:
        yield
    except KindlingError as exc:
        from kindling_core.loading import raised_at

        click.echo(f"error: {exc}", err=True)
        location = raised_at(exc)
        if location and not str(getattr(exc, "path", None) or "").startswith("--"):
            click.echo(f"  at {location}", err=True)
        sys.exit(EXIT_USAGE)
