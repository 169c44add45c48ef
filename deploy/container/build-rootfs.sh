#!/usr/bin/env bash
# deploy/container/build-rootfs.sh [BUILD_DIR] [OUT.tar]: the runtime stage of
# Containerfile without a registry: mmdebstrap builds the Debian sid root from
# runtime-packages.txt (variant essential: no apt, no passwd tools), adds
# the vigil user (uid 10001) to /etc/passwd, BUILD_DIR's bin/vigil +
# bin/vigil-worker (built in scripts/env.sh's sid root: same libraries), the
# default model and the samples, and writes a rootfs tarball. Import it with
#   podman import --change 'USER 10001:10001' --change 'EXPOSE 8080' \
#     --change 'ENTRYPOINT ["/opt/vigil/bin/vigil"]' \
#     --change 'CMD ["serve","--host","0.0.0.0","--port","8080"]' OUT.tar localhost/vigil:latest
# (docker import takes the same --change lines). `import` cannot carry
# HEALTHCHECK; the probes of deploy/kubernetes do that job there.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "${1:-$repo/build}" && pwd)
out=${2:-$repo/build-image/vigil-rootfs.tar}
mkdir -p "$(dirname "$out")"
for f in "$build/bin/vigil" "$build/bin/vigil-worker"; do
  [[ -x "$f" ]] || { echo "build-rootfs: $f missing: run scripts/build.sh first" >&2; exit 1; }
done
pkgs=$(grep -v '^#' "$here/runtime-packages.txt" | grep -v '^$' | paste -sd, -)
mmdebstrap --variant=essential --include="$pkgs" \
  --aptopt='Acquire::Check-Valid-Until "false"' \
  --customize-hook='echo "vigil:x:10001:" >> "$1/etc/group"' \
  --customize-hook='echo "vigil:x:10001:10001:vigil:/nonexistent:/usr/sbin/nologin" >> "$1/etc/passwd"' \
  --customize-hook="mkdir -p \"\$1/opt/vigil/bin\" \"\$1/opt/vigil/models\"" \
  --customize-hook="cp $build/bin/vigil $build/bin/vigil-worker \"\$1/opt/vigil/bin/\"" \
  --customize-hook="cp -r $repo/models/default \"\$1/opt/vigil/models/\"" \
  --customize-hook="cp -r $repo/samples \"\$1/opt/vigil/\"" \
  --customize-hook='rm -rf "$1/var/cache/apt" "$1/var/lib/apt/lists"/*' \
  sid "$out" http://deb.debian.org/debian
echo "build-rootfs: wrote $out ($(du -h "$out" | cut -f1))"
