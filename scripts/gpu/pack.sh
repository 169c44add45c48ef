#!/usr/bin/env bash
# scripts/gpu/pack.sh: packs what a GPU machine needs to run vigil and its
# peer without installing anything there, into build-gpu/pack/vigil-gpu.tar.xz:
#
#   bin/        vigil, vigil-worker, llama-server: wrappers that start the
#               real programs (libexec/) through the pack's own loader
#   lib/        Debian sid's loader, libc, libstdc++, libllama, libggml and its
#               backends (CPU variants + Vulkan), the Vulkan loader and
#               libglvnd (the NVIDIA Vulkan driver needs libGLX/libEGL)
#   python/     python3-gguf (pure Python) to generate the bench-size model there
#   models/     the tiny test model pair
#
# Why a private loader: a GPU machine's image may have an older glibc than
# sid's, and may have no package access. Starting programs as
# `lib/ld-linux-x86-64.so.2 --library-path lib ...` runs sid's userland on any
# x86-64 Linux; ggml finds its backend modules next to the loader (it searches
# the executable's directory, which is then lib/). The machine's GPU driver is
# added with VIGIL_PACK_EXTRA_LIBS (scripts/gpu/run.sh sets it).
#
# Runs on the build machine (Debian with apt): builds vigil (Release) in
# build-gpu/ inside the sid root (scripts/env.sh) and downloads the few sid
# packages the build root lacks into the vigil cache. About 25 MB.
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cache=${VIGIL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/vigil}
debs="$cache/gpu-debs"
out="$repo/build-gpu/pack"
stage="$repo/build-gpu/stage"
cd "$repo"

# VIGIL_PACK_BUILD=DIR packs an existing build directory instead (it must
# hold bin/vigil, bin/vigil-worker and models/).
build=${VIGIL_PACK_BUILD:-build-gpu}
if [[ -z "${VIGIL_PACK_BUILD:-}" ]]; then
  echo "pack: building vigil (Release) in build-gpu/"
  scripts/env.sh bash -c 'cmake -S . -B build-gpu -G Ninja -DCMAKE_BUILD_TYPE=Release >/dev/null &&
                           cmake --build build-gpu --target vigil vigil-worker tiny_model'
fi

# The Vulkan backend and what the NVIDIA Vulkan driver needs are not in the
# build root: fetch them from the same sid mirror with the host's apt.
pkgs=(libggml0-backend-vulkan libvulkan1 libglvnd0 libgl1 libglx0 libegl1 libopengl0)
if [[ ! -f "$debs/.done" ]]; then
  echo "pack: downloading ${pkgs[*]}"
  rm -rf "$debs" && mkdir -p "$debs/lists/partial" "$debs/cache"
  echo "deb http://deb.debian.org/debian sid main" >"$debs/sources.list"
  apt_opts=(-o "Dir::Etc::SourceList=$debs/sources.list" -o Dir::Etc::SourceParts=/dev/null
            -o "Dir::State::Lists=$debs/lists" -o "Dir::Cache=$debs/cache"
            -o Acquire::Check-Valid-Until=false -o APT::Architecture=amd64 -o APT::Architectures=amd64
            -o APT::Sandbox::User=root)
  apt-get "${apt_opts[@]}" -qq update
  (cd "$debs" && apt-get "${apt_opts[@]}" -qq download "${pkgs[@]}")
  touch "$debs/.done"
fi

rm -rf "$stage" && mkdir -p "$stage"/{bin,libexec,lib,python,models} "$out"
extra="$stage/extra"
mkdir -p "$extra"
for d in "$debs"/*.deb; do dpkg-deb -x "$d" "$extra"; done
multiarch=usr/lib/x86_64-linux-gnu
cp -L "$extra/$multiarch"/ggml/backends0/*.so "$stage/lib/"
for lib in "$extra/$multiarch"/lib{vulkan,GLdispatch,GLX,EGL,GL,OpenGL}.so.[0-9]; do
  cp -L "$lib" "$stage/lib/"
done
rm -rf "$extra"
cp "$build/bin/vigil" "$build/bin/vigil-worker" "$stage/libexec/"
cp "$build"/models/*.gguf "$stage/models/"

# Everything the programs and backends link, resolved inside the sid root.
scripts/env.sh bash -c '
  set -euo pipefail
  stage=$1
  cp /usr/bin/llama-server "$stage/libexec/"
  cp -L /lib64/ld-linux-x86-64.so.2 "$stage/lib/"
  cp -L /usr/lib/x86_64-linux-gnu/ggml/backends0/*.so "$stage/lib/"
  cp -r /usr/lib/python3/dist-packages/gguf "$stage/python/"
  for f in "$stage"/libexec/* "$stage"/lib/libggml-*.so; do
    LD_LIBRARY_PATH="$stage/lib" ldd "$f" | awk "/=> \\// {print \$3}"
  done | sort -u | while read -r lib; do
    [[ -e "$stage/lib/$(basename "$lib")" ]] || cp -L "$lib" "$stage/lib/"
  done
  if LD_LIBRARY_PATH="$stage/lib" ldd "$stage"/libexec/* "$stage"/lib/libggml-*.so | grep "not found"; then
    echo "pack: unresolved libraries" >&2; exit 1
  fi' _ "$stage"
find "$stage/python" -name __pycache__ -prune -exec rm -rf {} +

for prog in vigil vigil-worker llama-server; do
  cat >"$stage/bin/$prog" <<WRAP
#!/bin/sh
# Starts $prog from this pack with the pack's loader and libraries (pack.sh).
p=\$(cd "\$(dirname "\$0")/.." && pwd)
export VIGIL_WORKER_BINARY="\${VIGIL_WORKER_BINARY:-\$p/bin/vigil-worker}"
exec "\$p/lib/ld-linux-x86-64.so.2" --library-path "\$p/lib\${VIGIL_PACK_EXTRA_LIBS:+:\$VIGIL_PACK_EXTRA_LIBS}" "\$p/libexec/$prog" "\$@"
WRAP
  chmod +x "$stage/bin/$prog"
done
git rev-parse HEAD >"$stage/REVISION" 2>/dev/null || true
tar -C "$stage" -cJf "$out/vigil-gpu.tar.xz" .
echo "pack: $(du -h "$out/vigil-gpu.tar.xz" | cut -f1) in build-gpu/pack/vigil-gpu.tar.xz ($(du -sh "$stage" | cut -f1) unpacked)"
