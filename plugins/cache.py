"""Built-in cache heuristic ``shared-consumers``: cache what several batch pipes read.

Rule (shared consumers, advisory only): recommend caching an
entity read by more than one *batch* pipe of the plan. Details:

* plans of the ``streaming`` strategy recommend nothing (streaming queries use checkpoints, and
  a cached DataFrame does not help a stream); in other plans streaming pipes do not count as
  consumers for the same reason;
* the storage level is ``[tool.kindling.cache] storage_level`` (default ``MEMORY_AND_DISK``);
* with a size provider, an entity smaller than ``min_size_mb`` (default 100) is not worth
  caching and is skipped; when the size is unknown (no provider, or it returned ``None``) the
  recommendation is made and its reason says the threshold could not be applied;
* recommendations come in entity-id order.
"""

from __future__ import annotations

from collections.abc import Iterator

from kindling_core.plugin import BYTES_PER_MB, CacheContext, CacheHeuristic, CacheRecommendation, PipeMode, hookimpl

__all__ = ["recommend_shared_consumers", "kindling_cache_heuristics"]

NAME = "shared-consumers"


def _mb(size: int) -> str:
    return f"{size / BYTES_PER_MB:,.1f} MB"


def recommend_shared_consumers(context: CacheContext) -> Iterator[CacheRecommendation]:
    """Yield a recommendation per entity read by two or more batch pipes (see module doc)."""
    if context.strategy == "streaming":
        return
    # Everything that does not depend on the entity is worked out once: a 100,000-pipe plan
    # can have tens of thousands of shared entities.
    batch = PipeMode.BATCH
    streaming = {p for p, m in context.modes.items() if m is not batch}
    threshold = f"{context.min_size_mb:g} MB"
    no_provider = f"size unknown (no size provider), so the {threshold} threshold was not applied"
    no_answer = f"size unknown (the size provider had no answer), so the {threshold} threshold was not applied"
    storage_level = context.storage_level
    size_of = None if context.size_provider is None else context.size_of
    for entity, consumers in context.consumers.items():  # in entity-id order (PipeGraph.consumers)
        if len(consumers) < 2:
            continue
        readers = [p for p in consumers if p not in streaming] if streaming else consumers
        count = len(readers)
        if count < 2:
            continue
        shown = ", ".join(readers) if count <= 5 else f"{', '.join(readers[:5])} and {count - 5} more"
        if size_of is None:
            size, note = None, no_provider
        else:
            size = size_of(entity)
            if size is None:
                note = no_answer
            elif size < context.min_size_bytes:
                continue
            else:
                note = f"size {_mb(size)} >= {threshold}"
        yield CacheRecommendation(entity, storage_level, f"read by {count} batch pipes ({shown}); {note}", NAME, size)


@hookimpl
def kindling_cache_heuristics() -> list[CacheHeuristic]:
    return [
        CacheHeuristic(
            name=NAME,
            description="cache entities read by more than one batch pipe (advisory; size threshold)",
            recommend=recommend_shared_consumers,
        )
    ]
