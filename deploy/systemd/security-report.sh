#!/usr/bin/env bash
# deploy/systemd/security-report.sh: systemd's exposure rating of vigil's unit,
# for docs/deploy.md. Writes bench/results/systemd-security.txt (the command,
# the date, systemd's version, then systemd-analyze's whole table).
# Needs systemd-analyze on the host (Debian: the systemd package).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
out=$repo/bench/results/systemd-security.txt
{
  echo "# deploy/systemd/security-report.sh: systemd-analyze security --offline=true deploy/systemd/vigil.service"
  echo "# $(date -u '+%Y-%m-%d %H:%M UTC'); $(systemd-analyze --version | head -1)"
  systemd-analyze security --offline=true "$repo/deploy/systemd/vigil.service" 2>&1
} >"$out"
tail -1 "$out"
