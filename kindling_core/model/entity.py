"""Entities: the tables pipes read and write (Delta by default).

An :class:`Entity` is immutable metadata; it never touches Spark. ``schema`` may be a DDL
string (``"id BIGINT, name STRING"``) or a Spark ``StructType`` kept opaque (this module never
imports pyspark). Validation happens at construction (see :meth:`Entity.__attrs_post_init__`):

* ``id`` follows :data:`~kindling_core.model.ID_RULE`;
* exactly one of ``path`` (a storage location) and ``table`` (a catalog table name) is given;
* ``format`` is a non-empty lowercase word; ``merge_keys``, ``partition_by`` and ``tags`` are
  tuples of non-empty strings; ``options`` is a read-only mapping.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from kindling_core._convert import frozen_mapping, str_tuple
from kindling_core.model._ids import canonical, check_id
from kindling_core.model.errors import DeclarationError

__all__ = ["Entity"]






@attrs.frozen
class Entity:
    """A table: where it lives, how it is written, and what it is.

    ``kind`` classifies it (``"dimension"`` marks a table streaming pipes join and whose
    changes can restart them); ``change_data_feed`` says Delta CDF is enabled on it (used by
    change detectors); ``options`` are passed to readers/writers verbatim. ``origin`` records
    where it was declared (for duplicate-declaration messages) and is not part of equality.
    """

    id: str
    """The entity's id (unique among the app's entities)."""
    path: str | None = None
    """Storage location (relative paths are resolved against the project root); or ``table``."""
    table: str | None = None
    """Catalog table name (``catalog.schema.table``); or ``path``."""
    format: str = "delta"
    """Spark data source format, lowercase."""
    merge_keys: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    """Columns identifying a row, for ``write="merge"``."""
    partition_by: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    """Partition columns used when the table is created."""
    schema: Any = attrs.field(default=None, hash=False)
    """Declared schema: a DDL string or a Spark ``StructType`` (``None``: the first write's)."""
    kind: str | None = None
    """What it is; ``"dimension"`` marks a table streaming pipes join."""
    tags: tuple[str, ...] = attrs.field(default=(), converter=str_tuple)
    """Free-form labels for plugins (``hot``, ``pii``...)."""
    change_data_feed: bool = False
    """Delta Change Data Feed is enabled on it."""
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping, hash=False)
    """Reader/writer options passed to Spark verbatim (read-only); keys starting with ``write.``
    are for writers only, keys starting with ``change.`` configure change detection
    (:mod:`kindling_core.dimensions.spec`) and never reach Spark."""
    origin: str = attrs.field(default="", eq=False, repr=False)
    """Where the entity was declared (``file.py:12``)."""

    def __attrs_post_init__(self) -> None:
        check_id(self.id, kind="entity")
        if (self.path is None) == (self.table is None):
            got = "both" if self.path is not None else "neither"
            raise DeclarationError(
                f"entity {self.id!r} needs exactly one of path= (a storage location) or table= "
                f"(a catalog table name); got {got}",
                declaration=self.id,
                remedy="pass path='abfss://.../orders' or table='catalog.schema.orders', not both",
            )
        for name in ("path", "table"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise DeclarationError(
                    f"entity {self.id!r}: {name} must be a non-empty string, got {value!r}",
                    declaration=self.id,
                    remedy=f"give {name}= as a string",
                )
        if not isinstance(self.format, str) or not self.format.strip() or self.format != self.format.lower():
            raise DeclarationError(
                f"entity {self.id!r}: format must be a lowercase name such as 'delta' or 'parquet', got {self.format!r}",
                declaration=self.id,
                remedy="use format='delta' (the default) or another lowercase Spark format name",
            )
        if self.kind is not None and (not isinstance(self.kind, str) or not self.kind.strip()):
            raise DeclarationError(
                f"entity {self.id!r}: kind must be a non-empty string such as 'dimension', got {self.kind!r}",
                declaration=self.id,
                remedy="use kind='dimension' or leave it unset",
            )
        for name in ("merge_keys", "partition_by", "tags"):
            for index, value in enumerate(getattr(self, name)):
                if not isinstance(value, str) or not value.strip():
                    raise DeclarationError(
                        f"entity {self.id!r}: {name}[{index}] must be a non-empty string, got {value!r}",
                        declaration=self.id,
                        remedy=f"give {name} as a list of column names / words",
                    )
        if not isinstance(self.change_data_feed, bool):
            raise DeclarationError(
                f"entity {self.id!r}: change_data_feed must be True or False, got {self.change_data_feed!r}",
                declaration=self.id,
                remedy="pass change_data_feed=True to enable Delta's Change Data Feed, or leave it out",
            )

    @property
    def location(self) -> str:
        """The path or the table name, whichever was given."""
        return self.path if self.path is not None else self.table  # type: ignore[return-value]

    @property
    def is_dimension(self) -> bool:
        """``kind == "dimension"``."""
        return self.kind == "dimension"

    def fingerprint_data(self) -> tuple[Any, ...]:
        """Every field except ``origin``, in a canonical form (see :func:`canonical`)."""
        return (
            "entity",
            self.id,
            self.path,
            self.table,
            self.format,
            self.merge_keys,
            self.partition_by,
            canonical(self.schema),
            self.kind,
            self.tags,
            self.change_data_feed,
            canonical(self.options),
        )
