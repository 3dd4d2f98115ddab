#!/usr/bin/env bash
# Set up the course in ./.venv, check the environment, and start JupyterLab on notebooks/.
#   ./setup.sh            set up (or update) with the known-good versions of constraints.txt, check, start JupyterLab
#   ./setup.sh --no-lab   set up and check only (what CI runs)
#   ./setup.sh --latest   the newest releases pyproject.toml allows instead of constraints.txt
#                         (to run the suite against next year's libraries; combine with --no-lab)
# PYTHON=python3.12 ./setup.sh picks the interpreter (Python >= 3.10).
# Without bash (Windows): python -m course setup  (the same steps, see course/install.py).
set -euo pipefail
cd "$(dirname "$0")"
lab=1 latest=0
for arg in "$@"; do
  case "$arg" in
    --no-lab) lab=0 ;;
    --latest) latest=1 ;;
    *) echo "setup.sh: unknown option '$arg' (use --no-lab, --latest)" >&2; exit 2 ;;
  esac
done
PY=${PYTHON:-python3}
if ! "$PY" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "setup.sh: the course needs Python >= 3.10; '$PY' is $("$PY" -V 2>&1 || echo missing)." >&2
  echo "          Run it with PYTHON=/path/to/python3.x ./setup.sh" >&2
  exit 1
fi
[ -x .venv/bin/python ] || "$PY" -m venv .venv
if [ "$latest" = 1 ]; then
  .venv/bin/python -m pip install --quiet --upgrade --upgrade-strategy eager -e ".[dev]"
else
  .venv/bin/python -m pip install --quiet -e ".[dev]" -c constraints.txt
fi
.venv/bin/python -m course doctor
if [ "$lab" = 1 ] && [ "${CI:-}" != "true" ]; then
  extra=()
  [ "$(id -u)" = 0 ] && extra=(--allow-root)  # containers often run as root; JupyterLab refuses without this
  exec .venv/bin/jupyter lab ${extra[@]+"${extra[@]}"} notebooks/  # (the form macOS's bash 3.2 accepts)
fi
