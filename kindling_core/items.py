"""The item types plugins register, one per extension family.

Every registration hook (see :mod:`kindling_core.hookspecs`) returns an iterable of these
frozen, validated items. Each item has a ``name`` (lowercase words joined by dashes; the name
users write in configuration) and a one-line ``description`` (shown by ``kindling plugins
list --verbose``), plus the callable that does the family's work.

Invariants, checked when an item is constructed (a violation raises
:class:`~kindling_core.errors.ItemError`, a ``ValueError``, or for a callable that is not one
:class:`~kindling_core.errors.ItemTypeError`, also a ``TypeError``; the plugin loader
attributes either to the plugin whose hook built the item):

* ``name`` matches :data:`kindling_core._names.ITEM_NAME_RE`;
* ``description`` is a non-empty string;
* the callable is callable.

Items are immutable and hashable by identity of their fields; the core never mutates them.
Which plugin provided an item is recorded by the registry, not on the item.
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

import kindling_core.recovery.failure_text as failure_text
from kindling_core._convert import frozen_mapping
from kindling_core._names import check_item_name
from kindling_core.errors import ItemError, ItemTypeError
from kindling_core.plugin_settings import Setting
from kindling_core.recovery.backoff import Backoff

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.planning.types import CacheContext, StrategyInput

__all__ = [
    "Item",
    "ExecutionStrategy",
    "CacheHeuristic",
    "CacheRecommendation",
    "FailureKind",
    "FailureContext",
    "Classification",
    "FailureClassifier",
    "RecoveryActionKind",
    "RecoveryAction",
    "RecoveryContext",
    "RecoveryStrategy",
    "ChangeDetector",
    "ChangeContext",
    "ChangeReport",
    "ChangeRows",
    "ChangeKind",
    "SchemaChange",
    "TableStatus",
    "TableVersion",
    "ErrorEvent",
    "ErrorHandler",
]


def _valid_name(instance: object, attribute: attrs.Attribute, value: object) -> None:
    check_item_name(value, what=f"{type(instance).__name__} name")


def _non_empty_text(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not isinstance(value, str) or not value.strip():
        field = f"{type(instance).__name__}.{attribute.name}"
        raise ItemError(
            f"{field} must be a non-empty string, got {value!r}",
            value=value,
            culprit=field,
            remedy=f"give {attribute.name}= one line saying what the item does (shown by `kindling plugins list --verbose`)",
        )


def _callable(instance: object, attribute: attrs.Attribute, value: object) -> None:
    if not callable(value):
        field = f"{type(instance).__name__}.{attribute.name}"
        raise ItemTypeError(
            f"{field} must be callable, got {type(value).__name__}",
            value=value,
            culprit=field,
            remedy=f"pass the function itself as {attribute.name}=, not its result or its name",
        )


@attrs.frozen
class Item:
    """Fields every item has. Not registered directly; use a family's subclass."""

    name: str = attrs.field(validator=_valid_name)
    """The name users write in configuration: lowercase words joined by dashes, unique in its family."""
    description: str = attrs.field(validator=_non_empty_text)
    """One line saying what the item does (shown by ``kindling plugins list --verbose``)."""


# --------------------------------------------------------------------------- strategies


@attrs.frozen
class ExecutionStrategy(Item):
    """Turns a pipe graph into generations of pipe ids (family ``execution-strategies``).

    ``plan(request)`` receives a :class:`kindling_core.planning.types.StrategyInput` (the
    graph and the pipes' modes) and returns the generations: a sequence of sequences of pipe
    ids, every planned pipe exactly once, in the order they are to run. The core selects one
    strategy by name (``tool.kindling.strategy``, an argument, or ``--strategy``).
    """

    plan: Callable[[StrategyInput], Iterable[Iterable[str]]] = attrs.field(validator=_callable)
    """``plan(request)``: the generations of pipe ids for the request, every planned pipe once."""


# ------------------------------------------------------------------------------- cache


@attrs.frozen
class CacheRecommendation:
    """Advice to cache an entity: which one, at what storage level, and why.

    ``size_bytes`` is the entity's size when a size provider knew it, else ``None`` (the
    reason then says the size is unknown). Recommendations are advisory: the executor may
    apply them, a user may ignore them.
    """

    entity: str
    """Id of the entity to cache."""
    storage_level: str
    """Spark storage level name, usually ``context.storage_level`` (``MEMORY_AND_DISK``)."""
    reason: str
    """Why, for humans: shown by ``kindling plan`` and in ``cache.recommended``."""
    heuristic: str = ""
    """The heuristic that recommended it (filled in by the core when left empty)."""
    size_bytes: int | None = None
    """The entity's size in bytes when known (``context.size_of(entity)``), else ``None``."""


@attrs.frozen
class CacheHeuristic(Item):
    """Recommends entities to cache (family ``cache-heuristics``).

    ``recommend(context)`` receives a :class:`kindling_core.planning.types.CacheContext` and
    returns zero or more :class:`CacheRecommendation`. All enabled heuristics contribute, in
    configured order; the first recommendation for an entity wins.
    """

    recommend: Callable[[CacheContext], Iterable[CacheRecommendation]] = attrs.field(
        validator=_callable
    )
    """``recommend(context)``: zero or more recommendations (a list or a generator)."""


# --------------------------------------------------------------------------- failures


class FailureKind(str, enum.Enum):
    """What kind of failure an exception is, as far as retrying and recovery care."""

    TRANSIENT = "transient"
    """Likely to pass on retry (network blips, throttling, lost executors)."""
    PERMANENT = "permanent"
    """Will fail again the same way (bad code, bad schema, missing table)."""
    CHECKPOINT = "checkpoint"
    """A streaming checkpoint or its state is incompatible with the query, or corrupt; a clean start may help."""
    CONFLICT = "conflict"
    """A concurrent modification of a Delta table won the commit race; retrying re-reads the table (retryable)."""
    UNKNOWN = "unknown"
    """No classifier could tell."""


@attrs.frozen
class FailureContext:
    """What a failure classifier sees.

    ``error`` is the exception; ``source`` says where it happened (``"pipe"``,
    ``"stream"``, ...); ``subject`` is the pipe id or query name; ``attempt`` counts from 1;
    ``text`` is everything Spark said about it: the message of the error and of every cause,
    each exception's error class (condition) and message parameters, and the JVM stack trace
    with its ``Caused by:`` lines, so classifiers can look inside wrapped Spark errors.
    ``error_classes``, ``causes`` and ``python_errors`` are parsed from it (outermost first,
    innermost last) by :mod:`kindling_core.recovery.failure_text`.
    """

    error: BaseException
    """The exception being classified."""
    source: str
    """Where it happened: ``"pipe"``, ``"stream"``..."""
    subject: str
    """What failed: the pipe id or the streaming query's name."""
    attempt: int = 1
    """Which attempt failed, counting from 1."""
    text: str = ""
    """Everything said about the failure: messages of the cause chain, error classes, JVM stack traces (search this)."""
    error_classes: tuple[str, ...] = attrs.field(
        default=attrs.Factory(lambda self: failure_text.error_classes(self.text), takes_self=True), converter=tuple
    )
    """Every Spark/Delta error class in ``text`` (``getCondition()``, ``[ERROR_CLASS]`` tokens), outermost first:
    ``("STREAM_FAILED", "DELTA_CONCURRENT_APPEND.WITH_PARTITION_HINT")``. Parsed from ``text`` unless given."""
    causes: tuple[str, ...] = attrs.field(
        default=attrs.Factory(lambda self: failure_text.caused_by(self.text), takes_self=True), converter=tuple
    )
    """The exceptions of the JVM ``Caused by:`` lines, ``"<type>: <message>"``, outermost first. Parsed from ``text`` unless given."""
    python_errors: tuple[str, ...] = attrs.field(
        default=attrs.Factory(lambda self: failure_text.python_errors(self.text), takes_self=True), converter=tuple
    )
    """The final ``Type: message`` line of each Python traceback in ``text`` (a UDF's error), outermost first.
    Parsed from ``text`` unless given."""

    @classmethod
    def of(cls, error: BaseException, *, source: str, subject: str, attempt: int = 1) -> FailureContext:
        """Build a context from ``error``: collect its text through the cause chain (duck typing
        pyspark's captured exceptions, never importing pyspark) and parse it."""
        return cls(error=error, source=source, subject=subject, attempt=attempt, text=failure_text.collect_failure_text(error))


@attrs.frozen
class Classification:
    """A classifier's decisive answer: the kind, a reason, and who decided."""

    kind: FailureKind
    """What kind of failure it is; decides retrying and recovery."""
    reason: str
    """Why, for humans (logged and shown in run results)."""
    classifier: str = ""
    """The classifier that decided (by convention its item name)."""


@attrs.frozen
class FailureClassifier(Item):
    """Maps an exception to a failure kind (family ``failure-classifiers``).

    ``classify(context)`` returns a :class:`Classification` when it is sure, or ``None`` to
    pass to the next classifier. The chain runs in configured order; the first decisive
    answer wins; the built-in ``generic`` classifier always runs last.
    """

    classify: Callable[[FailureContext], Classification | None] = attrs.field(validator=_callable)
    """``classify(context)``: a :class:`Classification` when sure, else ``None``."""


# --------------------------------------------------------------------------- recovery


class RecoveryActionKind(str, enum.Enum):
    """What to do about a classified failure."""

    RESTART = "restart"
    """Restart from the existing checkpoint after ``delay_seconds``."""
    CLEAN_START = "clean-start"
    """Restart from a fresh checkpoint (the old one is kept aside, never deleted)."""
    ALERT_ONLY = "alert-only"
    """Leave it stopped and alert a human."""
    GIVE_UP = "give-up"
    """Stop trying; the failure stands."""


@attrs.frozen
class RecoveryContext:
    """What a recovery strategy sees: the failure, its classification and the history."""

    failure: FailureContext
    """The failure: error, source, subject, attempt and cause-chain text."""
    classification: Classification
    """How the failure classifiers classified it."""
    attempts_so_far: int = 0
    """Recovery attempts already made for this subject, within the budget's window, in the
    pool of the failure's kind (``unknown`` failures have a pool of their own)."""
    max_attempts: int = 5
    """The budget of that pool; a restart once ``attempts_so_far`` reaches it is refused by the
    core (the decision is ``exhausted``)."""
    backoff: Backoff = attrs.field(factory=lambda: Backoff(base=2.0, cap=300.0))
    """The configured backoff: a restart waits ``backoff.delay(attempts_so_far + 1)`` seconds
    (for streams ``[tool.kindling.recovery] backoff-seconds`` / ``backoff-max-seconds``, for
    batch pipes ``[tool.kindling.execution] retry-backoff-seconds`` / ``retry-backoff-max-seconds``)."""


@attrs.frozen
class RecoveryAction:
    """A recovery strategy's decision."""

    kind: RecoveryActionKind
    """What to do: restart, clean start, alert only, give up."""
    reason: str
    """Why, for humans (logged and signalled)."""
    delay_seconds: float = 0.0
    """How long to wait before a restart (ignored by the other kinds)."""
    strategy: str = ""
    """The recovery strategy that decided (by convention its item name)."""


@attrs.frozen
class RecoveryStrategy(Item):
    """Decides the action for a classified failure (family ``recovery-strategies``).

    ``decide(context)`` returns a :class:`RecoveryAction` when the strategy applies, else
    ``None``. The chain runs in configured order; the first strategy that applies wins.
    """

    decide: Callable[[RecoveryContext], RecoveryAction | None] = attrs.field(validator=_callable)
    """``decide(context)``: a :class:`RecoveryAction` when the strategy applies, else ``None``."""


# --------------------------------------------------------------------------- changes


class TableStatus(str, enum.Enum):
    """Whether the version probe could read a watched table."""

    OK = "ok"
    """The table exists; :attr:`TableVersion.version` is its latest version."""
    MISSING = "missing"
    """There is no table at the location (no Delta log, or one without a commit)."""
    FAILED = "failed"
    """The table's log could not be read; :attr:`TableVersion.error` says why."""


class ChangeKind(str, enum.Enum):
    """What kind of change a :class:`ChangeReport` is (what the restart policy looks at:
    ``kindling_core.dimensions.policy.restart_need``)."""

    DATA = "data"
    """Rows changed (appends, overwrites, updates, deletes, merges); the columns did not."""
    SCHEMA = "schema"
    """The columns changed (:attr:`ChangeReport.schema` says how); rows may have changed too."""
    RECREATED = "recreated"
    """The table was deleted and created again at its location (its version went back, or
    its Delta table id changed)."""
    REFRESH = "refresh"
    """A periodic refresh (the ``schedule`` detector): nothing says what changed, if anything."""
    UNCLEAR = "unclear"
    """The detector cannot tell what changed (the commits were cleaned up from the log), or
    did not say (a report built without a ``kind``)."""


@attrs.frozen
class SchemaChange:
    """How a table's columns changed between two versions (top-level columns, compared by
    name and type; nullability and column metadata are ignored, so turning column mapping on
    is no schema change).

    A column is *renamed* when column mapping ids show the same column under a new name;
    without column mapping a rename shows as one column removed and one added. ``known`` is
    false when the log says the schema changed (``version``, ``operations``) but not how: the
    column tuples are then empty and the change counts as incompatible unless every
    operation is ``ADD COLUMNS``.
    """

    version: int | None = None
    """The newest version whose commit changed the schema."""
    added: tuple[str, ...] = ()
    """Columns that are new."""
    removed: tuple[str, ...] = ()
    """Columns that are gone."""
    renamed: tuple[tuple[str, str], ...] = ()
    """``(old name, new name)`` pairs."""
    retyped: tuple[tuple[str, str, str], ...] = ()
    """``(column, old type, new type)`` triples (Spark's type strings, such as ``string``)."""
    known: bool = True
    """Whether the column tuples say exactly what changed."""
    operations: tuple[str, ...] = ()
    """The operations of the commits that changed the schema (``DROP COLUMNS``, ``WRITE``...)."""
    with_data: bool = False
    """Whether a commit in the same range also changed data."""

    @property
    def incompatible(self) -> bool:
        """A column removed, renamed or retyped (or an unknown change that is not only
        ``ADD COLUMNS``): a running stream-static join fails at its next micro-batch."""
        if not self.known:
            return not self.operations or any(op != "ADD COLUMNS" for op in self.operations)
        return bool(self.removed or self.renamed or self.retyped)

    def describe(self) -> str:
        """The change in words, e.g. ``column(s) removed: tier; added: region``."""
        if not self.known:
            what = ", ".join(self.operations) or "a metadata commit"
            return f"the schema changed at version {self.version} ({what}); the columns are not known"
        parts = []
        if self.removed:
            parts.append("removed: " + ", ".join(self.removed))
        if self.renamed:
            parts.append("renamed: " + ", ".join(f"{old} -> {new}" for old, new in self.renamed))
        if self.retyped:
            parts.append("retyped: " + ", ".join(f"{name} {old} -> {new}" for name, old, new in self.retyped))
        if self.added:
            parts.append("added: " + ", ".join(self.added))
        return "column(s) " + "; ".join(parts) if parts else "no column changed"


@attrs.frozen
class TableVersion:
    """The version probe's answer for one watched Delta table, at one poll.

    The watcher probes every watched Delta table in one batch per poll, asking each "did any
    commit after ``context.last_version`` change data?". A commit changes data when it adds,
    removes or rewrites rows (``dataChange``); OPTIMIZE, VACUUM and property or schema-only
    changes do not. Version 0 counts: the table came into existence. Column changes are
    reported apart, in ``schema``, metadata-only ones included.
    """

    status: TableStatus
    """Whether the table could be read (only ``OK`` answers reach a detector)."""
    location: str = ""
    """Where the table lives (its resolved storage path)."""
    version: int | None = None
    """The table's latest version (``None`` unless ``OK``)."""
    data_change: bool | None = None
    """Whether a commit after ``last_version`` (up to ``version``) changed data; on the first
    observation, whether the latest commit did. ``None`` when that cannot be told: the commits
    were cleaned up from the log, or ``last_version`` is ahead of the table (recreated)."""
    last_data_version: int | None = None
    """The newest data-changing version found after ``last_version``, if any."""
    operation: str | None = None
    """The latest commit's operation (``WRITE``, ``MERGE``, ``OPTIMIZE``...), when recorded."""
    timestamp_ms: int | None = None
    """When the latest commit happened (milliseconds since the epoch), when known."""
    error: str | None = None
    """Why the table could not be read (``FAILED``; names the location)."""
    note: str | None = None
    """Why ``data_change`` is ``None``, when it is."""
    schema: SchemaChange | None = None
    """How the columns changed after ``last_version`` (``None``: they did not, as far as the
    log tells). Metadata-only commits (``ALTER TABLE ... DROP / RENAME / ADD COLUMNS``) count
    here though they change no data; property changes and OPTIMIZE do not."""
    recreated: bool = False
    """The table was recreated after ``last_version``: its latest version is below it, or its
    Delta table id changed."""

    @property
    def ok(self) -> bool:
        """``status is TableStatus.OK``."""
        return self.status is TableStatus.OK


@attrs.frozen
class ChangeRows:
    """What :attr:`ChangeContext.read_changes` found in a table's Change Data Feed.

    Rows are counted over the versions ``from_version .. to_version`` after the predicate (a
    row counts when its pre- or post-image matches). An update counts only when it changed one
    of the columns of interest (all data columns when none were named): an update whose
    pre-image and post-image agree on them is not counted.
    """

    from_version: int
    """The first version read (``last_version + 1``)."""
    to_version: int
    """The last version read (the probe's latest version)."""
    inserted: int = 0
    """Inserted rows that match the predicate."""
    deleted: int = 0
    """Deleted rows that match the predicate."""
    updated: int = 0
    """Updated rows that match the predicate and changed a column of interest."""
    read: int = 0
    """Change rows read in total, relevant or not (pre- and post-images count one each)."""

    @property
    def relevant(self) -> int:
        """``inserted + deleted + updated``: the rows that make this a change."""
        return self.inserted + self.deleted + self.updated


@attrs.frozen
class ChangeContext:
    """What a change detector sees at one poll of one watched entity (a dimension).

    The watcher keeps two versions per entity: ``last_version``, the latest version it has
    looked at, and ``reported_version``, the version of the last change it reported (the
    baseline until then). The first poll of an entity is its *baseline* (``baseline`` true):
    whatever the detector returns is recorded as the starting point, never reported as a
    change. A detector answers "did anything relevant happen after ``last_version``?"; when it
    returns ``None`` the watcher moves ``last_version`` on, so the next poll does not look at
    the same commits again.
    """

    entity: str
    """Id of the watched entity (a dimension)."""
    last_version: int | None = None
    """The latest version the watcher has looked at: the probe's latest version of the previous
    poll for Delta tables; for tables the probe does not read, the ``to_version`` of this
    detector's last report (its baseline included). ``None`` on the first poll."""
    options: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping)
    """The entity's declared ``options`` (read-only)."""
    baseline: bool = False
    """True on the entity's first poll: the answer becomes the baseline, never a change."""
    reported_version: int | None = None
    """The version of the last change reported for the entity (the baseline until then)."""
    unreported_data_change: bool = False
    """An earlier poll saw a data-changing commit after ``reported_version`` that no report
    covered yet (a threshold such as ``min-version-delta`` held it back)."""
    latest: TableVersion | None = None
    """The version probe's answer for the entity at this poll (always ``OK`` when given);
    ``None`` for entities the probe does not read (not a Delta table with a ``path``)."""
    settings: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping)
    """The detector's settings for this entity: the entity's ``change.<name>`` options, checked
    against the detector's declared :attr:`ChangeDetector.settings`, defaults filled in, keyed
    by ``<name>`` (read-only)."""
    now: float = 0.0
    """The watcher's clock at this poll (seconds, monotonic)."""
    reported_at: float | None = None
    """The watcher's clock when the baseline was taken or the last change was reported."""
    read_changes: Callable[..., ChangeRows] | None = attrs.field(default=None, eq=False, repr=False)
    """``read_changes(columns=None, predicate=None)``: reads the table's Change Data Feed for
    the versions after ``last_version`` up to ``latest.version`` and counts the relevant rows
    (:class:`ChangeRows`; ``columns`` the columns of interest, ``predicate`` a SQL condition on
    the rows). Runs Spark jobs. ``None`` on the baseline poll, for tables the probe does not
    read, when ``latest.version`` is not past ``last_version``, or when the watcher has no
    change reader."""


@attrs.frozen
class ChangeReport:
    """A detector's finding that an entity changed (from one version to another)."""

    entity: str
    """Id of the entity that changed."""
    from_version: int | None
    """The version it changed from (``context.reported_version``, the last one reported)."""
    to_version: int | None
    """The version it changed to (``None`` if the detector cannot tell)."""
    reason: str
    """Why this counts as a change, for humans."""
    detector: str = ""
    """The detector that reported it (filled in with its item name when left empty)."""
    rows: ChangeRows | None = None
    """The Change Data Feed rows that made it a change, when the detector read them."""
    kind: ChangeKind = attrs.field(default=ChangeKind.UNCLEAR, converter=ChangeKind)
    """What kind of change it is (the built-in detectors always say; a report that does not
    is ``UNCLEAR``, which the default restart policy treats as needing a restart)."""
    schema: SchemaChange | None = None
    """How the columns changed, for a ``SCHEMA`` change."""


def _settings_items(value: Iterable[Setting]) -> tuple[Setting, ...]:
    """``ChangeDetector.settings`` as a tuple, every element a :class:`Setting`."""
    value = tuple(value)
    for index, setting in enumerate(value):
        if not isinstance(setting, Setting):
            raise ItemTypeError(
                f"ChangeDetector.settings[{index}] must be a Setting, got {type(setting).__name__}",
                value=setting,
                culprit="ChangeDetector.settings",
                remedy="declare each change.<name> option as Setting('name', int, description='...')",
            )
    return value


@attrs.frozen
class ChangeDetector(Item):
    """Reports that a watched entity changed (family ``change-detectors``).

    ``detect(context)`` returns a :class:`ChangeReport` when the entity changed since
    ``context.last_version`` (see :class:`ChangeContext`), else ``None``. Each watched entity
    uses one detector: the one its ``options`` name as ``change.detector``, else
    ``tool.kindling.change-detectors.default``. Every enabled detector is available.

    ``settings`` declares the ``change.<name>`` entity options the detector reads (as
    :class:`~kindling_core.plugin_settings.Setting` items, the schema plugins declare their
    settings with); the watcher checks them when it starts watching and hands the values to
    ``detect`` as ``context.settings``. ``delta_only`` says the detector needs the version
    probe's answer (``context.latest``): the watcher refuses to use it for an entity that is
    not a Delta table with a ``path``.
    """

    detect: Callable[[ChangeContext], ChangeReport | None] = attrs.field(validator=_callable)
    """``detect(context)``: a :class:`ChangeReport` when the entity changed, else ``None``."""
    settings: tuple[Setting, ...] = attrs.field(default=(), converter=_settings_items)
    """The ``change.<name>`` entity options the detector reads (see the class doc)."""
    delta_only: bool = False
    """The detector reads ``context.latest``: only Delta tables with a ``path`` may use it."""


# ------------------------------------------------------------------------------ errors


@attrs.frozen
class ErrorEvent:
    """An error worth reacting to, as error handlers receive it.

    ``error`` is the exception; ``source`` the component it came from (``"pipe"``,
    ``"signal-receiver"``, ``"plugin"``, ``"stream"``...); ``subject`` what failed (a pipe id,
    a receiver name); ``context`` extra read-only facts (attempt, run id...).
    """

    error: BaseException
    """The exception reported."""
    source: str
    """The component it came from: ``"pipe"``, ``"signal-receiver"``, ``"plugin"``, ``"stream"``..."""
    subject: str
    """What failed: a pipe id, a receiver name, a plugin id."""
    context: Mapping[str, Any] = attrs.field(factory=dict, converter=frozen_mapping)
    """Extra read-only facts (attempt, run id, signal...)."""


@attrs.frozen
class ErrorHandler(Item):
    """Reacts to an error: logs it, signals it, alerts someone (family ``error-handlers``).

    ``handle(event)`` receives an :class:`ErrorEvent`. Every enabled handler runs, in
    configured order. A handler that raises is reported (logged under ``kindling.errors`` and
    signalled as ``errors.handler_failed``) and never masks the original error.
    """

    handle: Callable[[ErrorEvent], None] = attrs.field(validator=_callable)
    """``handle(event)``: react to the error; the return value is ignored."""
