"""Errors of dimension watching: a dimension declared so that it cannot be watched, a table the
watcher cannot read, a version probe that failed as a whole."""

from __future__ import annotations

from typing import Any

from kindling_core.errors import KindlingError
from kindling_core.model.errors import DeclarationError

__all__ = ["DimensionOptionError", "DimensionReadError", "DimensionProbeError"]


class DimensionOptionError(DeclarationError):
    """A watched dimension's declaration cannot be watched: its ``change.detector`` names no
    active detector, a ``change.<name>`` option is unknown to the detector or has a bad value,
    the detector needs a Delta table with a ``path``, or the dimension is not declared.
    ``entity`` is the dimension's id, ``option`` the option key at fault (``None`` when it is
    the declaration as a whole). Raised when the watcher is built, before any poll."""

    def __init__(self, message: str, *, entity: str, option: str | None = None, **kwargs: Any):
        self.entity = entity
        self.option = option
        kwargs.setdefault("culprit", f"entity {entity!r} option {option!r}" if option else f"entity {entity!r}")
        super().__init__(message, declaration=entity, **kwargs)


class DimensionReadError(KindlingError):
    """The watcher could not read a watched table: it is missing (``status="missing"``) or its
    log cannot be read (``"failed"``). Reported to the error handlers, never raised: the
    watcher keeps the dimension's last version and reports no change until it can read it."""

    def __init__(self, message: str, *, entity: str, location: str, status: str, **kwargs: Any):
        self.entity = entity
        self.location = location
        self.status = status
        kwargs.setdefault("culprit", f"dimension {entity!r}")
        super().__init__(message, **kwargs)


class DimensionProbeError(KindlingError):
    """The batched version probe raised instead of answering; no Delta dimension was checked in
    that poll. Reported to the error handlers, never raised. ``entities`` lists the dimensions
    the probe was asked about."""

    def __init__(self, message: str, *, entities: tuple[str, ...], **kwargs: Any):
        self.entities = entities
        kwargs.setdefault("culprit", "the dimension watcher's version probe")
        super().__init__(message, **kwargs)
