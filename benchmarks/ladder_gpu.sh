#!/usr/bin/env bash
# The GPU speedup ladder in one call: GPT-2 124M, micro-batch 16, T=1024, every rung of
# `python -m course ladder --profile gpt2` (fp32 -> TF32 -> bf16 -> compile -> flash ->
# vocab 50304 -> fused AdamW) and the beyond rungs (gradient accumulation to 2^19 tokens,
# micro-batch 64, cuDNN attention, max-autotune), on the first CUDA GPU.
#
#   bash benchmarks/ladder_gpu.sh [OUT_DIR] [extra `python -m course ladder` options]
#
# OUT_DIR defaults to $OUT if set, else benchmarks/results. It receives
# ladder-<gpu>.json / .csv / .png (e.g. ladder-h100.*) and ladder-<gpu>.log.
# Sized for about 5 minutes on an H100, compiles included: no rung starts after
# LADDER_TIME_LIMIT seconds (default 240) and the run is stopped after LADDER_TIMEOUT
# seconds (default 330). The record is rewritten after every rung, so a stopped run keeps
# every rung it finished (its JSON says "complete": false). Runs from a plain checkout
# (no install): it needs torch, numpy, tiktoken and matplotlib.
set -uo pipefail
cd "$(dirname "$0")/.."
out_dir=${OUT:-benchmarks/results}
if [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; then out_dir=$1; shift; fi
mkdir -p "$out_dir"
py=${PYTHON:-python3}
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
# A fresh compile cache, so the first-step times in the record are cold compiles.
TORCHINDUCTOR_CACHE_DIR=$(mktemp -d)
export TORCHINDUCTOR_CACHE_DIR

slug=$("$py" -c 'from course.ladder import device_slug, hardware_info; print(device_slug(hardware_info("cuda")))') || {
    echo "no CUDA GPU that torch can use: nothing to measure" >&2
    exit 2
}
log="$out_dir/ladder-$slug.log"
{
    echo "== $(date -u +%FT%TZ) ladder_gpu.sh on $(hostname)"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit --format=csv,noheader || true
    "$py" -c 'import sys, torch; print("python", sys.version.split()[0], "| torch", torch.__version__, "| cuda", torch.version.cuda, "|", torch.cuda.get_device_name())'
} 2>&1 | tee "$log"

timeout -s TERM -k 30 "${LADDER_TIMEOUT:-330}" \
    "$py" -m course ladder --profile gpt2 --device cuda --measure-hardware \
    --time-limit "${LADDER_TIME_LIMIT:-240}" --out "$out_dir" --name "ladder-$slug" "$@" 2>&1 | tee -a "$log"
rc=${PIPESTATUS[0]}
echo "== exit code $rc (0: every rung done; 124: stopped at the time limit, finished rungs kept)" | tee -a "$log"
ls -l "$out_dir"/ladder-"$slug".* | tee -a "$log"
exit "$rc"
