#!/usr/bin/env bash
# check_wall.sh EXE: fails if EXE needs (directly, by ELF NEEDED, or through
# its dependencies, by ldd) a library of llama.cpp, ggml, mtmd or an image
# codec. Also fails if EXE contains their symbols (a static link).
set -euo pipefail
exe=$1
forbidden='llama|ggml|mtmd|jpeg|turbojpeg|png|webp|gif|tiff|stb_image'
fail=0
needed=$(readelf -d "$exe" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p')
if grep -Ei "$forbidden" <<<"$needed"; then echo "build_wall: $exe links the above directly"; fail=1; fi
if command -v ldd >/dev/null && ldd "$exe" | grep -Ei "$forbidden"; then
  echo "build_wall: $exe pulls in the above through its dependencies"; fail=1
fi
if nm -C --defined-only "$exe" 2>/dev/null | grep -Ei ' (llama_|ggml_|mtmd_|png_|jpeg_|tj[A-Z]|WebP|DGif)' | head -5 | grep .; then
  echo "build_wall: $exe contains the above symbols (static link?)"; fail=1
fi
[[ $fail == 0 ]] && echo "build_wall: $exe is clean (NEEDED: $(echo $needed | tr '\n' ' '))"
exit $fail
