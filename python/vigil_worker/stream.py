"""Stop strings over a stream of text pieces (src/worker/text_stream.cc is the
C++ twin). Text that may be the start of a stop string is held back until
the next piece tells; a stop string ends the stream, and neither it nor
anything after it is ever sent.

Thread-safety: none; one per job.
"""
from __future__ import annotations


class StopStream:
    def __init__(self, stops: tuple[str, ...]):
        self._stops = [s for s in stops if s]
        self._longest = max((len(s) for s in self._stops), default=0)
        self.text = ""        # everything kept so far (sent or held back)
        self._sent = 0
        self.stopped = False

    def push(self, piece: str) -> str:
        """Adds a piece; returns the text that may be sent now."""
        if self.stopped:
            return ""
        before = len(self.text)
        self.text += piece
        at = self._find_stop(before)
        if at is not None:
            self.text = self.text[:max(at, self._sent)]
            self.stopped = True
        end = len(self.text) if self.stopped else len(self.text) - self._held_back()
        out = self.text[self._sent:end]
        self._sent = max(self._sent, end)
        return out

    def flush(self) -> str:
        """The text held back, at the end of the job."""
        out = self.text[self._sent:]
        self._sent = len(self.text)
        return out

    def _find_stop(self, new_from: int) -> int | None:
        best = None
        for stop in self._stops:
            i = self.text.find(stop, max(0, new_from - len(stop) + 1))
            if i >= 0 and (best is None or i < best):
                best = i
        return best

    def _held_back(self) -> int:
        unsent = len(self.text) - self._sent
        for k in range(min(unsent, self._longest - 1), 0, -1):
            tail = self.text[-k:]
            if any(len(s) > k and s.startswith(tail) for s in self._stops):
                return k
        return 0
