"""``kindling plan``: show the execution plan of an app as text, JSON, Mermaid or DOT.

The app comes from ``--app package.module:attr`` or ``tool.kindling.app`` (an error when
neither is given). ``--strategy`` overrides the configured strategy; ``--pipes a,b`` restricts
the plan to those pipes and everything they depend on; ``--explain PIPE`` prints why a pipe is
in its generation instead of the plan (a pipe ``--pipes`` leaves out is explained in the full
plan, saying so). ``--format json`` writes the JSON document and nothing else to stdout.
User mistakes print ``error: ...`` on stderr and exit with status 2.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import click

from kindling_core.cli._common import app_from, pipe_ids, reporting_errors

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.app import App
    from kindling_core.planning import ExecutionPlan

__all__ = ["plan"]

FORMATS = ("text", "json", "mermaid", "dot")


@click.command("plan")
@click.option("--app", "app_ref", metavar="MODULE:ATTR", help="The app to plan (default: tool.kindling.app).")
@click.option("--strategy", metavar="NAME", help="Execution strategy (default: tool.kindling.strategy).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default="text", show_default=True, help="Output format.")
@click.option(
    "--explain", "explain", metavar="PIPE", help="Explain why PIPE is in its generation (of the full plan when --pipes leaves it out)."
)
@click.option("--pipes", metavar="ID,ID", help="Plan only these pipes and what they depend on.")
@click.pass_context
def plan(ctx: click.Context, app_ref: str | None, strategy: str | None, fmt: str, explain: str | None, pipes: str | None) -> None:
    """Show the execution plan: generations, modes, cache advice, fingerprint."""
    with reporting_errors():
        requested = pipe_ids(pipes)
        app = app_from(ctx, app_ref, verb="plan")
        result = app.plan(strategy=strategy, pipes=requested)
        if explain is not None:
            _explain(app, result, explain, strategy, fmt)
            return
        if fmt == "json":
            click.echo(result.to_json())
        elif fmt == "mermaid":
            click.echo(result.to_mermaid(), nl=False)
        elif fmt == "dot":
            click.echo(result.to_dot(), nl=False)
        else:
            click.echo(result.to_text(), nl=False)


def _explain(app: App, plan: ExecutionPlan, pipe_id: str, strategy: str | None, fmt: str) -> None:
    """Explain ``pipe_id`` in ``plan``; a pipe --pipes left out is explained in the full plan."""
    selected = plan.requested is None or pipe_id in plan
    full = plan if selected else app.plan(strategy=strategy)  # unknown ids fail here, against every pipe
    explanation = full.explain(pipe_id)
    if fmt == "json":
        click.echo(json.dumps(explanation.to_dict() | {"in_selection": selected}, indent=2))
        return
    if not selected:
        chosen = ",".join(plan.requested or ())
        click.echo(
            f"pipe {pipe_id!r} is not in the selection (--pipes {chosen} and the pipes they need: "
            f"{', '.join(plan.pipes)}); explained in the full plan:"
        )
    click.echo(str(explanation))
