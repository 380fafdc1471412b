#!/usr/bin/env bash
# THE prepared GPU check of the CUDA backend (docs/cuda.md). Run from the repo root on the GPU
# machine after scripts/device/pack_cuda.sh made .device/ on the CPU machine (carry ".device"):
#   bash scripts/device/check_cuda.sh
# The device tool brings back at most 8 files from $OUT, so $OUT holds three, each appended as
# soon as a stage ends (a timeout still leaves what finished): summary.txt (one line per stage),
# logs.txt (every stage's log under a header) and results.jsonl (every check's JSON line, with its
# stage); a failed check's line is also printed, for the tool's output tail. Per-stage files stay
# in .device/check. A stage skipped for lack of budget counts as failed. Stages, most important first:
#   env        GPU, driver, nvcc, PyTorch, compute-sanitizer
#   unpack     node + the carried addon; refuses an addon built from other sources
#   build      nvcc compiles every native/src/cuda file for sm_90 on this machine (register and
#              spill report in the log) into libtelechat_cuda.so for the PyTorch checks
#   libs_search  our own cuBLAS/NCCL search finds PyTorch's libraries with no TELECHAT_*_PATH set
#              (what a plain `telechat-train --device cuda` does)
#   libs       the libraries found from PyTorch's packages (set for every later stage)
#   vs_cpu     every op of the CUDA backend vs the CPU backend
#   nccl       the NCCL communicator at world size 1: every collective x dtype x length, ordering
#              with compute, async overlap, timeout and abort
#   train      50 steps of the tiny model, telechat-train --device cuda (bf16, ZeRO-3 over NCCL at
#              world size 1) vs the CPU in fp32: losses within 1e-2; then resume
#   lora       LoRA (r 8, all-linear, ZeRO-3 bf16) over a pretrained base on the GPU vs the CPU in
#              fp32: losses and adapters within tolerance, adapter/ + merged final/, resume,
#              telechat-export merge
#   outside    readers we did not write load our files: TensorBoard's EventAccumulator reads a LoRA
#              run's events file (same scalars as ours), safetensors reads its final/ and adapter/
#   attention  FA2 sweep vs PyTorch: error vs fp32 <= 2x / 3x PyTorch's bf16 error
#   memcheck   compute-sanitizer memcheck over the attention kernels (small cases)
#   racecheck  compute-sanitizer racecheck (shared memory hazards) over the attention kernels
#   memcheck_ops  memcheck over all other kernels (cuda_vs_cpu under the sanitizer)
#              (the sanitizer stages run with PyTorch's caching allocator and ours off, so an
#              access past a small block lands outside every allocation, where memcheck sees it)
#   train_bench  training step of a ~1.1B TeleChat2-shaped model: tokens/s and MFU, ours vs PyTorch
#              eager + SDPA flash at the same shape
#   bench      FA2 TFLOP/s vs torch SDPA flash, hdim 128 causal, seq 1k..16k
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=${OUT:-$ROOT/cuda-check-out}
BUDGET_S=${CHECK_BUDGET_S:-540}  # one device command may run 600 s; 15 device minutes include the machine start
PYTHON=${PYTHON:-python3}
mkdir -p "$OUT"
SUMMARY=$OUT/summary.txt
WORK=$ROOT/.device/check  # per-stage logs and JSON lines (not brought back; collected into $OUT)
rm -rf "$WORK" && mkdir -p "$WORK"
rm -f "$SUMMARY" "$OUT/logs.txt" "$OUT/results.jsonl"
RUN=$ROOT/.device/run
T0=$(date +%s)
FAILED=0

note() { echo "$*" | tee -a "$SUMMARY"; }

# collect NAME: the stage's log and JSON lines into $OUT/logs.txt and $OUT/results.jsonl; a
# failed check's line is printed too
collect() {
  local name=$1
  { echo "=== $name ==="; tail -c 300000 "$WORK/$name.log" 2>/dev/null; echo; } >> "$OUT/logs.txt"
  [ -f "$WORK/$name.jsonl" ] || return 0
  "$PYTHON" - "$name" "$WORK/$name.jsonl" "$OUT/results.jsonl" <<'PY'
import json, sys
name, src, dst = sys.argv[1:4]
with open(src) as f, open(dst, "a") as out:
    for line in f:
        line = line.strip()
        if not line:
            continue
        try:
            row = json.loads(line)
        except ValueError:
            row = {"unparsed": line[:2000]}
        row = {"stage": name, **row} if isinstance(row, dict) else {"stage": name, "value": row}
        out.write(json.dumps(row) + "\n")
        if row.get("pass") is False:
            print("FAILED CHECK " + json.dumps(row)[:1500])
PY
}

# stage NAME LIMIT_S COMMAND...: runs with min(LIMIT, budget left), logs to $WORK/NAME.log; the
# command finds its JSON lines' path in $STAGE_JSONL ($WORK/NAME.jsonl).
stage() {
  local name=$1 limit=$2; shift 2
  local left=$(( BUDGET_S - ($(date +%s) - T0) ))
  if [ "$left" -lt 20 ]; then note "$name SKIPPED (budget spent)"; FAILED=$((FAILED + 1)); return 1; fi
  [ "$limit" -gt "$left" ] && limit=$left
  local start=$(date +%s)
  # bash -c so that stage functions (exported below) and plain commands both run under timeout
  STAGE_JSONL=$WORK/$name.jsonl timeout --kill-after=5 "$limit" bash -c '"$@"' _ "$@" > "$WORK/$name.log" 2>&1
  local rc=$?
  local status=PASS
  [ $rc -ne 0 ] && status=FAIL && FAILED=$((FAILED + 1))
  [ $rc -eq 124 ] && status="TIMEOUT(${limit}s)"
  note "$name $status rc=$rc $(( $(date +%s) - start ))s"
  collect "$name"
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

# our own search (dynlib.h), as a plain `telechat-train --device cuda` runs it: no TELECHAT_*_PATH
libs_search_stage() {
  env -u TELECHAT_CUBLAS_PATH -u TELECHAT_NCCL_PATH LD_LIBRARY_PATH="$RUN/bundle/lib" "$RUN/node" -e "
    const a = require('./build/native/Release/telechat_native.node');
    let bad = 0;
    for (const [lib, probe] of [['cuBLAS', () => a.cublasProbe()], ['NCCL', () => a.ncclProbe()]]) {
      try { console.log(lib, 'found', JSON.stringify(probe())); } catch (e) { bad++; console.log(lib, 'NOT FOUND:', e.message); }
    }
    process.exit(bad ? 1 : 0);"
}

libs_stage() {
  echo "TELECHAT_CUBLAS_PATH=${TELECHAT_CUBLAS_PATH:-} TELECHAT_NCCL_PATH=${TELECHAT_NCCL_PATH:-}"
  node_run -e "const a=require('./build/native/Release/telechat_native.node'); console.log('cublas', JSON.stringify(a.cublasProbe())); console.log('nccl', JSON.stringify(a.ncclProbe()))"
}

train_bench_stage() {
  node_run scripts/device/train_bench.mjs "$STAGE_JSONL" "$RUN/train_bench" 8 || return 1
  # PyTorch at the same micro-batch and the row length our data gave
  local T; T=$(node_run -e "const l=require('fs').readFileSync('$STAGE_JSONL','utf8').trim().split('\n').map(JSON.parse).filter(r=>r.side==='telechat-train').pop(); console.log(Math.round(l.tokens_per_step/l.B))")
  "$PYTHON" scripts/device/train_bench.py "$RUN/train_bench/model/config.json" 4 "$T" 8 "$STAGE_JSONL"
}

# a small CPU LoRA run with TensorBoard on, then the outside readers over it
outside_stage() {
  node_run dist/cli/train.js --config configs/zero3.json --output-dir "$RUN/outside" --max-steps 6 --device cpu \
    --set 'tensorboard={"enabled":true}' --set 'lora={"r":8,"lora_alpha":16,"target_modules":["all-linear"]}' || return 1
  "$PYTHON" scripts/device/outside_readers.py "$RUN/outside" "$STAGE_JSONL"
}

# sanitize_stage TOOL COMMAND...: compute-sanitizer with both caching allocators off
sanitize_stage() {
  local tool=$1; shift
  PYTORCH_NO_CUDA_MEMORY_CACHING=1 TELECHAT_CUDA_POOL=off "$SAN" --tool "$tool" --error-exitcode 1 "$@"
}

export ROOT OUT PYTHON RUN WORK
export -f env_stage unpack_stage build_stage libs_search_stage libs_stage train_bench_stage outside_stage sanitize_stage node_run python_lib_dir find_sanitizer
note "check_cuda $(date -u +%FT%TZ) budget ${BUDGET_S}s out=$OUT"
stage env 60 env_stage
stage unpack 90 unpack_stage || { note "cannot run the Node checks without the carried addon"; }
stage build 180 build_stage
stage libs_search 30 libs_search_stage
# Loader variables for every later stage (found from PyTorch's packages when present).
d=$(python_lib_dir cublas) && export TELECHAT_CUBLAS_PATH=$d
d=$(python_lib_dir nccl) && export TELECHAT_NCCL_PATH=$d
stage libs 30 libs_stage
stage vs_cpu 150 bash -c 'node_run scripts/device/cuda_vs_cpu.mjs "$STAGE_JSONL"'
stage nccl 120 bash -c 'node_run scripts/device/nccl_check.mjs "$STAGE_JSONL"'
stage train 150 bash -c 'node_run scripts/device/train_vs_cpu.mjs "$STAGE_JSONL" "$RUN/train"'
stage lora 120 bash -c 'node_run scripts/device/lora_vs_cpu.mjs "$STAGE_JSONL" "$RUN/lora"'
stage outside 60 outside_stage
LIB=$RUN/libtelechat_cuda.so
export LIB
stage attention 180 bash -c '"$PYTHON" scripts/device/attention_vs_torch.py --lib "$LIB" --mode sweep --out "$STAGE_JSONL"'
SAN=$(find_sanitizer) || SAN=""
export SAN
if [ -n "$SAN" ]; then
  stage memcheck 150 bash -c 'sanitize_stage memcheck "$PYTHON" scripts/device/attention_vs_torch.py --lib "$LIB" --mode sanitize --out "$STAGE_JSONL"'
  stage racecheck 120 bash -c 'sanitize_stage racecheck "$PYTHON" scripts/device/attention_vs_torch.py --lib "$LIB" --mode sanitize --out "$STAGE_JSONL"'
  stage memcheck_ops 120 bash -c 'sanitize_stage memcheck env LD_LIBRARY_PATH="$RUN/bundle/lib" "$RUN/node" scripts/device/cuda_vs_cpu.mjs "$STAGE_JSONL"'
else
  for s in memcheck racecheck memcheck_ops; do note "$s SKIPPED (compute-sanitizer not found)"; FAILED=$((FAILED + 1)); done
fi
stage train_bench 150 train_bench_stage
stage bench 180 bash -c '"$PYTHON" scripts/device/attention_vs_torch.py --lib "$LIB" --mode bench --out "$STAGE_JSONL"'
note "done in $(( $(date +%s) - T0 ))s, $FAILED stage(s) failed or skipped"
exit $(( FAILED > 0 ))
