#!/bin/bash
# The GPU checks of this package in one device call (about 9 minutes on a 16-core H200 machine):
# the CUDA tests (slow ones included) and the closed-loop benchmark's GPU rows, side by side on separate
# cores (tests on 8-15, benchmark on 0-7), everything written to $OUT (at most 8 files come back).
#
# Before the call, here:
#   bash benchmarks/gpu/fetch_wheels.sh
#   results/ (about 95 MB) is over the 64 MiB a call may carry: run from a branch without it, e.g.
#   git checkout -b gpu-slim && git rm -rq --cached results && rm -rf results && git commit -qm slim
#   (and `git checkout main && git branch -D gpu-slim` after).
# The call:  run(command="BUDGET=540 bash benchmarks/gpu/device_check.sh", carry=[".whl"], timeout_s=590)
T0=$(date +%s); END=$((T0 + ${BUDGET:-540}))
left() { echo $((END - $(date +%s))); }
cd "$(dirname "$0")/../.."
exec > >(tee $OUT/main.log) 2>&1
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl || exit 3
export PYTHONPATH=$PWD:/tmp/site PYTHONUNBUFFERED=1 PDLF_BRIAN_CACHE=$PWD/.brian_cache
# the package's layout without installing it: pdlf_brian.{models,protocols,analysis} live at the root
for d in models protocols analysis; do ln -sfn ../$d pdlf_brian/$d; done
nvidia-smi -L; nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv
nproc; nvcc --version | tail -1
python3 -c "
import numpy, brian2, mujoco, gymnasium
from pdlf_brian.protocols import problem_for
from pdlf_brian.cuda import find_cuda_toolkit, find_curand, gpu_available
print('numpy', numpy.__version__, 'brian2', brian2.__version__, 'mujoco', mujoco.__version__)
print('toolkit', find_cuda_toolkit(), 'curand', find_curand(), 'gpu', gpu_available())
" 2>&1 | grep -v "Warning\|^  \|warn" || exit 4
PIN_T=""; PIN_B=""
if command -v taskset >/dev/null; then PIN_T="taskset -c 8-15"; PIN_B="taskset -c 0-7"; fi
( $PIN_T timeout $(( $(left) - 10 )) python3 -m pytest -p no:cacheprovider -m cuda_standalone \
    tests/test_cuda_closed_loop.py tests/test_cuda_build.py -n 6 -v -rA --junitxml=$OUT/cuda_tests.xml \
    > $OUT/cuda_tests.log 2>&1; echo "tests rc $? after $(( $(date +%s) - T0 )) s" >> $OUT/cuda_tests.log ) &
TESTS=$!
bench() { local name=$1; shift; local t=$(( $(left) - 15 )); [ $t -lt 30 ] && { echo "skip $name"; return; }
  $PIN_B timeout $t python3 benchmarks/closed_loop.py --no-gym --no-profile --nthread 2 --out $OUT/$name.json "$@" 2>&1 \
    | grep -v "Warning\|warn(\|^  "; echo "$name rc ${PIPESTATUS[0]} after $(( $(date +%s) - T0 )) s"; }
bench closed_loop_gpu_P64_ant --families ant_dir --populations 64 --repeats 2 --loops numpy cpp_standalone cuda_standalone
bench closed_loop_gpu_P64_hc --families halfcheetah_vel --populations 64 --repeats 2 --loops numpy cuda_standalone
bench closed_loop_gpu_P16_256 --families ant_dir halfcheetah_vel --populations 16 256 --episode-steps-256 100 --repeats 2 --loops numpy cuda_standalone
wait $TESTS
grep -E "PASSED|FAILED|ERROR|passed|failed|rc " $OUT/cuda_tests.log | tail -20
echo "all done after $(( $(date +%s) - T0 )) s"
sleep 1
