# acme_kindling/__init__.py
"""ACME's kindling plugin (id ``acme``): run critical pipes first; retry ACME quota errors.

* execution strategy ``critical-first``: the pipes tagged ``critical-tag`` and everything they
  need run first, then the rest; both parts producers-first, so every pipe still runs after
  the pipes whose output it reads;
* failure classifier ``acme-quota``: an error whose message (or any cause's) contains
  ``quota-marker`` is transient, so kindling retries it.

Settings, ``[tool.kindling.settings.acme]``: ``critical-tag`` (default ``"critical"``) and
``quota-marker`` (default ``"[ACME_QUOTA_EXCEEDED]"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kindling_core.plugin import (
    Classification,
    ExecutionStrategy,
    FailureClassifier,
    FailureContext,
    FailureKind,
    Setting,
    StrategyInput,
    hookimpl,
)


@hookimpl
def kindling_settings_schema() -> list[Setting]:
    """The keys of [tool.kindling.settings.acme]; kindling validates them before any other hook."""
    return [
        Setting("critical-tag", str, default="critical", description="pipes with this tag run first"),
        Setting("quota-marker", str, default="[ACME_QUOTA_EXCEEDED]", description="text of ACME's quota errors"),
    ]


def critical_first(request: StrategyInput) -> tuple[tuple[str, ...], ...]:
    """Critical pipes and what they need, then the rest; each part in producers-first generations."""
    critical = request.pipes_tagged(request.settings["critical-tag"])
    first = request.upstream_closure(critical)
    chosen = set(first)
    rest = [pipe_id for pipe_id in request.pipes if pipe_id not in chosen]
    return request.generations_of(first) + request.generations_of(rest)


@hookimpl
def kindling_execution_strategies() -> list[ExecutionStrategy]:
    return [
        ExecutionStrategy(
            name="critical-first",
            description="pipes tagged critical (and their inputs' pipes) first, then the rest",
            plan=critical_first,
        )
    ]


@hookimpl
def kindling_failure_classifiers(settings: Mapping[str, Any]) -> list[FailureClassifier]:
    marker = settings["quota-marker"]

    def classify(context: FailureContext) -> Classification | None:
        if marker in context.text:  # text: the error's message and every cause's
            return Classification(FailureKind.TRANSIENT, "ACME quota resets every minute", "acme-quota")
        return None  # not ours: the next classifier decides

    return [FailureClassifier(name="acme-quota", description="ACME quota errors are transient", classify=classify)]
