"""``kindling plugins list [--json] [--verbose]`` and ``kindling plugins check``.

Both load the plugins the way an app does (import, validate, settings, registration hooks,
``kindling_configure``) but report rather than raise what an app would fail on: a plugin with
bad settings is listed as failed, and a name configuration selects that no active plugin
provides (often because the plugin providing it failed) is a problem naming that plugin. So
every plugin is always listed, with the cause of each failure. Unknown plugin names in
``[tool.kindling.plugins]`` and ``[tool.kindling.settings]`` are still errors (exit 2).
"""

from __future__ import annotations

import json
import sys

import click

from kindling_core.cli._common import EXIT_PROBLEMS, config_from, reporting_errors
from kindling_core.families import FAMILIES
from kindling_core.plugins import PluginStatus, Registry, load_plugins


def _registry(ctx: click.Context) -> Registry:
    return load_plugins(config_from(ctx), raise_requirements=False, raise_config_errors=False).registry


def _echo_problems_of_no_plugin(registry: Registry) -> None:
    """Print the problems not already shown as a failed plugin's error (selection,
    requirements) to stderr."""
    shown = {record.error for record in registry.plugins if record.error}
    for problem in registry.problems:
        if str(problem) not in shown:
            click.echo(f"problem: {problem}", err=True)


@click.group()
def plugins() -> None:
    """Inspect the installed kindling plugins."""


@plugins.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array (machine-clean).")
@click.option("--verbose", "-v", is_flag=True, help="Show every item with its description, and errors in full.")
@click.pass_context
def list_plugins(ctx: click.Context, as_json: bool, verbose: bool) -> None:
    """List every discovered plugin with its status and what it provides."""
    with reporting_errors():
        registry = _registry(ctx)
    if as_json:
        click.echo(json.dumps([record.to_json() for record in registry.plugins], indent=2))
        _echo_problems_of_no_plugin(registry)
        return
    width = max([len(r.id) for r in registry.plugins] + [2])
    for record in registry.plugins:
        origin = f"{record.distribution} {record.version}" if record.distribution else "inline"
        provided = sum(len(v) for v in record.provides.values())
        click.echo(f"{record.id:<{width}}  {record.status.value:<8}  {origin}  ({provided} items)")
        if verbose:
            for family in FAMILIES:
                for name in record.provides.get(family.key, ()):
                    description = record.descriptions.get(f"{family.key}:{name}", "")
                    click.echo(f"    {family.key}: {name} - {description}")
            for setting in record.settings_schema or ():
                default = f", default {setting.default!r}" if setting.default is not None else ""
                click.echo(f"    setting {setting.name} ({setting.expects()}{default}) - {setting.description}")
        if record.status is PluginStatus.DISABLED and record.reason:
            click.echo(f"    {record.reason}")
        if record.error:
            text = record.error if verbose else record.error.splitlines()[0]
            click.echo(f"    error: {text}")
    if verbose:
        click.echo("")
        for family in FAMILIES:
            view = registry.family(family.key)
            selected = f" (selected: {view.selected})" if view.selected else ""
            click.echo(f"{family.key} [{family.semantic.value}]{selected}: {', '.join(view.names()) or '-'}")
    _echo_problems_of_no_plugin(registry)


@plugins.command("check")
@click.pass_context
def check_plugins(ctx: click.Context) -> None:
    """Exit non-zero if any plugin is broken, conflicting, or required but missing."""
    with reporting_errors():
        registry = _registry(ctx)
    if not registry.problems:
        active = len(registry.active_plugins)
        click.echo(f"ok: {active} active plugin(s), no problems")
        return
    for problem in registry.problems:
        click.echo(f"problem: {problem}", err=True)
    click.echo(f"{len(registry.problems)} plugin problem(s)", err=True)
    sys.exit(EXIT_PROBLEMS)
