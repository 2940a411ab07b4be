"""Hook specifications of the ``kindling`` pluggy project.

Plugins implement these with :data:`hookimpl` (``from kindling_core import hookimpl``) and are
found through the ``kindling`` entry-point group. The entry-point name is the plugin's id.

Semantics shared by the six registration hooks:

* The core calls each plugin's implementation **separately** (never through pluggy's 1:N
  call), so every returned item and every exception is attributed to its plugin, and the
  result never depends on pluggy's registration order.
* An implementation may accept any subset of the arguments ``config`` (the app's
  :class:`~kindling_core.config.KindlingConfig`), ``settings`` (this plugin's own table,
  ``[tool.kindling.settings.<plugin-id>]``, as a read-only mapping: validated, with defaults
  filled in, when the plugin declares its settings with ``kindling_settings_schema``) and
  ``signals`` (the app's :class:`~kindling_core.signals.SignalBus`, for items that emit their
  own signals).
* It returns an iterable (a list, a tuple, a generator) of frozen items of the family's type,
  or ``None`` for none; a single item, a string or a mapping fails the plugin with a message
  saying so. Item names are unique within a family across all plugins.
* A hook that raises, or returns something else, fails its plugin: the plugin is listed as
  ``failed`` with the reason, and none of its items is used. A
  :class:`~kindling_core.errors.ConfigError` it raises (a bad value in its settings table) is
  a configuration error instead: it stops the app, in lenient and strict mode alike.
* While the core uses an item (a classifier classifying, a heuristic recommending), an
  exception or an unusable return value is given to the app's error handlers as a
  :class:`~kindling_core.errors.PluginItemError` naming the item, its plugin, distribution and
  version (source ``plugin-item``), and the core goes on with the rest of the chain. The
  selected execution strategy is the exception: there is no rest to go on with, so planning
  fails with a :class:`~kindling_core.planning.StrategyError` naming it.
* How the items are combined (select one, ordered chain, run all) is the core's business and
  configured in ``pyproject.toml``; see :mod:`kindling_core.families`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import pluggy

from kindling_core import items
from kindling_core.plugin_settings import Setting

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.config import KindlingConfig
    from kindling_core.signals import SignalBus

PROJECT_NAME = "kindling"
ENTRY_POINT_GROUP = "kindling"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

__all__ = ["PROJECT_NAME", "ENTRY_POINT_GROUP", "hookspec", "hookimpl"]


@hookspec
def kindling_execution_strategies(
    config: KindlingConfig, settings: Mapping[str, Any], signals: SignalBus
) -> Iterable[items.ExecutionStrategy]:
    """Register execution strategies (family ``execution-strategies``, select one).

    A strategy turns the pipe graph into generations. The core uses exactly one, chosen by
    ``strategy = "name"`` in ``[tool.kindling]``, by ``app.plan(strategy=...)`` or by
    ``--strategy``; an unknown name is an error listing the available ones.

    Example::

        @hookimpl
        def kindling_execution_strategies():
            return [ExecutionStrategy(name="one-by-one",
                                      description="every pipe in its own generation",
                                      plan=lambda request: [[p] for p in request.topological_order()])]
    """


@hookspec
def kindling_cache_heuristics(
    config: KindlingConfig, settings: Mapping[str, Any], signals: SignalBus
) -> Iterable[items.CacheHeuristic]:
    """Register cache heuristics (family ``cache-heuristics``, ordered chain, all contribute).

    Every enabled heuristic is asked for recommendations when a plan is made, in the order of
    ``[tool.kindling.cache] order`` (``"..."`` stands for the rest); ``disable`` removes some.
    Recommendations are advisory.

    Example::

        @hookimpl
        def kindling_cache_heuristics(settings):
            def recommend(context):
                for entity in context.entities_tagged("hot"):
                    yield CacheRecommendation(entity, context.storage_level, "tagged hot")
            return [CacheHeuristic(name="hot-tag", description="cache entities tagged hot",
                                   recommend=recommend)]
    """


@hookspec
def kindling_failure_classifiers(
    config: KindlingConfig, settings: Mapping[str, Any], signals: SignalBus
) -> Iterable[items.FailureClassifier]:
    """Register failure classifiers (family ``failure-classifiers``, first decisive wins).

    Classifiers run in the order of ``[tool.kindling.failure-classifiers] order``; the first
    to return a :class:`~kindling_core.items.Classification` decides; the built-in
    ``generic`` classifier always runs last, and the built-in ``patterns`` classifier (the
    configured ``transient``/``permanent``/``checkpoint``/``conflict`` patterns) runs first
    unless ``order`` moves it. Look inside what Spark gives: it wraps real causes in generic
    exceptions, so read ``context.error_classes`` (``[ERROR_CLASS]`` tokens, outermost first),
    ``context.causes`` (``Caused by:`` lines), ``context.python_errors`` (a UDF's error) or
    search ``context.text``.

    Example::

        @hookimpl
        def kindling_failure_classifiers():
            def classify(context):
                if any(c.startswith("ACME_QUOTA_EXCEEDED") for c in context.error_classes):
                    return Classification(FailureKind.TRANSIENT, "Acme's quota resets every minute")
                return None
            return [FailureClassifier(name="acme-quota",
                                      description="Acme quota errors are transient",
                                      classify=classify)]
    """


@hookspec
def kindling_recovery_strategies(
    config: KindlingConfig, settings: Mapping[str, Any], signals: SignalBus
) -> Iterable[items.RecoveryStrategy]:
    """Register recovery strategies (family ``recovery-strategies``, first that applies).

    Strategies run in the order of ``[tool.kindling.recovery] order``; the first returning a
    :class:`~kindling_core.items.RecoveryAction` decides what happens to a failed stream or
    pipe (restart with backoff, clean start, alert only, give up); ``None`` passes to the next.
    A restart waits ``delay_seconds``: use ``context.backoff.delay(context.attempts_so_far + 1)``
    for the configured full-jitter backoff (``[tool.kindling.recovery] backoff-seconds`` for
    streams, ``[tool.kindling.execution] retry-backoff-seconds`` for batch pipes).

    The core's rules apply after the chain, whatever a strategy says: a ``permanent`` failure
    is never restarted (a restart or clean start becomes give-up); a restart or clean start once
    ``context.attempts_so_far`` reached ``context.max_attempts`` is exhausted (the budget of the
    failure's kind; ``unknown`` failures have a small one of their own); a timed-out batch pipe
    is never retried (the chain is not asked); no action from any strategy means give up.

    Example::

        @hookimpl
        def kindling_recovery_strategies():
            def decide(context):
                if context.classification.kind is FailureKind.PERMANENT:
                    return RecoveryAction(RecoveryActionKind.ALERT_ONLY, "page the on-call")
                return None
            return [RecoveryStrategy(name="page-on-permanent",
                                     description="alert instead of retrying permanent errors",
                                     decide=decide)]
    """


@hookspec
def kindling_change_detectors(
    config: KindlingConfig, settings: Mapping[str, Any], signals: SignalBus
) -> Iterable[items.ChangeDetector]:
    """Register change detectors (family ``change-detectors``, run all enabled).

    A detector reports that a watched entity (a dimension) changed. Each dimension names the
    detector it uses in its entity options (``"change.detector"``), and sets the detector's
    declared ``settings`` as ``"change.<name>"`` options;
    ``[tool.kindling.change-detectors] default`` names the detector used otherwise;
    ``disable`` removes detectors. The dimension watcher calls ``detect`` once per poll with the
    batched version probe's answer for Delta tables (``context.latest``); on the first poll
    (``context.baseline``) the answer is the baseline, never a change.

    Example (versions kept outside Delta: the baseline report records the first one)::

        @hookimpl
        def kindling_change_detectors():
            def detect(context):
                version = read_my_version(context.entity)
                if version != context.last_version:
                    return ChangeReport(context.entity, context.last_version, version, "bumped")
                return None
            return [ChangeDetector(name="my-registry", description="versions from my registry",
                                   detect=detect)]
    """


@hookspec
def kindling_error_handlers(
    config: KindlingConfig, settings: Mapping[str, Any], signals: SignalBus
) -> Iterable[items.ErrorHandler]:
    """Register error handlers (family ``error-handlers``, run all enabled).

    Every enabled handler receives every reported error, in the order of
    ``[tool.kindling.error-handlers] order``. A handler that raises is logged and signalled
    (``errors.handler_failed``); it never masks the original error nor stops other handlers.

    Example::

        @hookimpl
        def kindling_error_handlers(settings):
            def handle(event):
                send_to_pager(settings["service"], f"{event.subject}: {event.error}")
            return [ErrorHandler(name="pager", description="page the on-call", handle=handle)]
    """


@hookspec
def kindling_settings_schema() -> Iterable[Setting]:
    """Declare this plugin's settings: the keys of ``[tool.kindling.settings.<plugin-id>]``.

    Return :class:`~kindling_core.plugin_settings.Setting` items (``from kindling_core.plugin
    import Setting``): ``Setting(name, type, description=..., default=None, choices=None,
    min=None, max=None, required=False)``, where ``type`` is ``bool``, ``int``, ``float``,
    ``str``, ``list`` or ``dict``. Called once per app, before any other hook of the plugin. The core
    then rejects an undeclared key with a did-you-mean naming its exact path
    (``tool.kindling.settings.acme.hot-tga``), checks every value's type, ``choices`` and
    bounds, reports a missing ``required`` key, fills in defaults, and passes the validated
    mapping as ``settings`` to every hook of this plugin (and to its strategies through
    ``StrategyInput.settings``). A bad value is a
    :class:`~kindling_core.errors.SettingsError` (a configuration error: it stops the app in
    lenient and strict mode alike, as any other bad key in ``[tool.kindling]`` does).

    Without this hook the plugin receives its table as written and validates it itself.
    Returning an empty list declares that the plugin has no settings (any key is then an
    error).

    Example::

        @hookimpl
        def kindling_settings_schema():
            return [Setting("hot-tag", str, default="hot", description="tag of entities to cache"),
                    Setting("min-rows", int, default=0, min=0, description="skip smaller entities")]
    """


@hookspec
def kindling_configure(config: KindlingConfig, settings: Mapping[str, Any], signals: SignalBus) -> None:
    """Configure a plugin for one app: connect signal receivers, check credentials.

    Called once per app and plugin, after every plugin's items are collected and checked and
    before the families are resolved, with the app's configuration, this plugin's settings
    and the app's signal bus, so an observer plugin can connect receivers
    (``signals.connect("pipe.after_run", receiver)``). ``kindling plugins check`` calls it too.

    Raising here fails the plugin (lenient) or aborts app creation (strict): the plugin is
    listed as ``failed`` with a :class:`~kindling_core.errors.PluginConfigureError`, none of
    its items is used, and the signal receivers it connected before raising are disconnected.
    Plugins are only ever registered while an app is created, so this is not a historic hook:
    there are no plugins registered later to call it for.

    Example::

        @hookimpl
        def kindling_configure(signals):
            signals.connect("pipe.after_run", lambda sender, payload: metrics.observe(payload.duration))
    """
