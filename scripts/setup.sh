#!/usr/bin/env bash
# One idempotent set-up: system packages (when root with apt), then npm ci, which builds the
# native addon (cmake-js) and the TypeScript. Safe to run again; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages and the files that prove each is present.
declare -A NEEDS=(
  [cmake]=/usr/bin/cmake
  [g++]=/usr/bin/g++
  [ninja-build]=/usr/bin/ninja
  [ccache]=/usr/bin/ccache
  [pkg-config]=/usr/bin/pkg-config
  [libopenblas-openmp-dev]=/usr/include/x86_64-linux-gnu/openblas-openmp/cblas.h
  [libgloo-dev]=/usr/include/gloo/context.h
  [libsentencepiece-dev]=/usr/include/sentencepiece_processor.h
  [libdnnl-dev]=/usr/include/dnnl.hpp # oneDNN: bf16 matmuls on AVX512-BF16 / AMX CPUs (the build works without it)
  [python3-torch]=/usr/lib/python3/dist-packages/torch/__init__.py
  [python3-sentencepiece]=/usr/lib/python3/dist-packages/sentencepiece/__init__.py
  [chromium]=/usr/bin/chromium # headless browser for the report tests (test/observe/report_browser.test.ts)
  [tmux]=/usr/bin/tmux # a terminal for the interactive telechat-chat test (test/chat/chat_tmux.test.ts)
)
if [ "$(uname -m)" = aarch64 ]; then
  NEEDS[libopenblas-openmp-dev]=/usr/include/aarch64-linux-gnu/openblas-openmp/cblas.h
fi

missing=()
for pkg in "${!NEEDS[@]}"; do
  [ -e "${NEEDS[$pkg]}" ] || missing+=("$pkg")
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "setup: installing Debian packages: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q >/dev/null
    if ! apt-get install -y -q --no-install-recommends "${missing[@]}" >/tmp/telechat-apt.log 2>&1; then
      echo "setup: apt-get install failed for: ${missing[*]} (log: /tmp/telechat-apt.log)" >&2
      tail -n 20 /tmp/telechat-apt.log >&2
      exit 1
    fi
  else
    echo "setup: missing Debian packages: ${missing[*]}" >&2
    echo "setup: run as root with apt-get, or install them yourself, then run this again." >&2
    exit 1
  fi
fi

command -v node >/dev/null || { echo "setup: node (>= 20) is required" >&2; exit 1; }
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "setup: node >= 20 required, found $(node --version)" >&2; exit 1; }

# npm ci when dependencies changed (or were never installed); otherwise an incremental build.
lock_sum=$(sha256sum package-lock.json | cut -d' ' -f1)
if [ -f node_modules/.telechat-lock ] && [ "$(cat node_modules/.telechat-lock)" = "$lock_sum" ]; then
  echo "setup: dependencies up to date; building"
  npm run --silent build
else
  echo "setup: npm ci (builds the native addon and the TypeScript)"
  npm ci --no-audit --no-fund
  echo "$lock_sum" > node_modules/.telechat-lock
fi
echo "setup: done"
