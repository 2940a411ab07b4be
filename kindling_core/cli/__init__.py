"""The ``kindling`` command line.

Global options come before the subcommand (``kindling --config ci.toml plugins check``).
Subcommands live in their own modules and are added to :data:`cli` here. ``--json`` output
is machine-clean: nothing but the JSON document goes to stdout.
"""

from __future__ import annotations

import importlib

import click

from kindling_core import __version__
from kindling_core.cli._common import config_from, configure_logging, reporting_errors
from kindling_core.overrides import CliOverrides

__all__ = ["cli", "main"]

#: (module, attribute) of each subcommand; modules that are not there yet are skipped.
SUBCOMMANDS: tuple[tuple[str, str], ...] = (
    ("kindling_core.cli.plugins_cmd", "plugins"),
    ("kindling_core.cli.signals_cmd", "signals"),
    ("kindling_core.cli.plan_cmd", "plan"),
    ("kindling_core.cli.run_cmd", "run"),
    ("kindling_core.cli.run_cmd", "show"),
    ("kindling_core.cli.stream_cmd", "stream"),
    ("kindling_core.cli.restarts_cmd", "restarts"),
)


def _print_version(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from kindling_core.plugins import load_plugins

    params = {k: v for k, v in ctx.params.items() if k not in ("log_level", "tracebacks")}
    click.echo(f"kindling-core {__version__}")
    with reporting_errors():
        ctx.obj = CliOverrides(**params)  # the group body has not run yet
        registry = load_plugins(config_from(ctx), raise_requirements=False).registry
    click.echo("active plugins:")
    for record in registry.active_plugins:
        click.echo(f"  {record.label}")
    ctx.exit()


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(dir_okay=False),
    help="TOML file with [tool.kindling], used instead of the nearest pyproject.toml (and of any file or config "
    "the app's code names); its folder is where the app module is looked up.",
)
@click.option(
    "--disable-plugin", "disable_plugins", multiple=True, metavar="ID",
    help="Disable a plugin before import, whatever enables it (repeatable).",
)
@click.option(
    "--enable-plugin", "enable_plugins", multiple=True, metavar="ID",
    help="Load a plugin even with autoload off or when the file, KINDLING_DISABLE_PLUGINS or the code disable it "
    "(repeatable).",
)
@click.option("--no-autoload", is_flag=True, help="Load only built-in and enabled plugins, whatever the file or the code say.")
@click.option("--strict-plugins", is_flag=True, help="A plugin that fails to load is a fatal error, whatever the file or the code say.")
@click.option(
    "--log-level",
    default="WARNING",
    show_default=True,
    type=click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False),
    help="Level of kindling's log lines on stderr.",
)
@click.option("--traceback", "tracebacks", is_flag=True, help="Include tracebacks in log lines.")
@click.option(
    "--version",
    is_flag=True,
    expose_value=False,
    is_eager=False,
    callback=_print_version,
    help="Show the version and the active plugins, then exit.",
)
@click.pass_context
def cli(
    ctx: click.Context,
    config_path: str | None,
    disable_plugins: tuple[str, ...],
    enable_plugins: tuple[str, ...],
    no_autoload: bool,
    strict_plugins: bool,
    log_level: str,
    tracebacks: bool,
) -> None:
    """kindling: plan and run Spark + Delta pipelines, and inspect plugins and signals.

    \b
    Configuration, later wins:
      1. defaults
      2. [tool.kindling] of the nearest pyproject.toml, or of --config FILE
      3. environment: KINDLING_DISABLE_PLUGINS=a,b  KINDLING_DISABLE_PLUGIN_AUTOLOAD=1
      4. keyword arguments of App(...) in the app's code
      5. these options: --disable-plugin, --enable-plugin, --no-autoload, --strict-plugins

    The options apply to the app loaded by reference (--app or tool.kindling.app) as to
    everything else; --config also decides tool.kindling.app and the folder the app module
    is imported from.
    """
    configure_logging(log_level, tracebacks=tracebacks)
    with reporting_errors():
        ctx.obj = CliOverrides(
            config_path=config_path,
            disable_plugins=disable_plugins,
            enable_plugins=enable_plugins,
            no_autoload=no_autoload,
            strict_plugins=strict_plugins,
        )


for _module, _attr in SUBCOMMANDS:
    try:
        cli.add_command(getattr(importlib.import_module(_module), _attr))
    except ModuleNotFoundError as _exc:  # a subcommand still being built
        if _exc.name != _module:
            raise


def main() -> None:
    """Console-script entry point."""
    cli(prog_name="kindling")
