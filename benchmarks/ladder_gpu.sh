#!/usr/bin/env bash
# The one prepared GPU run (see benchmarks/ladder_gpu.py and benchmarks/README.md):
#   bash benchmarks/ladder_gpu.sh --prepare           # copy the reference into .gpu/ (git-ignored)
#   timeout 590 bash benchmarks/ladder_gpu.sh         # on an H100/H200, about 10 minutes
#   bash benchmarks/ladder_gpu.sh --dry-run           # rehearsal on a CPU, writes .gpu/dry-run/
set -uo pipefail
cd "$(dirname "$0")/.."
exec "${PYTHON:-python3}" benchmarks/ladder_gpu.py "$@"
