"""The two chains every failure goes through: classification, then the recovery decision.

Both run plugin items under the plugin-item policy
(:func:`~kindling_core.errorhandling.call_plugin_item`): an item that raises, or returns
something unusable, is reported as a :class:`~kindling_core.errors.PluginItemError` and
skipped, so a broken plugin never turns one failure into two. Batch pipes (the executor) and
streaming queries (the query manager) call the same two functions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import attrs

from kindling_core.errorhandling import SKIPPED, ErrorReporter, ItemResultError, call_plugin_item
from kindling_core.items import (
    Classification,
    FailureClassifier,
    FailureContext,
    FailureKind,
    Item,
    RecoveryAction,
    RecoveryActionKind,
    RecoveryContext,
    RecoveryStrategy,
)
from kindling_core.plugins.registry import Provided

__all__ = ["UNDECIDED", "RecoveryDecision", "classify_failure", "decide_recovery"]


#: The classification when no classifier decides (an empty chain, or every one abstained or failed).
UNDECIDED = Classification(FailureKind.UNKNOWN, "no classifier decided", "")

#: The actions that run the failed thing again (and so spend the budget).
_RESTARTS = (RecoveryActionKind.RESTART, RecoveryActionKind.CLEAN_START)


def _classification_or_none(answer: Any) -> Classification | None:
    if answer is None or isinstance(answer, Classification):
        return answer
    raise ItemResultError(f"returned {type(answer).__name__} {answer!r:.80}, not a Classification or None")


def classify_failure(
    classifiers: Sequence[FailureClassifier | Provided[FailureClassifier]],
    context: FailureContext,
    errors: ErrorReporter | None = None,
) -> Classification:
    """Run the classifier chain in order: the first :class:`Classification` wins, carrying the
    deciding classifier's name (filled in when the classifier left it empty) and its reason.

    ``None`` means "not sure, ask the next one". A classifier that raises, or returns anything
    else, is reported to ``errors`` as a :class:`~kindling_core.errors.PluginItemError`
    attributed to it and its plugin (pass :meth:`FamilyView.attributed
    <kindling_core.plugins.FamilyView.attributed>` items for the plugin to be known), and the
    next classifier decides: a broken classifier never turns one failure into two. With no
    decision the result is :data:`UNDECIDED` (kind ``unknown``).
    """
    during = f"classifying the failure of {context.source} {context.subject!r} (attempt {context.attempt})"
    found = _first_answer(classifiers, "classify", context, errors, during=during, accept=_classification_or_none)
    if found is None:
        return UNDECIDED
    answer, name = found
    return answer if answer.classifier else attrs.evolve(answer, classifier=name)


def _first_answer(
    entries: Sequence[Item | Provided[Any]],
    method: str,
    context: Any,
    errors: ErrorReporter | None,
    *,
    during: str,
    accept: Callable[[Any], Any],
) -> tuple[Any, str] | None:
    """Call ``item.<method>(context)`` of each entry in order under the plugin-item policy;
    the first answer other than ``None`` (a failed call is skipped), with its item's name."""
    for entry in entries:
        item = entry.item if isinstance(entry, Provided) else entry
        answer = call_plugin_item(errors, entry, getattr(item, method), context, during=during, accept=accept)
        if answer is not SKIPPED and answer is not None:
            return answer, item.name
    return None


@attrs.frozen
class RecoveryDecision:
    """What happens to a failure: the action that applies, and the budget it was judged against.

    ``action`` is the deciding strategy's (its ``strategy`` names it) or the core's own rule
    (a permanent failure is never restarted; no strategy applied → give up). ``attempt`` is
    the attempt a restart would be (``attempts_so_far + 1``); ``exhausted`` says a restart or
    clean start was wanted but ``attempts_so_far`` already reached ``max_attempts``: the
    caller then does not restart and reports the budget spent.
    """

    action: RecoveryAction
    """What applies (``action.strategy`` names the strategy that asked for it; empty: the core's rule)."""
    classification: Classification
    """How the failure was classified."""
    attempt: int
    """The attempt a restart would be: ``attempts_so_far + 1``."""
    max_attempts: int
    """The budget the decision was judged against."""
    exhausted: bool = False
    """A restart or clean start was wanted but the budget is spent."""

    @property
    def retry(self) -> bool:
        """Whether to run the failed pipe or query again from its checkpoint: a restart within the budget."""
        return self.action.kind is RecoveryActionKind.RESTART and not self.exhausted


def _action_or_none(answer: Any) -> RecoveryAction | None:
    if answer is None:
        return None
    if not isinstance(answer, RecoveryAction):
        raise ItemResultError(f"returned {type(answer).__name__} {answer!r:.80}, not a RecoveryAction or None")
    if not isinstance(answer.kind, RecoveryActionKind):
        raise ItemResultError(f"returned a RecoveryAction whose kind {answer.kind!r:.40} is not a RecoveryActionKind")
    delay = answer.delay_seconds
    if isinstance(delay, bool) or not isinstance(delay, (int, float)) or not math.isfinite(delay) or delay < 0:
        raise ItemResultError(f"returned a RecoveryAction with delay_seconds={delay!r:.40}; a delay is a finite number >= 0")
    return answer


def _chain_action(
    strategies: Sequence[RecoveryStrategy | Provided[RecoveryStrategy]],
    context: RecoveryContext,
    errors: ErrorReporter | None,
) -> RecoveryAction | None:
    failure = context.failure
    during = f"deciding the recovery of {failure.source} {failure.subject!r} ({context.classification.kind.value} failure)"
    found = _first_answer(strategies, "decide", context, errors, during=during, accept=_action_or_none)
    if found is None:
        return None
    answer, name = found
    return answer if answer.strategy else attrs.evolve(answer, strategy=name)


def decide_recovery(
    strategies: Sequence[RecoveryStrategy | Provided[RecoveryStrategy]],
    context: RecoveryContext,
    errors: ErrorReporter | None = None,
) -> RecoveryDecision:
    """Ask the recovery-strategy chain what to do with a classified failure, then apply the
    core's rules.

    The strategies run in configured order; the first :class:`RecoveryAction` wins (its
    ``strategy`` filled in with the strategy's name when left empty). A strategy that raises or
    returns anything else is reported to ``errors`` as a
    :class:`~kindling_core.errors.PluginItemError` and skipped. Then, always:

    * a ``permanent`` failure is never restarted: a restart or clean start becomes give-up,
      its reason naming the strategy that asked;
    * a restart or clean start when ``context.attempts_so_far >= context.max_attempts`` is
      ``exhausted`` (the budget is spent; :attr:`RecoveryDecision.retry` is then false);
    * when no strategy applies, the decision is give-up, "no recovery strategy applied".
    """
    classification = context.classification
    action = _chain_action(strategies, context, errors)
    if action is None:
        action = RecoveryAction(RecoveryActionKind.GIVE_UP, "no recovery strategy applied")
    elif action.kind in _RESTARTS and classification.kind is FailureKind.PERMANENT:
        action = RecoveryAction(
            RecoveryActionKind.GIVE_UP,
            f"a permanent failure is never restarted; recovery strategy {action.strategy!r} asked for "
            f"{action.kind.value} ({action.reason})",
            strategy=action.strategy,
        )
    exhausted = action.kind in _RESTARTS and context.attempts_so_far >= context.max_attempts
    return RecoveryDecision(
        action=action,
        classification=classification,
        attempt=context.attempts_so_far + 1,
        max_attempts=context.max_attempts,
        exhausted=exhausted,
    )
