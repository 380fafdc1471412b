#!/usr/bin/env bash
# THE prepared GPU check of the CUDA backend (docs/cuda.md). Run from the repo root on the GPU
# machine after scripts/device/pack_cuda.sh made .device/ on the CPU machine (carry ".device"):
#   bash scripts/device/check_cuda.sh
# Stages, each with its own log and a line in $OUT/summary.txt written as soon as it ends (a
# timeout still leaves what finished); stages are skipped once the budget would be exceeded:
#   env        GPU, driver, nvcc, PyTorch, compute-sanitizer
#   unpack     node + the carried addon; refuses an addon built from other sources
#   build      nvcc compiles every native/src/cuda file for sm_90 on this machine (register and
#              spill report in build.log) into libtelechat_cuda.so for the PyTorch checks
#   libs       the cuBLAS and NCCL loaders find the libraries of PyTorch's Python packages
#   vs_cpu     every op of the CUDA backend vs the CPU backend (cuda_vs_cpu.jsonl)
#   nccl       the NCCL communicator at world size 1: every collective x dtype x length, ordering
#              with compute, async overlap, timeout and abort (nccl.jsonl)
#   train      50 steps of the tiny model, telechat-train --device cuda (bf16, ZeRO-3 over NCCL at
#              world size 1) vs the CPU in fp32: losses within 1e-2; then resume (train_vs_cpu.jsonl)
#   lora       LoRA (r 8, all-linear, ZeRO-3 bf16) on the GPU vs the CPU in fp32: losses within 1e-2,
#              adapter/ + merged final/, resume, telechat-export merge (lora_vs_cpu.jsonl)
#   attention  FA2 sweep vs PyTorch: error vs fp32 <= 2x / 3x PyTorch's bf16 error (attention_sweep.jsonl)
#   memcheck   compute-sanitizer memcheck over the attention kernels (small cases)
#   train_bench  training step of a ~1.1B TeleChat2-shaped model: tokens/s and MFU, ours vs PyTorch
#              eager + SDPA flash at the same shape (train_bench.jsonl)
#   bench      FA2 TFLOP/s vs torch SDPA flash, hdim 128 causal, seq 1k..16k (bench.jsonl)
#   racecheck  compute-sanitizer racecheck (shared memory hazards) over the attention kernels
#   memcheck_ops  memcheck over all other kernels (cuda_vs_cpu under the sanitizer)
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-$ROOT/cuda-check-out}
BUDGET_S=${CHECK_BUDGET_S:-540}  # one device command may run 600 s; 15 device minutes include the machine start
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
RUN=$ROOT/.device/run
T0=$(date +%s)
FAILED=0

note() { echo "$*" | tee -a "$SUMMARY"; }

# stage NAME LIMIT_S COMMAND...: runs with min(LIMIT, budget left), logs to $OUT/NAME.log.
stage() {
  local name=$1 limit=$2; shift 2
  local left=$(( BUDGET_S - ($(date +%s) - T0) ))
  if [ "$left" -lt 20 ]; then note "$name SKIPPED (budget spent)"; return 1; fi
  [ "$limit" -gt "$left" ] && limit=$left
  local start=$(date +%s)
  # bash -c so that stage functions (exported below) and plain commands both run under timeout
  timeout --kill-after=5 "$limit" bash -c '"$@"' _ "$@" > "$OUT/$name.log" 2>&1
  local rc=$?
  local status=PASS
  [ $rc -ne 0 ] && status=FAIL && FAILED=$((FAILED + 1))
  [ $rc -eq 124 ] && status="TIMEOUT(${limit}s)"
  note "$name $status rc=$rc $(( $(date +%s) - start ))s"
  return $rc
}

find_sanitizer() {
  for c in "$(command -v compute-sanitizer)" /usr/local/cuda/bin/compute-sanitizer /usr/local/cuda/compute-sanitizer/compute-sanitizer; do
    [ -n "$c" ] && [ -x "$c" ] && { echo "$c"; return 0; }
  done
  return 1
}

env_stage() {
  nvidia-smi || true
  nvcc --version || ls /usr/local/cuda*/bin/nvcc
  "$PYTHON" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"
  echo "compute-sanitizer: $(find_sanitizer || echo missing)"
  nproc; free -g | head -2
}

unpack_stage() {
  rm -rf "$RUN" && mkdir -p "$RUN"
  xz -dc .device/node.xz > "$RUN/node" && chmod +x "$RUN/node"
  tar -C "$RUN" -xJf .device/bundle.tar.xz
  local want; want=$(cat "$RUN/bundle/native_src.sha256")
  local have; have=$(bash scripts/device/fingerprint.sh)
  if [ "$want" != "$have" ]; then
    echo "the carried bundle was built from other sources ($want vs $have): rerun scripts/device/pack_cuda.sh"
    return 1
  fi
  mkdir -p build/native/Release
  cp "$RUN/bundle/telechat_native.node" build/native/Release/
  rm -rf dist && cp -r "$RUN/bundle/dist" dist
  rm -rf node_modules && cp -r "$RUN/bundle/node_modules" node_modules
  node_run -e "const a=require('./build/native/Release/telechat_native.node'); const i=a.buildInfo(); console.log(JSON.stringify(i)); if(!i.cuda||i.cudaDevices<1) process.exit(1)"
}

node_run() { LD_LIBRARY_PATH="$RUN/bundle/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" "$RUN/node" "$@"; }

build_stage() {
  local nvcc; nvcc=$(command -v nvcc || ls /usr/local/cuda/bin/nvcc)
  local obj=$RUN/obj && mkdir -p "$obj"
  "$nvcc" --version | tail -1
  local t=$(date +%s)
  ls native/src/cuda/*.cu | xargs -P "$(nproc)" -I{} sh -c \
    "'$nvcc' -std=c++17 -O3 -lineinfo -arch=sm_90 -Xcompiler -fPIC -Xptxas -v -Inative/src -c {} -o '$obj'/\$(basename {}).o 2>&1" || return 1
  g++ -std=c++17 -O2 -fPIC -Inative/src -c native/src/cuda/cublas_loader.cc -o "$obj/cublas_loader.o" || return 1
  "$nvcc" -shared -arch=sm_90 "$obj"/*.o -o "$RUN/libtelechat_cuda.so" -cudart static -ldl || return 1
  echo "nvcc compile + link for sm_90: $(( $(date +%s) - t ))s"
}

python_lib_dir() {  # directory of an nvidia/* wheel library, if PyTorch's packages have it
  "$PYTHON" - "$1" <<'PY'
import glob, os, sys, site
name = sys.argv[1]
roots = site.getsitepackages() + [site.getusersitepackages()]
for r in roots:
    for d in (f"{r}/nvidia/cu13/lib", f"{r}/nvidia/{name}/lib"):
        if glob.glob(f"{d}/lib{name}.so*"):
            print(d); sys.exit(0)
sys.exit(1)
PY
}

libs_stage() {
  echo "--- cuBLAS with our own search (no TELECHAT_CUBLAS_PATH):"
  node_run -e "const a=require('./build/native/Release/telechat_native.node'); try{console.log(JSON.stringify(a.cublasProbe()))}catch(e){console.log('NOT FOUND: '+e.message)}"
  local d
  if d=$(python_lib_dir cublas); then export TELECHAT_CUBLAS_PATH=$d; echo "TELECHAT_CUBLAS_PATH=$d"; fi
  if d=$(python_lib_dir nccl); then export TELECHAT_NCCL_PATH=$d; echo "TELECHAT_NCCL_PATH=$d"; fi
  node_run -e "const a=require('./build/native/Release/telechat_native.node'); console.log('cublas', JSON.stringify(a.cublasProbe())); console.log('nccl', JSON.stringify(a.ncclProbe()))"
}

train_bench_stage() {
  node_run scripts/device/train_bench.mjs "$OUT/train_bench.jsonl" "$RUN/train_bench" 8 || return 1
  # PyTorch at the same micro-batch and the row length our data gave
  local T; T=$(node_run -e "const l=require('fs').readFileSync('$OUT/train_bench.jsonl','utf8').trim().split('\n').map(JSON.parse).filter(r=>r.side==='telechat-train').pop(); console.log(Math.round(l.tokens_per_step/l.B))")
  "$PYTHON" scripts/device/train_bench.py "$RUN/train_bench/model/config.json" 4 "$T" 8 "$OUT/train_bench.jsonl"
}

export ROOT OUT PYTHON RUN
export -f env_stage unpack_stage build_stage libs_stage train_bench_stage node_run python_lib_dir find_sanitizer
note "check_cuda $(date -u +%FT%TZ) budget ${BUDGET_S}s out=$OUT"
stage env 60 env_stage
stage unpack 90 unpack_stage || { note "cannot run the Node checks without the carried addon"; }
stage build 180 build_stage
# Loader variables for every later stage (found from PyTorch's packages when present).
d=$(python_lib_dir cublas) && export TELECHAT_CUBLAS_PATH=$d
d=$(python_lib_dir nccl) && export TELECHAT_NCCL_PATH=$d
stage libs 30 libs_stage
rm -f "$OUT"/*.jsonl
stage vs_cpu 150 node_run scripts/device/cuda_vs_cpu.mjs "$OUT/cuda_vs_cpu.jsonl"
stage nccl 120 node_run scripts/device/nccl_check.mjs "$OUT/nccl.jsonl"
stage train 150 node_run scripts/device/train_vs_cpu.mjs "$OUT/train_vs_cpu.jsonl" "$RUN/train"
stage lora 90 node_run scripts/device/lora_vs_cpu.mjs "$OUT/lora_vs_cpu.jsonl" "$RUN/lora"
LIB=$RUN/libtelechat_cuda.so
stage attention 180 "$PYTHON" scripts/device/attention_vs_torch.py --lib "$LIB" --mode sweep --out "$OUT/attention_sweep.jsonl"
SAN=$(find_sanitizer) || SAN=""
if [ -n "$SAN" ]; then
  stage memcheck 150 "$SAN" --tool memcheck --error-exitcode 1 "$PYTHON" scripts/device/attention_vs_torch.py --lib "$LIB" --mode sanitize --out "$OUT/memcheck.jsonl"
else
  note "memcheck SKIPPED (compute-sanitizer not found)"; FAILED=$((FAILED + 1))
fi
stage train_bench 150 train_bench_stage
stage bench 180 "$PYTHON" scripts/device/attention_vs_torch.py --lib "$LIB" --mode bench --out "$OUT/bench.jsonl"
if [ -n "$SAN" ]; then
  stage racecheck 120 "$SAN" --tool racecheck --error-exitcode 1 "$PYTHON" scripts/device/attention_vs_torch.py --lib "$LIB" --mode sanitize --out "$OUT/racecheck.jsonl"
  stage memcheck_ops 120 "$SAN" --tool memcheck --error-exitcode 1 env LD_LIBRARY_PATH="$RUN/bundle/lib" "$RUN/node" scripts/device/cuda_vs_cpu.mjs "$OUT/memcheck_ops.jsonl"
fi
note "done in $(( $(date +%s) - T0 ))s, $FAILED stage(s) failed"
exit $(( FAILED > 0 ))
