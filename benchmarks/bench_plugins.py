"""Plugin discovery and registry resolution with 50 installed fake plugins.

Each fake plugin is a real installed distribution (a ``*.dist-info`` folder with
``entry_points.txt`` in a temporary site folder on ``sys.path``) whose module registers one
error handler and one failure classifier. Measured in one process:

* baseline: ``importlib.metadata.entry_points(group="kindling")`` alone (what any
  entry-point-based system pays to find plugins);
* cold: the first ``load_plugins`` (discover, select, import 50 modules, register, collect,
  resolve), with the plugin modules byte-compiled as ``pip install`` leaves them and
  kindling-core's own modules already imported (an app imports them anyway; that one-time
  cost is printed separately);
* warm: later ``load_plugins`` calls (modules already imported: what a second app pays).

Target (issue 2): under 100 ms. Run: ``python benchmarks/bench_plugins.py``.
"""

from __future__ import annotations

import importlib.metadata as md
import statistics
import sys
import tempfile
import time
from pathlib import Path

N_PLUGINS = 50

MODULE = """
from kindling_core import ErrorHandler, FailureClassifier, hookimpl

@hookimpl
def kindling_error_handlers():
    return [ErrorHandler(name="bench-handler-{i}", description="bench", handle=lambda event: None)]

@hookimpl
def kindling_failure_classifiers():
    return [FailureClassifier(name="bench-classifier-{i}", description="bench", classify=lambda c: None)]
"""


def install(site: Path) -> None:
    for i in range(N_PLUGINS):
        (site / f"bench_plugin_{i}.py").write_text(MODULE.format(i=i))
        info = site / f"bench_plugin_{i}-1.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: bench-plugin-{i}\nVersion: 1.0\n")
        (info / "entry_points.txt").write_text(f"[kindling]\nbench-{i} = bench_plugin_{i}\n")


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


def main() -> None:
    import compileall

    started = time.perf_counter()
    from kindling_core.config import KindlingConfig
    from kindling_core.plugins import load_plugins
    from kindling_core.signal_catalog import core_signals

    core_signals()
    framework_import = time.perf_counter() - started

    with tempfile.TemporaryDirectory() as folder:
        site = Path(folder)
        install(site)
        compileall.compile_dir(str(site), quiet=1)  # what pip does at install time
        sys.path.insert(0, str(site))
        config = KindlingConfig()
        baseline = timed(lambda: md.entry_points(group="kindling"), 20)
        cold = timed(lambda: load_plugins(config), 1)[0]
        registry = load_plugins(config).registry
        assert len(registry.active_plugins) >= N_PLUGINS, registry.active_plugins
        assert len(registry.family("error-handlers").names()) >= N_PLUGINS
        warm = timed(lambda: load_plugins(config), 20)
    base = statistics.median(baseline)
    print(f"plugins installed: {N_PLUGINS} fake + built-ins ({len(registry.plugins)} total)")
    print(f"(one-time import of kindling-core's own modules, not counted below: {framework_import * 1e3:.1f} ms)")
    print(f"{'measurement':<44}{'ms':>10}{'x baseline':>12}")
    print(f"{'entry_points(group=kindling) [baseline]':<44}{base * 1e3:>10.2f}{1.0:>12.1f}")
    print(f"{'load_plugins cold (imports 50 modules)':<44}{cold * 1e3:>10.2f}{cold / base:>12.1f}")
    print(f"{'load_plugins warm (median of 20)':<44}{statistics.median(warm) * 1e3:>10.2f}{statistics.median(warm) / base:>12.1f}")
    print(f"target: < 100 ms -> {'met' if max(cold, statistics.median(warm)) < 0.1 else 'MISSED'}")


if __name__ == "__main__":
    main()
