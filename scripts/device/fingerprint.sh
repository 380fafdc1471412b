#!/usr/bin/env bash
# One hash of every file under native/src (names and contents), so a carried addon can be
# matched with the sources next to it.
set -euo pipefail
cd "$(dirname "$0")/../.."
find native/src native/CMakeLists.txt -type f | LC_ALL=C sort | xargs sha256sum | sha256sum | cut -d' ' -f1
