#!/usr/bin/env bash
# scripts/env.sh: run a command where vigil builds and runs.
#
#   scripts/env.sh CMD [ARGS...]
#
# Native mode: when the host itself has libllama + libmtmd (Debian sid, a
# recent Ubuntu, macOS with Homebrew), or VIGIL_NATIVE=1, CMD runs as is.
# Otherwise CMD runs inside a Debian sid root made once by mmdebstrap and
# cached outside the work tree, keyed by scripts/sid-packages.txt, entered with
# bubblewrap. The root shares the host's network (loopback) and PIDs, and binds
# the repository plus the usual data folders, so paths given on the host work.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

if [[ "${VIGIL_IN_ENV:-}" == 1 ]]; then exec "$@"; fi

native_ok() {
  [[ "${VIGIL_NATIVE:-}" == 1 ]] && return 0
  [[ "${VIGIL_NATIVE:-}" == 0 ]] && return 1
  command -v pkg-config >/dev/null 2>&1 && pkg-config --exists llama 2>/dev/null &&
    { [[ -f /usr/include/mtmd.h ]] || [[ -f /usr/local/include/mtmd.h ]] ||
      [[ -f /opt/homebrew/include/mtmd.h ]]; }
}
if native_ok; then export VIGIL_IN_ENV=1; exec "$@"; fi

cache=${VIGIL_CACHE:-${XDG_CACHE_HOME:-${HOME:-/root}/.cache}/vigil}
key=$( (echo root-v1; grep -v "^#" "$here/sid-packages.txt") | sha256sum | cut -c1-16)
root="$cache/sid-$key"

make_root() {
  mkdir -p "$cache"
  exec 9>"$cache/.lock"
  flock 9
  [[ -f "$root/.vigil-ready" ]] && return 0
  local need=()
  command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
  command -v bwrap >/dev/null || need+=(bubblewrap)
  if ((${#need[@]})); then
    echo "env: installing ${need[*]} on the host" >&2
    apt-get install -y "${need[@]}" >/dev/null 2>&1 ||
      { apt-get update >/dev/null 2>&1 && apt-get install -y "${need[@]}" >/dev/null; }
  fi
  local pkgs
  pkgs=$(grep -v '^#' "$here/sid-packages.txt" | grep -v '^$' | paste -sd, -)
  echo "env: building the Debian sid root in $root (about a minute, once)" >&2
  rm -rf "$root.tmp"
  mmdebstrap --variant=apt --aptopt='Acquire::Check-Valid-Until "false"' \
    --include="$pkgs" sid "$root.tmp" http://deb.debian.org/debian >"$cache/mmdebstrap.log" 2>&1 ||
    { tail -20 "$cache/mmdebstrap.log" >&2; exit 1; }
  touch "$root.tmp/.vigil-ready"
  mv "$root.tmp" "$root"
}
[[ -f "$root/.vigil-ready" ]] || make_root
exec 9>&-  # make_root's lock: not held (nor inherited) while CMD runs

binds=()
for d in /tmp /var/tmp /home /root /work /srv /mnt "$repo" "$PWD"; do
  [[ -d "$d" ]] && binds+=(--bind "$d" "$d")
done
export VIGIL_IN_ENV=1

# The process a user, a shell or a process manager holds is this script, so it
# must behave as the program does. bwrap neither passes signals on nor
# survives them (and --die-with-parent then SIGKILLs the program), so:
# bwrap runs as a child with SIGINT/SIGTERM ignored (it inherits that, so a
# group-wide signal does not kill it; `env --default-signal` gives CMD the
# defaults back), and this script passes SIGINT/SIGTERM on to CMD, waits for
# it, and exits with its status. If this script is SIGKILLed, bwrap's
# --die-with-parent still takes CMD down: nothing is left behind.
bwrap_pid=
cmd_pid() {  # CMD is bwrap's only child (same PID namespace)
  local kids
  kids=$(cat "/proc/$bwrap_pid/task/$bwrap_pid/children" 2>/dev/null) || return 1
  [[ -n "$kids" ]] && echo "${kids%% *}"
}
forward() {
  local pid
  pid=$(cmd_pid) && kill -s "$1" "$pid" 2>/dev/null
  return 0
}
trap 'forward TERM' TERM
trap 'forward INT' INT
(
  trap '' TERM INT
  exec bwrap --bind "$root" / --proc /proc --dev /dev "${binds[@]}" \
    --setenv PATH /usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin --unsetenv PYTHONPATH \
    --die-with-parent --chdir "$PWD" /usr/bin/env --default-signal=INT,TERM "$@"
) 0<&0 &  # the program keeps our stdin (bash gives & jobs /dev/null)
bwrap_pid=$!
# wait returns early when a trapped signal arrives: wait again until bwrap is
# gone; bash keeps its exit status for the last wait.
while kill -0 "$bwrap_pid" 2>/dev/null; do wait "$bwrap_pid" || true; done
wait "$bwrap_pid"
