#!/usr/bin/env bash
# Set up the course in ./.venv, check the environment, and start JupyterLab on notebooks/.
#   ./setup.sh            set up (or update), check, start JupyterLab
#   ./setup.sh --no-lab   set up and check only (what CI runs)
# PYTHON=python3.12 ./setup.sh picks the interpreter (Python >= 3.10).
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "setup.sh: the course needs Python >= 3.10; '$PY' is $("$PY" -V 2>&1 || echo missing)." >&2
  echo "          Run it with PYTHON=/path/to/python3.x ./setup.sh" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet -e ".[dev]"
.venv/bin/python -m course doctor
if [ "${1:-}" != "--no-lab" ] && [ "${CI:-}" != "true" ]; then
  extra=()
  [ "$(id -u)" = 0 ] && extra=(--allow-root)  # containers often run as root; JupyterLab refuses without this
  exec .venv/bin/jupyter lab "${extra[@]}" notebooks/
fi
