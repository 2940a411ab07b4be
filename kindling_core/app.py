"""The :class:`App`: one pipeline application's configuration, plugins, signals and pipes.

An app owns everything that would otherwise be global: its configuration, its plugin
registry (and pluggy manager), its signal bus, its error reporter, its declared entities and
pipes, its plan cache and (lazily) its Spark session. Two apps in one process never see each
other's plugins, receivers or pipes. Creating an app loads plugins; importing kindling_core
does nothing of the sort.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable, Mapping, Sequence
from os import PathLike
from typing import TYPE_CHECKING, Any

from kindling_core.config import KindlingConfig
from kindling_core.errorhandling import ErrorReporter
from kindling_core.errors import PluginConfigureError, PluginError
from kindling_core.overrides import CliOverrides, app_config, overrides_in_effect
from kindling_core.plugins import LoadedPlugins, Provided, Registry, load_plugins
from kindling_core.signal_catalog import core_signals
from kindling_core.signals import ReceiverFailure, SignalBus

if TYPE_CHECKING:  # pragma: no cover
    from kindling_core.execution import RunResult
    from kindling_core.items import FailureClassifier, RecoveryStrategy
    from kindling_core.model import Catalog, Entity
    from kindling_core.planning import ExecutionPlan, Planner
    from kindling_core.streaming.manager import StreamManager

__all__ = ["App"]

logger = logging.getLogger("kindling.app")


class App:
    """A kindling application.

    ``App()`` reads ``[tool.kindling]`` from the nearest ``pyproject.toml`` (or
    ``config_path``, or an explicit ``config``), applies environment overrides and keyword
    ``overrides``, then the ``kindling`` command line's options when ``load_app`` is importing
    the app's module (``--config`` replaces the file or ``config``), loads plugins and declares
    the core signals. ``plugins`` registers extra plugin objects by id (in-code plugins, tests).

    Keyword overrides are the keys of ``[tool.kindling]`` (dashes or underscores); a table is
    given as a dict merged into the configured one, checked by the same rules as the TOML.
    The ``[tool.kindling.plugins]`` table is ``plugins_config=`` (``plugins=`` takes plugin
    objects)::

        >>> app = App(
        ...     strategy="streaming",
        ...     plugins_config={"autoload": False},
        ...     execution={"on_failure": "skip-dependents", "timeout_seconds": 600},
        ... )
        >>> app.config.strategy, app.config.plugins.autoload, app.config.execution.on_failure
        ('streaming', False, 'skip_dependents')

    Raises :class:`~kindling_core.errors.ConfigError` for bad configuration and, in strict
    plugin mode, the first :class:`~kindling_core.errors.PluginError`.
    """

    def __init__(
        self,
        name: str = "kindling",
        *,
        config: KindlingConfig | None = None,
        config_path: str | PathLike[str] | None = None,
        plugins: Mapping[str, Any] | None = None,
        entry_points: Iterable[Any] | None = None,
        **overrides: Any,
    ) -> None:
        self.name = name
        #: The command line's options this app was built under (``None`` unless built while
        #: :func:`kindling_core.loading.load_app` imported its module); they take precedence
        #: over the file, the environment and ``overrides`` (see :mod:`kindling_core.overrides`).
        self.cli_overrides: CliOverrides | None = overrides_in_effect()
        self.config: KindlingConfig = app_config(config, config_path, overrides, self.cli_overrides)
        signals_config = self.config.signals
        self.signals = SignalBus(
            strict=signals_config.strict,
            propagate_receiver_errors=signals_config.propagate_receiver_errors,
            async_workers=signals_config.async_workers,
            async_queue_size=signals_config.async_queue_size,
            on_receiver_error=self._on_receiver_error,
            default_sender=self,
        )
        self.signals.declare_all(core_signals())
        self._plugins: LoadedPlugins = load_plugins(
            self.config, entry_points=entry_points, inline=plugins, signals=self.signals
        )
        if self.config.plugins.strict and self.registry.problems:
            raise self.registry.problems[0]
        self.errors = ErrorReporter(self.registry.family("error-handlers"), self.signals)
        #: The plugins whose ``kindling_configure`` raised (also in ``registry.problems``).
        self.configure_problems: tuple[PluginError, ...] = self._configure_problems()
        self._catalog: Catalog | None = None
        self._planner: Planner | None = None
        self._spark: Any = None
        self._streams: StreamManager | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_pyproject(cls, path: str | PathLike[str] | None = None, **kwargs: Any) -> App:
        """An app configured from ``path`` or the nearest ``pyproject.toml``."""
        return cls(config_path=path, **kwargs)

    def _on_receiver_error(self, failure: ReceiverFailure) -> None:
        self.errors.report(
            failure.error,
            source="signal-receiver",
            subject=failure.receiver,
            signal=failure.signal,
            asynchronous=failure.async_,
        )

    def _configure_problems(self) -> tuple[PluginError, ...]:
        """The plugins whose ``kindling_configure`` raised, each given to the error handlers
        (source ``plugin``, subject the plugin id). The loader configured every plugin; such a
        plugin is a failed record in the registry, its error in ``registry.problems``.
        """
        problems = tuple(p for p in self.registry.problems if isinstance(p, PluginConfigureError))
        for problem in problems:
            self.errors.report(problem, source="plugin", subject=problem.plugin or "")
        return problems

    # ------------------------------------------------------------------ accessors

    @property
    def registry(self) -> Registry:
        """The resolved, immutable plugin registry."""
        return self._plugins.registry

    @property
    def plugin_manager(self) -> Any:
        """This app's pluggy ``PluginManager`` (for advanced use; prefer the registry)."""
        return self._plugins.manager

    @property
    def catalog(self) -> Catalog:
        """The entities and pipes declared on this app."""
        if self._catalog is None:
            from kindling_core.model import Catalog

            self._catalog = Catalog()
        return self._catalog

    @property
    def planner(self) -> Planner:
        """The planner (with its plan cache) of this app.

        Its size provider (for the cache heuristics' ``min-size-mb``) is a
        :class:`~kindling_core.spark.sizes.DeltaSizeProvider`: Delta tables' sizes from their
        ``_delta_log``, never starting Spark; replace it with ``app.planner.size_provider = fn``.
        """
        if self._planner is None:
            from kindling_core.planning import Planner
            from kindling_core.spark.sizes import DeltaSizeProvider, active_session

            entities = self.catalog.entities  # a live read-only view: made once, not per lookup
            sizes = DeltaSizeProvider(
                lambda: entities,
                root=self.config.root,
                session=lambda: self._spark if self._spark is not None else active_session(),
            )
            self._planner = Planner(
                config=self.config, registry=self.registry, signals=self.signals, size_provider=sizes, errors=self.errors
            )
        return self._planner

    # ------------------------------------------------------------------ declarations

    def entity(self, entity_id: str, **fields: Any) -> Entity:
        """Declare an entity (a Delta table by default); see :class:`kindling_core.model.Entity`."""
        return self.catalog.add_entity(entity_id, **fields)

    def pipe(
        self,
        pipe_id: str,
        *,
        inputs: Sequence[str],
        output: str,
        mode: str = "batch",
        dimensions: Sequence[str] = (),
        **fields: Any,
    ) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
        """Decorator declaring a pipe; the function receives the inputs' DataFrames in order.

        The decorated function is returned unchanged (still callable directly in tests).
        """

        def register(func: Callable[..., Any]) -> Callable[..., Any]:
            add_pipe = self.catalog.add_pipe
            if fields:
                add_pipe(pipe_id, func=func, inputs=inputs, output=output, mode=mode, dimensions=dimensions, **fields)
            else:  # no ``**`` splat: its dict merge is measurable when declaring 100,000 pipes
                add_pipe(pipe_id, func=func, inputs=inputs, output=output, mode=mode, dimensions=dimensions)
            return func

        return register

    # ------------------------------------------------------------------ planning

    def plan(self, strategy: str | None = None, pipes: Sequence[str] | None = None) -> ExecutionPlan:
        """Plan the declared pipes (all, or ``pipes`` and what they need) with a strategy."""
        return self.planner.plan(self.catalog, strategy=strategy, pipes=pipes)

    # ------------------------------------------------------------------ running

    @property
    def spark(self) -> Any:
        """The SparkSession this app runs on (created on first use; see ``[tool.kindling.spark]``).

        The active session is reused when there is one (Databricks, Fabric, Synapse,
        notebooks); ``SPARK_REMOTE`` / ``spark.remote`` selects Spark Connect; otherwise a
        local session with Delta Lake is built.
        """
        if self._spark is None:
            from kindling_core.spark.session import SparkSettings, get_or_create_session

            spark_config = self.config.spark
            warehouse = spark_config.warehouse_dir
            # Delta jars: $KINDLING_JARS_DIR, else this project's .kindling/jars (fetched on
            # first use when missing).
            jars = None if os.environ.get("KINDLING_JARS_DIR") else self.config.root / ".kindling" / "jars"
            self._spark = get_or_create_session(
                SparkSettings(
                    master=spark_config.master,
                    app_name=spark_config.app_name,
                    remote=spark_config.remote or None,
                    shuffle_partitions=spark_config.shuffle_partitions,
                    extra_conf={"spark.log.level": spark_config.log_level, **spark_config.conf},
                    warehouse_dir=str(self.config.root / warehouse) if warehouse else None,
                    jars_dir=jars,
                    # spark.sql.streaming.stopTimeout: a stop never blocks forever
                    stop_timeout=f"{round(self.config.streaming.stop_timeout_seconds * 1000)}ms",
                )
            )
        return self._spark

    @property
    def streams(self) -> StreamManager:
        """The :class:`~kindling_core.streaming.manager.StreamManager` of this app's long-running
        streaming queries (created on first use; it starts nothing by itself): ``app.streams.start()``,
        ``.status()``, ``.stop()``. It runs on :attr:`spark`; :meth:`close` stops its queries."""
        if self._streams is None:
            from kindling_core.streaming.manager import StreamManager

            def spark_driver() -> Any:
                from kindling_core.spark.streams import SparkStreamDriver

                return SparkStreamDriver(self.spark, root=self.config.root)

            def spark_watcher(app: App, *, on_change: Any) -> Any:
                from kindling_core.spark.dimensions import dimension_watcher

                return dimension_watcher(app, on_change=on_change)

            self._streams = StreamManager(self, driver_factory=spark_driver, watcher_factory=spark_watcher)
        return self._streams

    def failure_classifiers(self) -> tuple[Provided[FailureClassifier], ...]:
        """The failure-classifier chain every failure goes through, batch pipes in :meth:`run`
        and streaming queries in :attr:`streams` alike: the active classifiers in effective
        order (``[tool.kindling.failure-classifiers]``: the ``patterns`` classifier first when
        patterns are configured, ``order``, ``disable``, ``generic`` last), each with the
        plugin that provided it, as :func:`~kindling_core.recovery.classify_failure` takes them."""
        return self.registry.family("failure-classifiers").attributed()

    def recovery_strategies(self) -> tuple[Provided[RecoveryStrategy], ...]:
        """The recovery-strategy chain every classified failure goes through, batch pipes in
        :meth:`run` and streaming queries in :attr:`streams` alike: the active strategies in
        effective order (``[tool.kindling.recovery]`` ``order`` and ``disable``), each with the
        plugin that provided it, as :func:`~kindling_core.recovery.decide_recovery` takes them."""
        return self.registry.family("recovery-strategies").attributed()

    def use_spark(self, spark: Any) -> App:
        """Run on ``spark`` instead of creating a session (returns the app, for chaining)."""
        self._spark = spark
        return self

    def run(
        self,
        strategy: str | None = None,
        pipes: Sequence[str] | None = None,
        *,
        on_failure: str | None = None,
        dry_run: bool = False,
        timeout_seconds: float | None = None,
        max_retries: int | None = None,
        concurrency: int | None = None,
        runner: Any = None,
    ) -> RunResult:
        """Plan, then run the plan generation by generation; return every pipe's outcome.

        The run is bounded: streaming pipes process what is available (``availableNow``) and
        stop, and every pipe runs after the planned pipes it reads
        (:meth:`ExecutionPlan.for_bounded_run <kindling_core.planning.ExecutionPlan.for_bounded_run>`),
        so a stream sees its upstream's new output in the same run, whatever the strategy.

        ``on_failure``: ``fail_fast`` | ``continue`` | ``skip_dependents`` (default from
        ``[tool.kindling.execution]``). ``dry_run`` plans, checks the planned pipes'
        declarations (:func:`kindling_core.model.check_pipes`; problems raise
        :class:`~kindling_core.model.RunCheckError`), writes nothing, and does not start Spark.
        ``concurrency`` (opt-in, default 1 = sequential) runs up to that many independent
        pipes of a generation at once (see ``docs/design/concurrency.md``).
        ``runner`` replaces the Spark pipe runner (tests, other engines).
        Ctrl-C cancels the running pipe's Spark jobs and raises
        :class:`~kindling_core.execution.RunInterrupted` carrying the partial result.
        """
        from kindling_core.config import with_arguments
        from kindling_core.execution import ExecutorSettings, GenerationExecutor

        # the arguments override [tool.kindling.execution], checked by the same rules (a bad
        # one is a ConfigError naming it, e.g. app.run(timeout_seconds=...))
        execution = with_arguments(
            self.config,
            "app.run",
            "execution",
            on_failure=on_failure,
            timeout_seconds=timeout_seconds,
            max_retries=max_retries,
            concurrency=concurrency,
        ).execution
        settings = ExecutorSettings.from_config(execution, self.config.recovery)
        plan = self.plan(strategy=strategy, pipes=pipes).for_bounded_run()
        declared = self.catalog.pipes
        if not dry_run:
            self._refuse_pipes_streaming_now(plan.pipes)
        if dry_run:  # what would certainly fail at run time (RunCheckError)
            from kindling_core.model import check_pipes

            check_pipes((declared[p] for p in plan.pipes), self.catalog.entities).raise_for_problems()
        graph = plan.graph
        if graph is None:  # plans built outside a planner carry no graph
            from kindling_core.planning import PipeGraph

            graph = PipeGraph.from_pipes(declared[pipe_id] for pipe_id in plan.pipes)
        if runner is None and not dry_run:
            from kindling_core.spark.runner import SparkPipeRunner

            runner = SparkPipeRunner(
                self.spark,
                self.catalog.entities,
                root=self.config.root,
                checkpoint_base=self.config.streaming.checkpoint_base,
            )
        executor = GenerationExecutor(
            runner=runner,
            signals=self.signals,
            errors=self.errors,
            classifiers=self.failure_classifiers(),
            strategies=self.recovery_strategies(),
        )
        return executor.run(plan, declared, settings, dry_run=dry_run, downstream=graph.descendants)

    def _refuse_pipes_streaming_now(self, planned: Sequence[str]) -> None:
        """Raise :class:`~kindling_core.streaming.errors.StreamBusyError` when ``app.streams``
        runs one of the ``planned`` pipes: a bounded run would reuse its checkpoint."""
        if self._streams is None:
            return
        wanted = set(planned)
        busy = sorted(s.pipe for s in self._streams.status().values() if s.pipe in wanted and s.active)
        if busy:
            from kindling_core.streaming.errors import StreamBusyError

            shown = ", ".join(repr(p) for p in busy)
            raise StreamBusyError(
                f"app.run would run {shown} bounded while app.streams runs {'it' if len(busy) == 1 else 'them'} "
                "long-running; both use the pipe's one checkpoint and Spark would stop the running query",
                query=busy[0],
                remedy=f"stop {'it' if len(busy) == 1 else 'them'} first (app.streams.stop({busy!r})), "
                "or leave the streaming pipes out of this run (app.run(pipes=[...]))",
            )

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Release what the app started: its streaming queries (stopped within the stop
        timeout, see :meth:`StreamManager.close <kindling_core.streaming.manager.StreamManager.close>`)
        and the async signal pool. The Spark session is not stopped."""
        if self._streams is not None:
            self._streams.close()
        self.signals.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        active = ", ".join(r.id for r in self.registry.active_plugins)
        return f"<App {self.name!r} plugins=[{active}]>"
