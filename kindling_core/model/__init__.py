"""Declarations: entities (tables) and pipes (transforms), the catalog that holds them, and
the checks a run makes on them before it starts.

Users normally declare through an app (``app.entity(...)``, ``@app.pipe(...)``); this package
holds the types behind those calls. Nothing here imports pyspark. ``load_app`` and
``parse_app_ref`` live in :mod:`kindling_core.loading` (they need the App, which needs this
package); they are re-exported here lazily, on first access, for older imports.
"""

from typing import Any

from kindling_core.model._ids import ID_RULE, is_valid_id
from kindling_core.model.catalog import Catalog
from kindling_core.model.checks import Problem, RunCheck, RunCheckError, check_pipes
from kindling_core.model.entity import Entity
from kindling_core.model.errors import (
    AppLoadError,
    DeclarationError,
    DuplicateDeclarationError,
    InvalidChoiceError,
    InvalidDimensionError,
    InvalidIdError,
    SignatureMismatchError,
)
from kindling_core.model.pipe import Pipe, PipeMode, WriteMode

__all__ = [
    "ID_RULE",
    "AppLoadError",
    "Catalog",
    "DeclarationError",
    "DuplicateDeclarationError",
    "Entity",
    "InvalidChoiceError",
    "InvalidDimensionError",
    "InvalidIdError",
    "Pipe",
    "PipeMode",
    "Problem",
    "RunCheck",
    "RunCheckError",
    "SignatureMismatchError",
    "WriteMode",
    "check_pipes",
    "is_valid_id",
]


def __getattr__(name: str) -> Any:
    if name in ("load_app", "parse_app_ref"):
        from kindling_core import loading

        return getattr(loading, name)
    raise AttributeError(f"module 'kindling_core.model' has no attribute {name!r}")
