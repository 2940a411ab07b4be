"""Every core signal, gathered from the components' ``EMITS`` declarations.

Each core component declares the signals it emits in a module-level ``EMITS`` tuple of
:class:`~kindling_core.signals.SignalSpec`. This module lists those components; an app
declares all of them on its bus, ``kindling signals list`` prints them, and the signal
catalogue in ``docs/`` is generated from them. A test proves every signal a component emits
is in its ``EMITS`` and documented.
"""

from __future__ import annotations

import importlib

from kindling_core.signals import SignalSpec

__all__ = ["EMITTING_MODULES", "core_signals"]

#: Modules with an ``EMITS`` tuple, in catalogue order. Missing optional modules are skipped
#: only if they cannot be imported for lack of an optional dependency (none so far).
EMITTING_MODULES: tuple[str, ...] = (
    "kindling_core.errorhandling",
    "kindling_core.planning.signals",
    "kindling_core.execution.signals",
    "kindling_core.streaming.signals",
    "kindling_core.streaming.restart_signals",
    "kindling_core.dimensions.signals",
)


def core_signals() -> tuple[SignalSpec, ...]:
    """All core signal specs, sorted by name, each once."""
    found: dict[str, SignalSpec] = {}
    for module_name in EMITTING_MODULES:
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name is not None and module_name.startswith(exc.name):
                continue  # component not built yet
            raise
        for spec in getattr(module, "EMITS", ()):
            found.setdefault(spec.name, spec)
    return tuple(found[name] for name in sorted(found))
