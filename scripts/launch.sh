#!/usr/bin/env bash
# Cluster wrapper around the launchers.
#   Inside a Slurm allocation (sbatch/salloc): scripts/launch.sh -- COMMAND ARGS...
#     runs one task per rank with srun; ranks find themselves from SLURM_* variables, rank 0's
#     host (first of the node list) hosts the rendezvous.
#   Anywhere else: scripts/launch.sh [telechat-launch options] -- COMMAND ARGS...
#     is telechat-launch (e.g. --hostfile hosts.txt, or --nproc-per-node N).
# Both share one fresh TELECHAT_RUN_SECRET per run unless one is already exported.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"

if [ -z "${TELECHAT_RUN_SECRET:-}" ]; then
  TELECHAT_RUN_SECRET="$(od -An -N24 -tx1 /dev/urandom | tr -d ' \n')"
  export TELECHAT_RUN_SECRET
fi

if [ -n "${SLURM_JOB_ID:-}" ] && [ -z "${SLURM_PROCID:-}" ] && command -v srun >/dev/null; then
  [ "${1:-}" = "--" ] && shift
  [ $# -gt 0 ] || { echo "launch.sh: no command given (usage: launch.sh -- COMMAND ARGS...)" >&2; exit 1; }
  MASTER_ADDR="${MASTER_ADDR:-$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)}"
  MASTER_PORT="${MASTER_PORT:-29500}"
  export MASTER_ADDR MASTER_PORT
  # --kill-on-bad-exit: one failing rank ends the step, like telechat-launch's fail-fast.
  exec srun --kill-on-bad-exit=1 --export=ALL "$@"
fi

exec node "$here/dist/cli/launch.js" "$@"
