"""Render an :class:`~kindling_core.planning.plan.ExecutionPlan` as text, Mermaid or Graphviz DOT.

All renderers are pure functions of the plan and deterministic (same plan, same text).
Mermaid and DOT draw one box per generation (a Mermaid ``subgraph`` / DOT ``cluster``), pipes
inside with their mode on a second line (streaming pipes also get a distinct shape and style),
external sources as cylinders, and edges labelled with the entity they carry. Node ids are
synthetic (``p0``, ``x0``) and every label is escaped, so any id renders safely.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from kindling_core.model.pipe import PipeMode

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.planning.plan import ExecutionPlan

__all__ = ["render_text", "render_mermaid", "render_dot", "mermaid_label", "dot_string"]


def _mode(plan: ExecutionPlan, pipe_id: str) -> str:
    return PipeMode(plan.modes[pipe_id]).value


def _edges(plan: ExecutionPlan) -> list[tuple[str, str, str]]:
    """Edges in plan order (consumer by consumer, inputs in declared order): independent of
    the order pipes were declared in, so equal plans render identically."""
    graph = plan.graph
    assert graph is not None
    return [(src, dst, graph.output(src)) for dst in plan.pipes for src in graph.upstream(dst)]


def render_text(plan: ExecutionPlan) -> str:
    """A terminal listing: a header, each generation with its pipes, then cache advice."""
    graph = plan.graph
    width = min(max((len(p) for p in plan.pipes), default=4), 48)
    lines = [
        f"plan: strategy {plan.strategy} · {plan.pipe_count} pipes in {len(plan.generations)} generations"
        f" · max parallelism {plan.max_parallelism}",
        f"fingerprint: {plan.fingerprint}",
    ]
    if plan.requested is not None:
        lines.append(f"requested: {', '.join(plan.requested)} (and what they depend on)")
    if plan.external_sources:
        lines.append(f"external sources: {', '.join(plan.external_sources)}")
    for index, generation in enumerate(plan.generations):
        lines.append("")
        lines.append(f"generation {index} ({len(generation)} pipe{'s' if len(generation) != 1 else ''})")
        for pipe_id in generation:
            flow = ""
            if graph is not None:
                flow = f"{', '.join(graph.inputs(pipe_id)) or '(no inputs)'} -> {graph.output(pipe_id)}"
            lines.append(f"  {pipe_id:<{width}}  {_mode(plan, pipe_id):<9}  {flow}".rstrip())
    lines.append("")
    if plan.cache_recommendations:
        lines.append("cache recommendations (advisory):")
        entity_width = min(max(len(r.entity) for r in plan.cache_recommendations), 48)
        for rec in plan.cache_recommendations:
            lines.append(f"  {rec.entity:<{entity_width}}  {rec.storage_level}  {rec.reason}")
    else:
        lines.append("cache recommendations: none")
    return "\n".join(lines) + "\n"


def mermaid_label(text: str) -> str:
    """Escape text for a double-quoted Mermaid label (entity codes for quotes and brackets)."""
    return (
        text.replace("&", "#amp;")
        .replace('"', "#quot;")
        .replace("<", "#lt;")
        .replace(">", "#gt;")
        .replace("|", "#124;")
    )


def render_mermaid(plan: ExecutionPlan) -> str:
    """A Mermaid ``flowchart LR`` of the plan (paste into Markdown in a ```mermaid block)."""
    node = {pipe_id: f"p{i}" for i, pipe_id in enumerate(plan.pipes)}
    lines = ["flowchart LR"]
    for index, generation in enumerate(plan.generations):
        lines.append(f'  subgraph g{index}["generation {index}"]')
        lines.append("    direction TB")
        for pipe_id in generation:
            mode = _mode(plan, pipe_id)
            label = f'"{mermaid_label(pipe_id)}<br/>{mode}"'
            shape = f"([{label}])" if mode == "streaming" else f"[{label}]"
            lines.append(f"    {node[pipe_id]}{shape}")
        lines.append("  end")
    graph = plan.graph
    if graph is not None:
        external = {entity: f"x{i}" for i, entity in enumerate(plan.external_sources)}
        for entity, ident in external.items():
            lines.append(f'  {ident}[("{mermaid_label(entity)}")]')
        for pipe_id in plan.pipes:
            for entity in graph.inputs(pipe_id):
                if entity in external:
                    lines.append(f"  {external[entity]} --> {node[pipe_id]}")
        for src, dst, entity in _edges(plan):
            arrow = "-.->" if _mode(plan, dst) == "streaming" else "-->"
            lines.append(f'  {node[src]} {arrow}|"{mermaid_label(entity)}"| {node[dst]}')
        if external:
            lines.append("  classDef external fill:#f1f3f4,stroke:#5f6368,color:#202124")
            lines.append(f"  class {','.join(external.values())} external")
    lines.append("  classDef batch fill:#e8f0fe,stroke:#1a73e8,color:#202124")
    lines.append("  classDef streaming fill:#e6f4ea,stroke:#188038,color:#202124,stroke-dasharray:5 3")
    for mode in ("batch", "streaming"):
        members = [node[p] for p in plan.pipes if _mode(plan, p) == mode]
        if members:
            lines.append(f"  class {','.join(members)} {mode}")
    return "\n".join(lines) + "\n"


def dot_string(text: str) -> str:
    """A double-quoted DOT string with backslashes, quotes and newlines escaped."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def render_dot(plan: ExecutionPlan) -> str:
    """A Graphviz ``digraph`` of the plan (``kindling plan --format dot | dot -Tsvg``)."""
    lines = [
        "digraph kindling_plan {",
        "  rankdir=LR;",
        "  compound=true;",
        f"  label={dot_string(f'strategy {plan.strategy} · fingerprint {plan.fingerprint[:12]}')};",
        '  node [shape=box, style="rounded,filled", fontname="Helvetica", fillcolor="#e8f0fe"];',
        '  edge [fontname="Helvetica", fontsize=10];',
    ]
    for index, generation in enumerate(plan.generations):
        lines.append(f"  subgraph cluster_g{index} {{")
        lines.append(f"    label={dot_string(f'generation {index}')};")
        lines.append("    style=dashed;")
        for pipe_id in generation:
            mode = _mode(plan, pipe_id)
            extra = ', style="rounded,filled,dashed", fillcolor="#e6f4ea"' if mode == "streaming" else ""
            lines.append(f"    {dot_string(pipe_id)} [label={dot_string(pipe_id + chr(10) + mode)}{extra}];")
        lines.append("  }")
    graph = plan.graph
    if graph is not None:
        for entity in plan.external_sources:
            lines.append(
                f"  {dot_string('entity:' + entity)} [label={dot_string(entity)}, shape=cylinder, style=filled, fillcolor=\"#f1f3f4\"];"
            )
        external = set(plan.external_sources)
        for pipe_id in plan.pipes:
            for entity in graph.inputs(pipe_id):
                if entity in external:
                    lines.append(f"  {dot_string('entity:' + entity)} -> {dot_string(pipe_id)};")
        for src, dst, entity in _edges(plan):
            lines.append(f"  {dot_string(src)} -> {dot_string(dst)} [label={dot_string(entity)}];")
    lines.append("}")
    return "\n".join(lines) + "\n"
