"""``kindling restarts``: preview which streaming queries would restart, in which order and why.

``--entity ID`` (repeatable) previews a change of that entity: the streaming pipes that declare
it a dimension restart, then (wave by wave) the streaming pipes that read a restarted pipe's
output as a stream, up to ``--depth`` hops (default ``tool.kindling.restarts.cascade-depth``).
``--pipe ID`` (repeatable) previews a restart of those streaming pipes and its cascades. Each
dimension is shown with its change detector and restart policy (``change.*`` entity options).
Nothing is touched: no Spark session, no query, no restart request
(``app.streams.preview_restarts``).

Exit status: 0 when the previews were made (also when nothing would restart: the output says
why); 2 for a usage or configuration error, including an unknown ``--entity`` or ``--pipe``
(with did-you-mean) or a batch ``--pipe``, as ``kindling plan --pipes`` does for unknown
pipes. ``--json`` prints one JSON document on stdout.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

import click

from kindling_core.cli._common import EXIT_USAGE, app_from, reporting_errors
from kindling_core.errors import UnknownNameError
from kindling_core.planning.errors import UnknownPipeError
from kindling_core.streaming.errors import UnknownStreamError

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.streaming.cascade import RestartPlan, RestartStep

__all__ = ["restarts"]

DEPTH_KEY = "tool.kindling.restarts.cascade-depth"


@click.command("restarts")
@click.option("--app", "app_ref", metavar="MODULE:ATTR", help="The app (default: tool.kindling.app).")
@click.option("--entity", "entities", multiple=True, metavar="ID", help="Preview a change of this entity (repeatable).")
@click.option("--pipe", "pipes", multiple=True, metavar="ID", help="Preview a restart of this streaming pipe (repeatable).")
@click.option(
    "--depth",
    type=click.IntRange(min=0),
    metavar="N",
    help=f"Cascade at most N hops from the first restart (default: {DEPTH_KEY}; 0 = no cascades).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON document on stdout.")
@click.pass_context
def restarts(
    ctx: click.Context, app_ref: str | None, entities: tuple[str, ...], pipes: tuple[str, ...], depth: int | None, as_json: bool
) -> None:
    """Preview which streaming queries restart when a dimension changes or pipes restart.

    \b
    For each --entity: the streaming pipes that join it as a dimension, with its change
    detector and restart policy, then the cascades (streaming readers of a restarted pipe's
    output), in the order they would restart. --pipe previews a restart of those pipes.
    Nothing is started, stopped or asked for.

    \b
    Examples:
      kindling restarts --entity silver.customers
      kindling restarts --pipe silver.enriched --depth 1 --json
    """
    if not entities and not pipes:
        raise click.UsageError("name what changes: --entity ID (a dimension) and/or --pipe ID (a streaming pipe)")
    with reporting_errors():
        app = app_from(ctx, app_ref, verb="preview restarts of")
        try:
            plans = [app.streams.preview_restarts(entity=entity, max_depth=depth) for entity in dict.fromkeys(entities)]
            if pipes:
                plans.append(app.streams.preview_restarts(pipes=pipes, max_depth=depth, where="--pipe"))
        except UnknownStreamError as exc:  # a batch pipe; the message names --pipe
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_USAGE)
        except (UnknownNameError, UnknownPipeError) as exc:
            click.echo(f"error: {'--pipe' if isinstance(exc, UnknownPipeError) else '--entity'}: {exc}", err=True)
            sys.exit(EXIT_USAGE)
    source = "--depth" if depth is not None else DEPTH_KEY
    if as_json:
        document: dict[str, Any] = {"app": app.name, "depth_from": source, "plans": [plan.to_dict() for plan in plans]}
        click.echo(json.dumps(document, indent=2))
        return
    for index, plan in enumerate(plans):
        if index:
            click.echo("")
        for line in plan_lines(plan, source):
            click.echo(line)


def plan_lines(plan: RestartPlan, depth_source: str = DEPTH_KEY) -> list[str]:
    """The text of one preview: a headline, the dimension, the steps, what was left out, notes."""
    restarted = f"{', '.join(plan.requested)} restart{'s' if len(plan.requested) == 1 else ''}"
    changed = f"{plan.entity} changes" if plan.is_empty else f"a change of {plan.entity} needs a restart"
    subject = restarted if plan.entity is None else f"{changed} and {restarted}" if plan.requested else changed
    lines = []
    if plan.is_empty:
        lines.append(f"When {subject}, nothing restarts.")
    else:
        count = len(plan.steps)
        lines.append(f"When {subject}, {count} streaming {'query restarts' if count == 1 else 'queries restart'}, in this order:")
    facts = plan.dimension
    if facts is not None:
        cached = ", cached by its pipes (change.cached)" if facts.cached else ""
        undeclared = "; not declared with app.entity, so no detector can watch it" if not facts.declared else ""
        lines.append(
            f"  {facts.entity}: detector {facts.detector} ({facts.detector_source}), "
            f"restart policy {facts.restart} ({facts.restart_source}){cached}{undeclared}"
        )
        if not plan.is_empty:
            lines.append(f"  restarts on: {facts.restarts_on()}")
    lines.extend(f"  {number}. {_step_text(step)}" for number, step in enumerate(plan.steps, 1))
    if plan.truncated:
        lines.append(f"  Left out, deeper than the cascade depth limit {plan.max_depth} ({depth_source}):")
        lines.extend(f"    - {_step_text(step, left_out=True)}" for step in plan.truncated)
    lines.extend(f"  Note: {note}" for note in plan.notes)
    return lines


def _step_text(step: RestartStep, *, left_out: bool = False) -> str:
    """``silver.enriched  (reads dimension ...)``, or with ``depth N via P`` for a cascade (a
    step left out shows only where it would have come from: the headline said why)."""
    if left_out:
        return f"{step.pipe}  (depth {step.depth} via {step.via})"
    if step.depth == 0:
        return f"{step.pipe}  ({step.reason})"
    return f"{step.pipe}  (depth {step.depth} via {step.via}: {step.reason})"
