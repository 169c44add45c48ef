"""Where a result file of tools/train came from: the script, the command, the
model files (SHA-256), the machine and its load, so docs/model.md can name the
file and the file names everything needed to make it again.

    meta = Provenance("tools/train/eval.py", [TEXT, MMPROJ])   # at the start
    ...                                                        # the run
    result = {**meta.finish(), "results": ...}                 # at the end
"""
from __future__ import annotations

import datetime
import hashlib
import os
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
sys.path.insert(0, str(REPO / "bench"))
from loadavg import LoadSampler, read_loadavg  # noqa: E402  (bench/loadavg.py)


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "?"


def git_rev() -> str:
    """HEAD, with "+changes" when tracked files differ from it (the run then
    measured code no commit holds)."""
    r = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short=10", "HEAD"], capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", str(REPO), "diff", "--quiet", "HEAD", "--"], capture_output=True).returncode
    return (r.stdout.strip() or "?") + ("+changes" if dirty == 1 else "")


class Provenance:
    def __init__(self, script: str, model_files: list[Path]):
        self.start = datetime.datetime.now(datetime.timezone.utc)
        self.meta = {
            "script": script,
            "command": "scripts/env.sh python3 " + script + " " + shlex.join(sys.argv[1:]),
            "date": self.start.strftime("%Y-%m-%d %H:%M UTC"),
            "vigil_rev": git_rev(),
            "model": {Path(p).name: {"bytes": Path(p).stat().st_size, "sha256": sha256(Path(p))}
                      for p in model_files},
            "machine": {"nproc": os.cpu_count(), "cpu": cpu_name(), "loadavg_start": read_loadavg()},
        }
        self.load = LoadSampler()

    def finish(self) -> dict:
        m = self.meta["machine"]
        m["loadavg_end"] = read_loadavg()
        m["loadavg_during"] = self.load.stop()
        self.meta["seconds"] = round((datetime.datetime.now(datetime.timezone.utc) - self.start).total_seconds(), 1)
        return dict(self.meta)
