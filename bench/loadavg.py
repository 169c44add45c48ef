"""The machine's load average while a benchmark runs, for its result file.

    sampler = LoadSampler()          # starts sampling /proc/loadavg at once
    ...                              # the run
    res["machine"]["loadavg_during"] = sampler.stop()

The 1-minute load average is read every period_s seconds on a daemon thread;
stop() returns {"period_s", "samples", "min", "median", "max"} (None values
where /proc/loadavg is missing). A load above the machine's core count means
other processes competed with the benchmark for the CPUs.
"""
import statistics
import threading


def read_loadavg():
    """The three load averages (1, 5, 15 min) as strings, or [] off Linux."""
    try:
        with open("/proc/loadavg") as f:
            return f.read().split()[:3]
    except OSError:
        return []


class LoadSampler:
    def __init__(self, period_s=5.0):
        self.period_s = period_s
        self.samples = []
        self._stop = threading.Event()
        self._sample()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _sample(self):
        la = read_loadavg()
        if la:
            self.samples.append(float(la[0]))

    def _loop(self):
        while not self._stop.wait(self.period_s):
            self._sample()

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._sample()
        s = self.samples
        return {"period_s": self.period_s, "samples": len(s), "min": min(s) if s else None,
                "median": statistics.median(s) if s else None, "max": max(s) if s else None}


def describe(during):
    """'1-minute load average during the run: min 1.2, median 2.3, max 3.1 (N samples, every 5 s)'."""
    if not during or during.get("median") is None:
        return ""
    return (f"1-minute load average during the run: min {during['min']:.2f}, median {during['median']:.2f}, "
            f"max {during['max']:.2f} ({during['samples']} samples, every {during['period_s']:g} s)")
