"""Whether a reported dimension change needs a restart of the streaming queries that join it.

:func:`restart_need` answers for one :class:`~kindling_core.items.ChangeReport` and the
dimension's :class:`~kindling_core.model.Entity`, from two entity options (``change.*``, like
the detector's settings, never passed to Spark)::

    app.entity("dim.customers", path="lake/customers", kind="dimension",
               options={"change.restart": "auto", "change.cached": True})

``change.restart``
    ``"auto"`` (default): restart only where docs/design/dimensions.md measured that a running
    query needs it (below); ``"always"``: every reported change restarts; ``"never"``: no
    change restarts (a query that a schema change breaks then fails and goes to recovery).
``change.cached``
    ``true`` when the pipe's function caches the dimension (``.cache()`` / ``.persist()``):
    a cached dimension misses other applications' commits, so every data change restarts.
    Default ``false``.

``auto``, per :class:`~kindling_core.items.ChangeKind`:

========================  ===========================================================
the change                restart?
========================  ===========================================================
``DATA``                  no: a Delta stream-static join reads the dimension's current
                          version at each micro-batch; **yes** when ``change.cached``
``SCHEMA``, only added    no: the running query keeps its columns and is unaffected (yes
columns                   when ``change.cached`` and rows changed too)
``SCHEMA``, a column      yes: the query fails at its next micro-batch
removed/renamed/retyped   (``DELTA_SCHEMA_CHANGE_SINCE_ANALYSIS``); the restart rebuilds
(or not known)            it from the pipe's function over a fresh read
``RECREATED``             yes, as for an incompatible schema change
``REFRESH``, ``UNCLEAR``  yes: nothing says the running query is unaffected
========================  ===========================================================

A dimension that is not a Delta table restarts on every change: only Delta tables were
measured to be read again at each micro-batch.

The options are checked when watching starts (:func:`restart_policy`, called by
:func:`~kindling_core.dimensions.spec.resolve_dimension`): a bad value raises
:class:`~kindling_core.dimensions.errors.DimensionOptionError` naming the entity and option.
Pyspark-free.
"""

from __future__ import annotations

import attrs

from kindling_core._names import did_you_mean
from kindling_core.dimensions.errors import DimensionOptionError
from kindling_core.items import ChangeKind, ChangeReport
from kindling_core.model import Entity

__all__ = [
    "RESTART_OPTION",
    "CACHED_OPTION",
    "POLICY_OPTIONS",
    "RESTART_POLICIES",
    "RestartPolicy",
    "RestartNeed",
    "restart_policy",
    "restart_need",
]

#: The entity option choosing when a change restarts the dimension's queries.
RESTART_OPTION = "change.restart"
#: The entity option saying that the pipe caches the dimension.
CACHED_OPTION = "change.cached"
#: The restart-policy options (checked here, not as detector settings).
POLICY_OPTIONS = (RESTART_OPTION, CACHED_OPTION)
#: The values of ``change.restart``.
RESTART_POLICIES = ("auto", "always", "never")

_DOC = "docs/design/dimensions.md"


@attrs.frozen
class RestartPolicy:
    """A dimension's checked restart options: ``restart`` (``"auto"``, ``"always"`` or
    ``"never"``) and ``cached``."""

    restart: str = "auto"
    cached: bool = False


@attrs.frozen
class RestartNeed:
    """Whether a change needs the dimension's streaming queries restarted, and why (for humans:
    the restart controller's ``skipped`` signal and the restart preview show ``reason``)."""

    needed: bool
    reason: str
    policy: str = "auto"
    """The ``change.restart`` policy that decided."""


def restart_triggers(restart: str, *, cached: bool = False, delta: bool = True) -> str:
    """Which changes restart a dimension's streaming queries under ``change.restart`` =
    ``restart`` (the rules of :func:`restart_need`, in one sentence for the restart preview)."""
    if restart == "never":
        return "no change restarts its queries (change.restart = never)"
    if restart == "always":
        return "every change its detector reports restarts its queries (change.restart = always)"
    if not delta:
        return "every change restarts its queries: only Delta dimensions are read again at each micro-batch"
    if cached:
        return (
            "a data change (its pipes cache it), a removed, renamed or retyped column or a recreated "
            "table restarts its queries; an added column alone does not"
        )
    return (
        "a removed, renamed or retyped column, a recreated table or an unclear history restarts its "
        "queries; a plain data change or an added column does not (a Delta stream-static join reads "
        "the current version at each micro-batch)"
    )


def restart_policy(entity: Entity) -> RestartPolicy:
    """``entity``'s ``change.restart`` and ``change.cached`` options, checked; raises
    :class:`~kindling_core.dimensions.errors.DimensionOptionError` for a bad value."""
    options = entity.options
    restart = options.get(RESTART_OPTION, "auto")
    if not isinstance(restart, str) or restart not in RESTART_POLICIES:
        hint = did_you_mean(restart, RESTART_POLICIES) if isinstance(restart, str) else ""
        raise DimensionOptionError(
            f"entity {entity.id!r}: options[{RESTART_OPTION!r}] is {restart!r}, not one of {', '.join(map(repr, RESTART_POLICIES))}.{hint}",
            entity=entity.id,
            option=RESTART_OPTION,
            remedy=f"set options[{RESTART_OPTION!r}] to 'auto' (restart only where needed, the default), 'always' or 'never'",
        )
    cached = options.get(CACHED_OPTION, False)
    if not isinstance(cached, bool):
        raise DimensionOptionError(
            f"entity {entity.id!r}: options[{CACHED_OPTION!r}] is {cached!r}, not a bool "
            "(true when the pipe's function caches the dimension)",
            entity=entity.id,
            option=CACHED_OPTION,
            remedy=f"set options[{CACHED_OPTION!r}] to True or False",
        )
    return RestartPolicy(restart=restart, cached=cached)


def restart_need(report: ChangeReport, entity: Entity) -> RestartNeed:
    """Whether ``report`` (a change of the dimension ``entity``) needs the streaming queries
    that join it restarted, under the entity's ``change.restart`` policy (see the module
    docstring). Raises :class:`~kindling_core.dimensions.errors.DimensionOptionError` for bad
    options."""
    policy = restart_policy(entity)
    name = entity.id
    if policy.restart == "never":
        return RestartNeed(False, f"dimension {name!r} sets {RESTART_OPTION} = 'never'", "never")
    if policy.restart == "always":
        return RestartNeed(True, f"dimension {name!r} sets {RESTART_OPTION} = 'always'", "always")
    needed, reason = _auto(report, entity, policy.cached)
    return RestartNeed(needed, reason, "auto")


def _auto(report: ChangeReport, entity: Entity, cached: bool) -> tuple[bool, str]:
    name = entity.id
    kind = report.kind
    if entity.format != "delta":
        return True, (
            f"{name!r} is a {entity.format} table: only Delta dimensions were measured to be read again "
            f"at each micro-batch ({_DOC}), so every change restarts"
        )
    fails = "a running stream-static join fails at its next micro-batch (DELTA_SCHEMA_CHANGE_SINCE_ANALYSIS); "
    rebuild = f"the restart rebuilds it from the pipe's function over a fresh read ({_DOC})"
    if kind is ChangeKind.RECREATED:
        return True, f"{name!r} was recreated: {fails}{rebuild}"
    cache = (
        f"the pipe caches {name!r} ({CACHED_OPTION}): another application's commits never reach the cache, "
        f"so every data change restarts ({_DOC})"
    )
    if kind is ChangeKind.SCHEMA:
        schema = report.schema
        if schema is None or schema.incompatible:
            what = schema.describe() if schema is not None else "the schema changed"
            return True, f"{what} in {name!r}: {fails}{rebuild}"
        if cached and schema.with_data:
            return True, cache
        return False, (
            f"{schema.describe()} in {name!r}: the running query keeps the columns it started with and is "
            f"unaffected; a restart would widen its output ({_DOC}). Set {RESTART_OPTION} = 'always' to pick new columns up"
        )
    if kind is ChangeKind.DATA:
        if cached:
            return True, cache
        return False, f"a Delta stream-static join reads the current version of {name!r} at each micro-batch ({_DOC})"
    if kind is ChangeKind.REFRESH:
        return True, f"a scheduled refresh of {name!r} ({report.detector or 'schedule'}): nothing says what changed"
    return True, f"cannot tell what changed in {name!r} ({report.reason}); restarting is the safe choice"
