"""Running plans: the generation executor, failure policies and run results.

Pure Python; the Spark side is :mod:`kindling_core.spark.runner`.
"""

from kindling_core.execution.errors import (
    ExecutionError,
    PipeTimeoutError,
    RunFailedError,
    RunInterrupted,
)
from kindling_core.execution.executor import ExecutorSettings, GenerationExecutor, classify_failure
from kindling_core.execution.policy import FailurePolicy
from kindling_core.execution.result import PipeOutcome, PipeStatus, RunResult
from kindling_core.execution.runner import AttemptContext, PipeRunner, job_tag

__all__ = [
    "AttemptContext",
    "ExecutionError",
    "ExecutorSettings",
    "FailurePolicy",
    "GenerationExecutor",
    "PipeOutcome",
    "PipeRunner",
    "PipeStatus",
    "PipeTimeoutError",
    "RunFailedError",
    "RunInterrupted",
    "RunResult",
    "classify_failure",
    "job_tag",
]
