"""The playback clock: when each piece of audio plays, and the silences between them.

A piece handed over at time ``t`` starts at ``max(t, end of the previous piece)`` and plays for its
duration. When it arrives after the previous one ended, playback ran dry: one underrun, and the wait
is gap. The speaker keeps one clock per turn and announces every slot in an event, so the metrics,
the view and the benchmark all read the same schedule, whatever the sink (speaker, WAV file, none).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

QUIET_DBFS = -50.0  # below this a 10 ms frame is silence: Piper's padding fades from about -45 to digital zero


@dataclass(frozen=True)
class Slot:
    """One piece of audio on the playback clock (seconds on the pipeline's monotonic clock)."""

    ready: float
    start: float
    duration: float
    wait: float = 0.0  # silence before it while it was expected (an underrun when > 0)

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass
class PlaybackClock:
    """One turn's schedule. ``not_before``: what is still playing from before (an announcement waits for it)."""

    not_before: float = 0.0
    slots: list[Slot] = field(default_factory=list)
    underruns: int = 0
    gap: float = 0.0  # seconds of silence after the first audio, while more was expected
    longest_gap: float = 0.0

    def add(self, ready: float, duration: float) -> Slot:
        """A piece of ``duration`` seconds became ready to play at ``ready``."""
        wait = 0.0
        if self.slots and ready > self.slots[-1].end:
            wait = ready - self.slots[-1].end
            self.underruns += 1
            self.gap += wait
            self.longest_gap = max(self.longest_gap, wait)
        start = max(ready, self.slots[-1].end) if self.slots else max(ready, self.not_before)
        slot = Slot(ready, start, duration, wait)
        self.slots.append(slot)
        return slot

    def shift(self, at: float, by: float) -> None:
        """Playback paused at ``at`` for ``by`` seconds: what had not played yet plays that much later."""
        for i, slot in enumerate(self.slots):
            if slot.start >= at:
                self.slots[i] = Slot(slot.ready, slot.start + by, slot.duration, slot.wait)
            elif slot.end > at:  # playing when paused: it ends later, with a hole
                self.slots[i] = Slot(slot.ready, slot.start, slot.duration + by, slot.wait)

    @property
    def first_start(self) -> float | None:
        return self.slots[0].start if self.slots else None

    @property
    def end(self) -> float | None:
        return self.slots[-1].end if self.slots else None

    def started_by(self, t: float) -> int:
        """How many pieces had started playing by time ``t`` (what the user heard, at least in part)."""
        return sum(1 for s in self.slots if s.start <= t)


def quiet_edges(audio: np.ndarray, rate: int, frame_s: float = 0.01) -> tuple[float, float]:
    """Seconds of silence at the start and at the end of a piece of audio.

    A voice pads what it says: Piper starts ~40-80 ms late and ends with ~160 ms (after a comma) to
    ~380 ms (after a full stop) of silence. On the clock that padding is audio; to the user it is
    silence, so the silence budget and ``longest_silence_ms`` are measured from where the sound ends
    to where the next sound starts. All silence: the whole piece is its head, and no tail.
    """
    samples = np.asarray(audio, dtype=np.float32).reshape(-1)
    frame = max(1, int(rate * frame_s))
    n = len(samples) // frame
    if n == 0:
        return len(samples) / rate, 0.0
    power = (samples[:n * frame].reshape(n, frame) ** 2).mean(axis=1)
    loud = np.flatnonzero(power > 10.0 ** (QUIET_DBFS / 10.0))
    if len(loud) == 0:
        return len(samples) / rate, 0.0
    return float(loud[0] * frame / rate), float((len(samples) - (loud[-1] + 1) * frame) / rate)

