#!/usr/bin/env bash
# One hash of every file the carried bundle is built from (native sources and CMake file for the
# addon, src/ and tsconfig.json for dist/), so check_cuda.sh can refuse a bundle that does not
# match the sources next to it.
set -euo pipefail
cd "$(dirname "$0")/../.."
find native/src native/CMakeLists.txt src tsconfig.json -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
