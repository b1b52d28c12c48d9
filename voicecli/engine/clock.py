"""The playback clock: when each piece of audio plays, and the silences between them.

A piece handed over at time ``t`` starts at ``max(t, end of the previous piece)`` and plays for its
duration. When it arrives after the previous one ended, playback ran dry: one underrun, and the wait
is gap. The speaker keeps one clock per turn and announces every slot in an event, so the metrics,
the view and the benchmark all read the same schedule, whatever the sink (speaker, WAV file, none).
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
