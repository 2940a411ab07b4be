"""Declarations: entities (tables) and pipes (transforms), the catalog that holds them, and
loading an app by reference.

Users normally declare through an app (``app.entity(...)``, ``@app.pipe(...)``); this package
holds the types behind those calls. Nothing here imports pyspark.
"""

from kindling_core.model._ids import ID_RULE, is_valid_id
from kindling_core.model.catalog import Catalog
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
from kindling_core.model.loading import load_app, parse_app_ref
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
    "SignatureMismatchError",
    "WriteMode",
    "is_valid_id",
    "load_app",
    "parse_app_ref",
]
