"""``kindling plan``: show the execution plan of an app as text, JSON, Mermaid or DOT.

The app comes from ``--app package.module:attr`` or ``tool.kindling.app`` (an error when
neither is given). ``--strategy`` overrides the configured strategy; ``--pipes a,b`` restricts
the plan to those pipes and everything they depend on; ``--explain PIPE`` prints why a pipe is
in its generation instead of the plan. ``--format json`` writes the JSON document and nothing
else to stdout. User mistakes print ``error: ...`` on stderr and exit with status 2.
"""

from __future__ import annotations

import json

import click

from kindling_core.cli._common import config_from, reporting_errors
from kindling_core.errors import ConfigError

__all__ = ["plan"]

FORMATS = ("text", "json", "mermaid", "dot")


def _split(pipes: str | None) -> list[str] | None:
    if pipes is None:
        return None
    names = [name.strip() for name in pipes.split(",") if name.strip()]
    return names


@click.command("plan")
@click.option("--app", "app_ref", metavar="MODULE:ATTR", help="The app to plan (default: tool.kindling.app).")
@click.option("--strategy", metavar="NAME", help="Execution strategy (default: tool.kindling.strategy).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help="Output format.")
@click.option("--explain", "explain", metavar="PIPE", help="Explain why PIPE is in its generation.")
@click.option("--pipes", metavar="ID,ID", help="Plan only these pipes and what they depend on.")
@click.pass_context
def plan(ctx: click.Context, app_ref: str | None, strategy: str | None, fmt: str, explain: str | None, pipes: str | None) -> None:
    """Show the execution plan: generations, modes, cache advice, fingerprint."""
    from kindling_core.model.loading import load_app

    with reporting_errors():
        config = config_from(ctx)
        ref = app_ref or config.app
        if not ref:
            raise ConfigError(
                "no app to plan: pass --app package.module:attr or set tool.kindling.app",
                path="tool.kindling.app",
                source=str(config.source) if config.source else None,
                remedy="add app = \"pipelines.main:app\" under [tool.kindling] in pyproject.toml, or use --app",
            )
        search_path = config.root if not app_ref and config.source is not None else None
        app = load_app(ref, search_path=search_path)
        requested = _split(pipes)
        if requested is not None and not requested:
            raise ConfigError("--pipes was given but names no pipe", path="--pipes", remedy="pass --pipes id1,id2")
        result = app.plan(strategy=strategy, pipes=requested)
        if explain is not None:
            explanation = result.explain(explain)
            if fmt == "json":
                click.echo(json.dumps(explanation.to_dict(), indent=2))
            else:
                click.echo(str(explanation))
            return
        if fmt == "json":
            click.echo(result.to_json())
        elif fmt == "mermaid":
            click.echo(result.to_mermaid(), nl=False)
        elif fmt == "dot":
            click.echo(result.to_dot(), nl=False)
        else:
            click.echo(result.to_text(), nl=False)
