"""Errors raised while declaring entities and pipes, and while loading an app by reference.

All derive from :class:`DeclarationError` (itself a :class:`~kindling_core.errors.KindlingError`
and a ``ValueError``) except :class:`AppLoadError`, which is about finding an app rather than
declaring into one. Every error names the declaration at fault (``culprit``) and says how to
fix it (``remedy``); the structured fields let tools and tests inspect the problem.
"""

from __future__ import annotations

from collections.abc import Sequence

from kindling_core.errors import KindlingError

__all__ = [
    "DeclarationError",
    "InvalidIdError",
    "DuplicateDeclarationError",
    "SignatureMismatchError",
    "InvalidDimensionError",
    "InvalidChoiceError",
    "AppLoadError",
]


class DeclarationError(KindlingError, ValueError):
    """An entity or pipe declaration is invalid. ``declaration`` is its id (if known)."""

    def __init__(self, message: str, *, declaration: str | None = None, **kwargs: object):
        self.declaration = declaration
        kwargs.setdefault("culprit", declaration)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class InvalidIdError(DeclarationError):
    """An entity or pipe id breaks the id rule (see :data:`kindling_core.model.ID_RULE`).

    ``kind`` is ``"entity"`` or ``"pipe"``; ``value`` the offending id; ``where`` the field it
    was given in (``"id"``, ``"inputs[1]"``, ``"output"``, ``"dimensions[0]"``).
    """

    def __init__(self, message: str, *, kind: str, value: object, where: str, declaration: str | None = None, **kwargs: object):
        self.kind = kind
        self.value = value
        self.where = where
        super().__init__(message, declaration=declaration, **kwargs)


class DuplicateDeclarationError(DeclarationError):
    """An entity or pipe id is declared twice. ``existing`` describes the first declaration."""

    def __init__(self, message: str, *, kind: str, id: str, existing: str, **kwargs: object):
        self.kind = kind
        self.id = id
        self.existing = existing
        super().__init__(message, declaration=id, **kwargs)


class SignatureMismatchError(DeclarationError):
    """A pipe's function cannot receive its inputs (one positional argument per input).

    ``pipe`` is the pipe id, ``parameters`` the function's parameter names, ``inputs`` the
    declared input entity ids.
    """

    def __init__(self, message: str, *, pipe: str, parameters: Sequence[str], inputs: Sequence[str], **kwargs: object):
        self.pipe = pipe
        self.parameters = tuple(parameters)
        self.inputs = tuple(inputs)
        super().__init__(message, declaration=pipe, **kwargs)


class InvalidDimensionError(DeclarationError):
    """A pipe names a dimension that is not one of its inputs."""

    def __init__(self, message: str, *, pipe: str, dimension: str, inputs: Sequence[str], **kwargs: object):
        self.pipe = pipe
        self.dimension = dimension
        self.inputs = tuple(inputs)
        super().__init__(message, declaration=pipe, **kwargs)


class InvalidChoiceError(DeclarationError):
    """A field with a fixed set of values (``mode``, ``write``) got something else."""

    def __init__(
        self, message: str, *, field: str, value: object, choices: Sequence[str], declaration: str | None = None, **kwargs: object
    ):
        self.field = field
        self.value = value
        self.choices = tuple(choices)
        super().__init__(message, declaration=declaration, **kwargs)


class AppLoadError(KindlingError):
    """An app reference (``package.module:attr``) could not be turned into an App.

    ``ref`` is the reference as given; ``reason`` one of ``"syntax"``, ``"import"``,
    ``"attribute"``, ``"type"``. The underlying exception, if any, is ``__cause__``.
    """

    def __init__(self, message: str, *, ref: str, reason: str, **kwargs: object):
        self.ref = ref
        self.reason = reason
        kwargs.setdefault("culprit", ref)
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
