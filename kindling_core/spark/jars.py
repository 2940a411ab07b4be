"""Locate and fetch the Delta Lake jars into a project-local folder.

The jars listed in :data:`kindling_core.spark.versions.DELTA_MAVEN_COORDINATES` are copied
once, by Maven, into ``<project root>/.kindling/jars`` (or ``$KINDLING_JARS_DIR``); Spark
sessions then load them through ``spark.jars``. After that one fetch no network access is
needed, so test runs are offline and deterministic (no Ivy resolution at session start).

Command line::

    python -m kindling_core.spark.jars fetch [--dest DIR]   # fetch if needed, print jar paths
    python -m kindling_core.spark.jars check [--dest DIR]   # exit 1 and list what is missing
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from xml.sax.saxutils import escape

from kindling_core.spark.errors import DeltaJarsMissingError, SparkSetupError
from kindling_core.spark.versions import (
    DELTA_MAVEN_COORDINATES,
    DELTA_SPARK_ARTIFACT,
    jar_file_name,
)

__all__ = [
    "JARS_DIR_ENV",
    "FETCH_COMMAND",
    "default_jars_dir",
    "find_project_root",
    "delta_jar_paths",
    "missing_delta_jars",
    "ensure_delta_jars",
    "main",
]

JARS_DIR_ENV = "KINDLING_JARS_DIR"
"""Environment variable that overrides where the jars live."""

FETCH_COMMAND = "python -m kindling_core.spark.jars fetch"
"""The command that fetches the jars; quoted in error messages."""

_MVN_TIMEOUT_SECONDS = 900


def find_project_root(start: Path | None = None) -> Path | None:
    """Return the nearest directory at or above ``start`` (default: cwd) with a pyproject.toml."""
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "pyproject.toml").is_file():
            return candidate
    return None


def default_jars_dir() -> Path:
    """Return where the Delta jars are kept when no explicit folder is given.

    Order: ``$KINDLING_JARS_DIR``; ``<project root>/.kindling/jars`` where the project root is
    the nearest ancestor of the cwd with a ``pyproject.toml``; otherwise the per-user cache
    ``${XDG_CACHE_HOME:-~/.cache}/kindling/jars``.
    """
    override = os.environ.get(JARS_DIR_ENV)
    if override:
        return Path(override).expanduser()
    root = find_project_root()
    if root is not None:
        return root / ".kindling" / "jars"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "kindling" / "jars"


def delta_jar_paths(dest: Path | None = None) -> list[Path]:
    """Return the expected jar paths in ``dest`` (present or not), in coordinate order."""
    folder = dest if dest is not None else default_jars_dir()
    return [folder / jar_file_name(c) for c in DELTA_MAVEN_COORDINATES]


def missing_delta_jars(dest: Path | None = None) -> tuple[str, ...]:
    """Return the Maven coordinates whose jar is absent (or empty) in ``dest``."""
    paths = delta_jar_paths(dest)
    return tuple(
        coord
        for coord, path in zip(DELTA_MAVEN_COORDINATES, paths, strict=True)
        if not (path.is_file() and path.stat().st_size > 0)
    )


def ensure_delta_jars(dest: Path | None = None) -> list[Path]:
    """Make sure every Delta jar is in ``dest`` and return their paths in coordinate order.

    Idempotent: when all jars are present nothing is run (no network, no Maven). Otherwise the
    missing ones are fetched with ``mvn dependency:copy-dependencies`` (non-transitive, strict
    checksums, honouring the user's ``~/.m2/settings.xml``) into a staging folder and moved into
    ``dest``, so a half-finished download never looks complete.

    Raises :class:`DeltaJarsMissingError` naming every missing artifact when Maven is not on
    ``PATH`` or the download fails.
    """
    folder = (dest if dest is not None else default_jars_dir()).expanduser()
    missing = missing_delta_jars(folder)
    if not missing:
        return delta_jar_paths(folder)

    mvn = shutil.which("mvn")
    if mvn is None:
        raise DeltaJarsMissingError(
            f"Delta Lake jar(s) missing from {folder}: {', '.join(missing)}; "
            "Maven (`mvn`) is not on PATH, so they cannot be fetched.",
            missing=missing,
            jars_dir=str(folder),
            culprit=missing[0],
            remedy=_remedy(folder, need_mvn=True),
        )

    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=folder) as tmp:
        staging = Path(tmp)
        (staging / "pom.xml").write_text(_pom(missing), encoding="utf-8")
        cmd = [
            mvn,
            "-q",
            "-B",
            "-C",  # fail on checksum mismatch
            "-f",
            str(staging / "pom.xml"),
            "dependency:copy-dependencies",
            "-DincludeScope=runtime",
            f"-DoutputDirectory={staging / 'out'}",
        ]
        try:
            proc = subprocess.run(
                cmd, capture_output=True, text=True, timeout=_MVN_TIMEOUT_SECONDS, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise _fetch_failed(folder, missing, str(exc)) from exc
        if proc.returncode != 0:
            raise _fetch_failed(folder, missing, (proc.stdout + proc.stderr).strip())
        for coord in missing:
            fetched = staging / "out" / jar_file_name(coord)
            if fetched.is_file():
                os.replace(fetched, folder / jar_file_name(coord))

    still = missing_delta_jars(folder)
    if still:
        raise _fetch_failed(folder, still, "Maven finished but did not produce these jars.")
    return delta_jar_paths(folder)


def _remedy(folder: Path, *, need_mvn: bool = False) -> str:
    prefix = "install Maven (e.g. `apt-get install maven`) and " if need_mvn else ""
    return (
        f"{prefix}run `{FETCH_COMMAND}` (or scripts/setup-spark.sh) with network access to "
        f"Maven Central, or copy the jars into {folder} (or point ${JARS_DIR_ENV} at a folder "
        f"holding them), or let Spark resolve them with Ivy by setting "
        f"spark.jars.packages={DELTA_SPARK_ARTIFACT} in SparkSettings.extra_conf"
    )


def _fetch_failed(folder: Path, missing: Sequence[str], detail: str) -> DeltaJarsMissingError:
    tail = "\n".join(detail.splitlines()[-15:])
    return DeltaJarsMissingError(
        f"could not fetch Delta Lake jar(s) into {folder}: {', '.join(missing)}.\n"
        f"Maven said:\n{tail}",
        missing=tuple(missing),
        jars_dir=str(folder),
        culprit=missing[0],
        remedy=_remedy(folder),
    )


def _pom(coordinates: Sequence[str]) -> str:
    """A throwaway POM depending on each coordinate with all transitive dependencies excluded."""
    deps = []
    for coord in coordinates:
        group, artifact, version = (escape(p) for p in coord.split(":"))
        deps.append(
            f"    <dependency><groupId>{group}</groupId><artifactId>{artifact}</artifactId>"
            f"<version>{version}</version><exclusions><exclusion><groupId>*</groupId>"
            f"<artifactId>*</artifactId></exclusion></exclusions></dependency>"
        )
    return (
        '<project xmlns="http://maven.apache.org/POM/4.0.0">\n'
        "  <modelVersion>4.0.0</modelVersion>\n"
        "  <groupId>kindling.local</groupId><artifactId>delta-jars</artifactId>"
        "<version>0</version><packaging>pom</packaging>\n"
        "  <dependencies>\n" + "\n".join(deps) + "\n  </dependencies>\n</project>\n"
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point; see the module docstring."""
    parser = argparse.ArgumentParser(
        prog="python -m kindling_core.spark.jars", description="Fetch or check the Delta Lake jars."
    )
    parser.add_argument("command", choices=("fetch", "check"))
    parser.add_argument(
        "--dest",
        type=Path,
        default=None,
        help=f"jar folder (default: ${JARS_DIR_ENV} or <project>/.kindling/jars)",
    )
    args = parser.parse_args(argv)
    folder = args.dest if args.dest is not None else default_jars_dir()
    if args.command == "check":
        missing = missing_delta_jars(folder)
        for coord in missing:
            print(f"missing: {coord}", file=sys.stderr)
        if missing:
            return 1
        paths = delta_jar_paths(folder)
    else:
        try:
            paths = ensure_delta_jars(folder)
        except SparkSetupError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 1
    for path in paths:
        print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
