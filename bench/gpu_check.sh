#!/usr/bin/env bash
# The whole check on a CUDA machine, in one command from the repository root: the tests on CUDA,
# then every benchmark with --device cuda, their JSON into one folder.
#
#   bash bench/gpu_check.sh [RESULTS_DIR]      # default: $OUT, else bench/results/cuda-<date>
#
# A machine without network access needs the packages its image lacks as wheels in .whl/
# (mujoco, gymnasium, minari, tyro, ...; fla-core and einops for the Triton scan); they are
# installed from there, never downloaded. Without fla-core the minimal RNNs use the chunked scan.
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
from agents.fla_scan import fla_available
if not torch.cuda.is_available():
    sys.exit("gpu_check: no CUDA device is available")
print("torch", torch.__version__, torch.cuda.get_device_name())
print("minGRU/minLSTM scan on CUDA:", "triton (fla-core)" if fla_available() else "chunked")
PY

failed=()
step() {  # step NAME COMMAND...: run it, append its output to the log, go on if it fails
  local name=$1
  shift
  echo "== $name: $*" | tee -a "$log"
  "$@" 2>&1 | tee -a "$log" || failed+=("$name")
}
step tests python3 -m pytest --device cuda -q
step layers-d128 python3 bench/backbone_layers.py --device cuda --d-model 128 \
  --json "$results/backbone_layers-cuda-d128.json"
step layers-d512 python3 bench/backbone_layers.py --device cuda --d-model 512 \
  --json "$results/backbone_layers-cuda-d512.json"
step train-step python3 bench/train_step.py --device cuda --json "$results/train_step-cuda.json"
step train-step-compiled python3 bench/train_step.py --device cuda --compile \
  --json "$results/train_step-cuda-compile.json"
step rollout python3 bench/rollout.py --device cuda --json "$results/rollout-cuda.json"

echo "results in $results (JSON of each benchmark, gpu_check.log)"
if ((${#failed[@]})); then
  echo "failed: ${failed[*]}"
  exit 1
fi
