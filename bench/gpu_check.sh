#!/usr/bin/env bash
# The whole check on a CUDA machine, in one command from the repository root, within 10 minutes:
# the tests on CUDA (the Triton kernels' among them), then the benchmarks with --device cuda,
# their JSON into one folder. Each step has a time limit, and all of them a common deadline.
#
#   bash bench/gpu_check.sh [RESULTS_DIR]      # default: $OUT, else bench/results/cuda-<date>
#
# A machine without network access needs the packages its image lacks as wheels in .whl/
# (mujoco, gymnasium, minari, tyro, ...; triton, fla-core and einops for the Triton scans); they
# are installed from there, never downloaded. Without them the scans fall back to torch's.
set -uo pipefail
results=${1:-${OUT:-bench/results/cuda-$(date -u +%Y-%m-%d)}}
mkdir -p "$results"
export PYTHONUNBUFFERED=1 MUJOCO_GL=egl
if compgen -G ".whl/*.whl" >/dev/null; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
    --target /tmp/site .whl/*.whl || exit 1
  export PYTHONPATH=/tmp/site${PYTHONPATH:+:$PYTHONPATH}
fi
log=$results/gpu_check.log
python3 - <<'PY' | tee "$log" || exit 2
import sys
import torch
from agents.kernels.available import fla_imports, triton_imports
if not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA device is available")
print("torch", torch.__version__, torch.cuda.get_device_name())
print("minGRU/minLSTM scan on CUDA:", "triton (fla-core)" if fla_imports() else "torch")
print("Mamba scan on CUDA:", "triton" if triton_imports() else "torch")
PY

deadline=$((SECONDS + 570))
failed=()
step() {  # step NAME SECONDS COMMAND...: run it (at most SECONDS, and not past the deadline),
  local name=$1 limit=$2 # append its output to the log, go on if it fails
  shift 2
  local left=$((deadline - SECONDS))
  ((left < limit)) && limit=$left
  if ((limit < 10)); then
    echo "== $name: skipped, no time left" | tee -a "$log"
    failed+=("$name")
    return
  fi
  echo "== $name (at most ${limit}s): $*" | tee -a "$log"
  timeout "$limit" "$@" 2>&1 | tee -a "$log" || failed+=("$name")
}
step tests 150 python3 -m pytest --device cuda -q
step triton-tests 90 python3 -m pytest --device cuda -q -m triton
step layers-d128 90 python3 bench/backbone_layers.py --device cuda --d-model 128 \
  --json "$results/backbone_layers-cuda-d128.json"
step train-step 120 python3 bench/train_step.py --device cuda --json "$results/train_step-cuda.json"
step layers-d512 60 python3 bench/backbone_layers.py --device cuda --d-model 512 \
  --lengths 64 256 1024 --json "$results/backbone_layers-cuda-d512.json"
step train-step-compiled 90 python3 bench/train_step.py --device cuda --compile \
  --backbones min-gru transformer --json "$results/train_step-cuda-compile.json"
step rollout 40 python3 bench/rollout.py --device cuda --json "$results/rollout-cuda.json"

echo "results in $results (JSON of each benchmark, gpu_check.log)"
if ((${#failed[@]})); then
  echo "failed: ${failed[*]}"
  exit 1
fi
