"""The failure policy of runs.

Its rules live in the configuration: :class:`FailurePolicy` (the allowed values of
``tool.kindling.execution.on-failure``) is the leaf enum :mod:`kindling_core.failure_policy`.
Whether a failed pipe is retried, and after how long, is not a policy of its own: the
recovery-strategy chain decides (:mod:`kindling_core.recovery`), with the run's
:class:`~kindling_core.recovery.Backoff` and retry budget (:class:`ExecutorSettings
<kindling_core.execution.ExecutorSettings>`).
"""

from __future__ import annotations

from kindling_core.failure_policy import FailurePolicy

__all__ = ["FailurePolicy"]
