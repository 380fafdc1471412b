#!/usr/bin/env bash
# Prepares .device/ (git-ignored) for scripts/device/check_cuda.sh, on the CPU machine, before a
# GPU session. The GPU machine has no Node, no network and possibly none of our build
# dependencies (OpenBLAS, SentencePiece, Gloo), so we carry:
#   .device/node.xz          xz -9 of this machine's node binary (~24 MB)
#   .device/bundle.tar.xz    the addon built portable (no -march=native) for sm_80 and sm_90, the
#                            shared libraries it links that are not glibc, dist/ (tsc output), the
#                            runtime npm dependencies (node_modules, pruned), and
#                            a fingerprint of the sources so check_cuda.sh can refuse a stale bundle.
# Everything must stay under the 64 MiB that travels. Run with: bash scripts/device/pack_cuda.sh
set -euo pipefail
cd "$(dirname "$0")/../.."

out=.device
rm -rf "$out" && mkdir -p "$out/bundle/lib"

echo "pack: building the portable addon for sm_80 and sm_90 (build/device)"
# without oneDNN: its library alone would take most of the 64 MiB, and the GPU checks compare
# against the CPU kernels, which the fp32-widening bf16 path serves as well
TELECHAT_NO_DNNL=1 TELECHAT_PORTABLE=1 TELECHAT_CUDA_ARCHS="80;90" npx cmake-js compile --directory native --out build/device > "$out/build.log" 2>&1 \
  || { tail -30 "$out/build.log"; exit 1; }
npx tsc -p tsconfig.json

addon=build/device/Release/telechat_native.node
cp "$addon" "$out/bundle/"
# Shared libraries outside glibc (OpenBLAS, SentencePiece, Gloo and their own dependencies, libstdc++).
ldd "$addon" | awk '/=> \//{print $3}' | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|ld-linux*) ;;
    *) cp -L "$lib" "$out/bundle/lib/" ;;
  esac
done
cp -r dist "$out/bundle/dist"
# The runtime npm dependencies (telechat-train itself runs on the GPU machine): only the
# linux-x64 binary of the tokenizers package, no source maps (~2 MB compressed). node-llama-cpp
# (telechat-chat, with its ~860 MB of prebuilt llama.cpp binaries) stays behind: no GPU check runs it.
for p in $(npm ls --omit=dev --all --parseable 2>/dev/null | grep /node_modules/ | grep -v -E '/node_modules/(node-llama-cpp|@node-llama-cpp)(/|$)' | sed "s#^$PWD/##" | sort -u); do
  mkdir -p "$out/bundle/$(dirname "$p")" && cp -r "$p" "$out/bundle/$p"
done
find "$out/bundle/node_modules/tokenizers" -name '*.node' ! -name '*linux-x64-gnu.node' -delete
find "$out/bundle/node_modules" -name '*.map' -delete
bash scripts/device/fingerprint.sh > "$out/bundle/native_src.sha256"
tar -C "$out" -cJf "$out/bundle.tar.xz" bundle
rm -rf "$out/bundle"
xz -9 -T2 -c "$(command -v node)" > "$out/node.xz"

total=$(du -cb "$out"/node.xz "$out"/bundle.tar.xz | tail -1 | cut -f1)
ls -l "$out"
echo "pack: $total bytes to carry (limit 67108864)"
if [ "$total" -ge 67108864 ]; then echo "pack: over the 64 MiB carry limit" >&2; exit 1; fi
echo "pack: done; run on the GPU machine with carry [\".device\"]: bash scripts/device/check_cuda.sh"
