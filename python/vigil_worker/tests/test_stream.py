"""Stop strings over a stream of pieces (src/worker/text_stream.cc is the C++ twin)."""
from __future__ import annotations

import unittest

from vigil_worker.stream import StopStream


def run(stops, pieces):
    s = StopStream(tuple(stops))
    sent = [s.push(p) for p in pieces]
    sent.append(s.flush())
    return "".join(sent), s.text, s.stopped, sent


class Stops(unittest.TestCase):
    def test_no_stops_passes_everything_at_once(self):
        out, text, stopped, sent = run([], ["a", "b"])
        self.assertEqual((out, text, stopped, sent), ("ab", "ab", False, ["a", "b", ""]))

    def test_stop_across_pieces_is_never_sent(self):
        out, text, stopped, sent = run(["END"], ["hello E", "N", "D more"])
        self.assertEqual((out, text, stopped), ("hello ", "hello ", True))
        self.assertEqual(sent[0], "hello ")  # "E" held back: it may begin the stop

    def test_held_back_text_is_released_when_it_is_not_a_stop(self):
        out, _, stopped, sent = run(["END"], ["x E", "Nx"])
        self.assertEqual((out, stopped), ("x ENx", False))
        self.assertEqual(sent[:2], ["x ", "ENx"])

    def test_earliest_of_several_stops(self):
        self.assertEqual(run(["b", "cd"], ["acdb"])[1], "a")

    def test_held_back_text_is_flushed_at_the_end(self):
        out, _, _, sent = run(["abc"], ["xa", "b"])
        self.assertEqual((out, sent), ("xab", ["x", "", "ab"]))


if __name__ == "__main__":
    unittest.main()
