"""Failure recovery without Spark: classification, the recovery decision, budget and backoff.

Every failure, of a batch pipe in ``app.run`` or of a streaming query, goes one way:
:func:`classify_failure` (the failure-classifier chain) → a
:class:`~kindling_core.items.RecoveryContext` filled from a :class:`RecoveryBudget` and a
:class:`Backoff` → :func:`decide_recovery` (the recovery-strategy chain plus the core's rules)
→ a :class:`RecoveryDecision`.

Names resolve on first access (module ``__getattr__``): :mod:`kindling_core.items` imports the
leaf :mod:`kindling_core.recovery.backoff`, and this package's other modules import the items,
so importing them here eagerly would be a cycle.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.recovery.backoff import Backoff
    from kindling_core.recovery.budget import RecoveryBudget
    from kindling_core.recovery.chain import UNDECIDED, RecoveryDecision, classify_failure, decide_recovery

__all__ = ["UNDECIDED", "Backoff", "RecoveryBudget", "RecoveryDecision", "classify_failure", "decide_recovery"]

_HOMES = {
    "Backoff": "kindling_core.recovery.backoff",
    "RecoveryBudget": "kindling_core.recovery.budget",
    "RecoveryDecision": "kindling_core.recovery.chain",
    "UNDECIDED": "kindling_core.recovery.chain",
    "classify_failure": "kindling_core.recovery.chain",
    "decide_recovery": "kindling_core.recovery.chain",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'kindling_core.recovery' has no attribute {name!r}")
    return getattr(importlib.import_module(home), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
