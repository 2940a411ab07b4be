#!/usr/bin/env bash
# Install the pinned pyspark / delta-spark into a venv and fetch the Delta Lake jars.
#
#   scripts/setup-spark.sh [PYTHON]        # PYTHON defaults to .venv/bin/python
#
# Idempotent: does nothing for packages already at the pinned versions or jars already present.
# pyspark is published on PyPI only as a ~450 MB sdist; it is built into a wheel once and kept in
# $KINDLING_WHEEL_CACHE (default .cache/wheels), so later venvs install it in seconds.
# The jars go to $KINDLING_JARS_DIR (default .kindling/jars) via Maven (`mvn` must be on PATH).
# Pins live in kindling_core/spark/versions.py. The project itself (pip install -e .) must be
# installed in PYTHON before this runs, because the jar fetcher is kindling_core code.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PY="${1:-$ROOT/.venv/bin/python}"
WHEELS="${KINDLING_WHEEL_CACHE:-$ROOT/.cache/wheels}"

if [ ! -x "$PY" ]; then
    echo "setup-spark: no Python interpreter at $PY (create the venv first)" >&2
    exit 1
fi

# Read the pins without importing kindling_core (its dependencies may not be installed yet).
PINS="$("$PY" -c "
import runpy, sys
v = runpy.run_path(sys.argv[1])
print(v['PYSPARK_VERSION'], v['DELTA_SPARK_VERSION'])
" "$ROOT/kindling_core/spark/versions.py")"
read -r PYSPARK_V DELTA_V <<<"$PINS"

if "$PY" - "$PYSPARK_V" "$DELTA_V" <<'EOF' 2>/dev/null
import sys
from importlib.metadata import version
sys.exit(0 if (version("pyspark"), version("delta-spark")) == tuple(sys.argv[1:3]) else 1)
EOF
then
    echo "setup-spark: pyspark==$PYSPARK_V and delta-spark==$DELTA_V already installed"
else
    if ! "$PY" -m pip --version >/dev/null 2>&1; then
        echo "setup-spark: $PY has no pip (python -m ensurepip, or recreate the venv)" >&2
        exit 1
    fi
    mkdir -p "$WHEELS"
    if ! compgen -G "$WHEELS/pyspark-$PYSPARK_V-*.whl" >/dev/null; then
        echo "setup-spark: building the pyspark==$PYSPARK_V wheel into $WHEELS (once, ~40 s)"
        "$PY" -m pip wheel -q --wheel-dir "$WHEELS" "pyspark==$PYSPARK_V" "delta-spark==$DELTA_V"
    fi
    echo "setup-spark: installing pyspark==$PYSPARK_V delta-spark==$DELTA_V"
    "$PY" -m pip install -q --find-links "$WHEELS" "pyspark==$PYSPARK_V" "delta-spark==$DELTA_V"
fi

echo "setup-spark: Delta Lake jars"
cd "$ROOT"
PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" "$PY" -m kindling_core.spark.jars fetch
