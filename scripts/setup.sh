#!/usr/bin/env bash
# Create .venv with pinned dependencies (torch first, CPU build) and install the project.
# Idempotent: does nothing when requirements.lock and pyproject.toml are unchanged since the last run.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
    echo "error: Python 3.11 or newer is needed (found: $("$PYTHON" --version 2>&1)); set PYTHON=/path/to/python3.11" >&2
    exit 1
fi

stamp=.venv/.setup-stamp
want=$(cat requirements.lock pyproject.toml | sha256sum | cut -d' ' -f1)
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x .venv/bin/rag ]; then
    exit 0
fi

[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
pip=".venv/bin/python -m pip --disable-pip-version-check -q"
echo "setup: installing torch==2.13.0 (CPU build) ..."
$pip install torch==2.13.0
echo "setup: installing pinned dependencies from requirements.lock ..."
$pip install -r requirements.lock
$pip install --no-deps -e .
echo "$want" > "$stamp"
echo "setup: done (.venv)"
