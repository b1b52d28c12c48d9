"""Never leave the user in silence: short holding phrases, said when a silence is about to run too long.

One mechanism for every wait in a turn::

    HoldingPhrases   the phrases by kind, their audio synthesised ahead of time, a picker that never repeats
    SilenceWatch     one per turn: a thread that watches the turn's playback clock (what the user hears)
                     and says a phrase when the silence would pass the budget, or when tools are slow

Kinds: "wait" (nothing said yet: the model is slow to start), "stall" (the reply stopped mid-way),
"still" (a second phrase in the same silence: the wait goes on), "tool" (tools are running: the
``--feedback-after-ms`` phrase, a case of the same mechanism).

The rules, and why:

- **What the user hears decides.** Silence is read from the speaker's playback clock: it starts at the
  end of the user's turn (``since``) or when the last audio on the clock ends, whichever is later. The
  clock is the same for a speaker, a WAV file and ``--no-audio``, so the record says what would have
  been heard even when nothing plays.
- **Act before the budget, not at it.** A phrase is due ``MARGIN_S`` (300 ms) before the budget runs
  out. Measured (``scripts/measure_holding.py``): the watch places a pre-synthesised phrase a median
  0.2 ms after it is due, at worst 4 ms with four busy processes on two cores; through a real audio
  path (PortAudio's "high" latency into PulseAudio) the phrase is *heard* ~110 ms after its place on
  the clock (35 ms output latency, 60 ms of Piper's own leading silence, the server's buffering), and
  a loaded machine's audio path added underruns that stretched a 1.7 s clock silence to 1.98 s in the
  recording. 300 ms covers the audio path with room for that; more would say phrases needlessly
  early, less would let a loaded machine pass the budget.
- **Content first.** When the speaker is synthesising a piece of the reply at the due time, the phrase
  waits for it (a short chunk takes 50-150 ms) until ``HARD_MARGIN_S`` (200 ms) before the budget;
  only then does it go first. A phrase never plays over other speech: it takes the next free place on the clock,
  and it is dropped if a piece of the reply got there first.
- **Never twice in a row.** At most two phrases per silence (the second a "still" one), none repeated
  within a turn, none the same as the last one of the previous turn; new content starts a new count.
- **Speculative turns** say nothing before their gate opens (the user may not have finished); the
  budget still counts from the end of the user's speech, so a late confirmation may be answered by a
  phrase at once.
"""

from __future__ import annotations

import contextlib
import math
import random
import threading
import time
from collections.abc import Collection, Iterator, Mapping, Sequence

import numpy as np

from voicecli.engine.clock import Slot
from voicecli.engine.events import EventBus, HoldingSpoken
from voicecli.engine.speaker import Speaker
from voicecli.engine.types import TTS
from voicecli.tools import FEEDBACK_PHRASES

PHRASES: Mapping[str, tuple[str, ...]] = {
    "wait": ("Let me think.", "One moment.", "Hmm, let me think.", "Just a second.", "Let me see."),
    "stall": ("Hmm, let me see.", "Bear with me.", "Um, one second.", "Hang on."),
    "still": ("Still working on it.", "Still thinking, bear with me.", "Sorry, this is taking a little longer."),
    "tool": FEEDBACK_PHRASES,
}
"""Short, natural, each under ~1.5 s of speech with the embedded voice (so a phrase never becomes a
silence-maker itself); the "still" ones admit the wait instead of promising an end."""

FALLBACK: Mapping[str, tuple[str, ...]] = {"wait": ("stall",), "stall": ("wait",), "tool": ("wait", "stall"),
                                           "still": ()}
"""Where to look when every phrase of a kind was already said in this turn (a long turn with many stalls)."""

MARGIN_S = 0.3  # a phrase is due this long before the budget runs out (see the module docstring)
HARD_MARGIN_S = 0.2  # content being synthesised is waited for until this long before the budget
TOOL_LEAD_S = 0.05  # a tool phrase is decided this long before the audio playing ends, to follow it at once
POLL_S = 0.05  # the longest the watch sleeps without looking again
MAX_IN_A_ROW = 2  # phrases per silence: the first, then one "still"


class HoldingPhrases:
    """The phrases by kind, synthesised ahead of time; ``pick`` never repeats.

    One per conversation (or benchmark): ``prepare()`` synthesises every phrase in the background
    (``wait=True`` blocks until done); a phrase needed before it is ready is synthesised on demand
    (~50 ms with the embedded voice), and ``pick`` prefers the ready ones.
    """

    def __init__(self, tts: TTS, phrases: Mapping[str, Sequence[str]] | None = None, rng: random.Random | None = None):
        self.tts = tts
        merged = {**PHRASES, **(phrases or {})}
        self.kinds: dict[str, tuple[str, ...]] = {k: tuple(p.strip() for p in v if p.strip()) for k, v in merged.items()}
        self._rng = rng or random.Random()
        self._audio: dict[str, np.ndarray] = {}
        self._last: str | None = None
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def phrases(self) -> list[str]:
        return list(dict.fromkeys(p for kind in self.kinds.values() for p in kind))

    def prepare(self, wait: bool = False) -> None:
        """Synthesise every phrase ahead of time (in the background unless ``wait``)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._synthesize_all, name="voicecli-holding", daemon=True)
            self._thread.start()
        if wait:
            self._thread.join()

    def _synthesize_all(self) -> None:
        for phrase in self.phrases:
            try:
                self.audio(phrase)
            except Exception:  # the phrase is synthesised when needed instead
                return

    def ready(self, phrase: str) -> bool:
        return phrase in self._audio

    def pick(self, kind: str, avoid: Collection[str] = ()) -> str | None:
        """A phrase of ``kind`` not in ``avoid`` (said in this turn), not the last one said if there is
        another, a ready one if there is one; None when every phrase is used up (or there are none)."""
        with self._lock:
            for k in (kind, *FALLBACK.get(kind, ())):
                options = [p for p in self.kinds.get(k, ()) if p not in avoid]
                options = [p for p in options if p != self._last] or options
                if options:
                    ready = [p for p in options if p in self._audio] or options
                    self._last = self._rng.choice(ready)
                    return self._last
            return None

    def audio(self, phrase: str) -> np.ndarray:
        """The phrase's audio, synthesised now if it is not ready yet."""
        audio = self._audio.get(phrase)
        if audio is None:
            audio = self._audio[phrase] = self.tts.synthesize(phrase)
        return audio

    def close(self) -> None:
        """Let background synthesis finish: a process that exits while onnxruntime runs in a thread aborts."""
        if self._thread is not None:
            self._thread.join(timeout=5.0)


class SilenceWatch:
    """One turn's watchdog (a context manager around the turn's production; see the module docstring).

    ``budget_s``: the longest silence allowed (0: none, only tool phrases); ``since``: the end of the
    user's turn (``perf_counter``). The engine calls ``finished()`` once no more content will be
    produced; the watch ends when the speaker has nothing left in hand, or when the turn stops.
    """

    def __init__(self, phrases: HoldingPhrases, speaker: Speaker, bus: EventBus, stop: threading.Event, *,
                 budget_s: float, since: float, margin_s: float = MARGIN_S, hard_margin_s: float = HARD_MARGIN_S):
        self.phrases, self.speaker, self.bus, self.stop = phrases, speaker, bus, stop
        self.budget_s = budget_s if budget_s > 0 else math.inf
        self.since = since
        self.margin_s = min(margin_s, self.budget_s / 2)  # a tiny budget: act at half of it
        self.hard_margin_s = min(hard_margin_s, self.margin_s)
        self.said: list[str] = []
        self._in_a_row = 0
        self._chunks_seen = 0
        self._tools: tuple[float, float] | None = None  # (when the round started, its feedback threshold)
        self._queued = False  # a phrase queued behind the speaker's pieces has not got its place yet
        self._finished = threading.Event()
        self._closed = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="voicecli-holding-watch", daemon=True)

    def __enter__(self) -> SilenceWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closed.set()
        self._wake.set()
        self._thread.join(timeout=1.0)

    def finished(self) -> None:
        """No more content will come from the model (what the speaker holds still counts)."""
        self._finished.set()
        self._wake.set()

    @contextlib.contextmanager
    def tools(self, after_s: float) -> Iterator[None]:
        """A tool round runs inside: its phrase is due ``after_s`` after it started (0: said at once, always)."""
        self._tools = (time.perf_counter(), after_s)
        if after_s <= 0:  # "always": queued in order, after what the speaker already holds
            self._say_queued("tool")
        self._wake.set()
        try:
            yield
        finally:
            self._tools = None

    # -- the watch thread
    def _run(self) -> None:
        while not self.stop.is_set() and not self._closed.is_set():
            pause = self._step(time.perf_counter())
            if pause is None:
                return
            if pause > 0:
                self._wake.wait(pause)
                self._wake.clear()

    def _step(self, now: float) -> float | None:
        """Decide at ``now``: say a phrase (then look again at once), or how long to sleep (None: done)."""
        sp = self.speaker
        chunks = sp.chunks_scheduled
        if chunks != self._chunks_seen:  # new content: a new silence, a new count
            self._chunks_seen, self._in_a_row = chunks, 0
        in_hand = sp.in_hand
        if self._finished.is_set() and not in_hand:
            return None
        if (sp.gate is not None and not sp.gate.opened) or self._in_a_row >= MAX_IN_A_ROW or self._queued:
            return POLL_S
        if sp.paused:  # the reply holds while the user speaks: their silence is not ours to fill
            return POLL_S
        if sp.at_gate:  # the gate just opened on a piece that is ready: it is placed within milliseconds
            return 0.005
        end = sp.clock.end
        sound_end = sp.sound_end
        silence_from = self.since if sound_end is None else max(self.since, sound_end)
        due = silence_from + self.budget_s - self.margin_s
        hard = silence_from + self.budget_s - self.hard_margin_s
        tools = self._tools
        if tools is not None and self._in_a_row == 0:
            started, after_s = tools
            tool_due = max(started + after_s, (end or started) - TOOL_LEAD_S)
            due = min(due, tool_due)
            hard = max(hard, tool_due)  # pieces of the reply in hand still come first (forever, with no budget)
        if now < due:
            return min(due - now, POLL_S)
        if in_hand and now < hard:  # a piece of the reply is on its way: let it come first
            return min(hard - now, POLL_S) if math.isfinite(hard) else POLL_S
        self._say(self._kind(chunks, tools), chunks, due)
        return 0.0

    def _kind(self, chunks: int, tools: tuple[float, float] | None) -> str:
        if self._in_a_row:
            return "still"
        if tools is not None:
            return "tool"
        return "stall" if chunks else "wait"

    def _say(self, reason: str, chunks: int, due: float) -> None:
        phrase = self.phrases.pick(reason, self.said)
        if phrase is None:
            self._in_a_row = MAX_IN_A_ROW  # nothing left to say in this silence
            return
        audio = self.phrases.audio(phrase)
        slot = self.speaker.hold(phrase, audio, _audio_kind(reason), if_chunks=chunks)
        if slot is None:  # content got there first, or the turn stopped
            return
        self.said.append(phrase)
        self._in_a_row += 1
        self._emit(phrase, reason, slot, due)

    def _say_queued(self, reason: str) -> None:
        """Say a phrase after what the speaker holds (in order), not at the next free moment.

        Until it has its place on the clock the watch says nothing else: the pieces queued before it
        are not new content after it.
        """
        phrase = self.phrases.pick(reason, self.said)
        if phrase is None:
            return
        due = time.perf_counter()
        self.said.append(phrase)
        self._queued = True

        def placed(slot: Slot) -> None:
            self._chunks_seen, self._in_a_row, self._queued = self.speaker.chunks_scheduled, self._in_a_row + 1, False
            self._emit(phrase, reason, slot, due)
            self._wake.set()

        self.speaker.play(phrase, self.phrases.audio(phrase), _audio_kind(reason), on_slot=placed)

    def _emit(self, phrase: str, reason: str, slot: Slot, due: float) -> None:
        self.bus.emit(HoldingSpoken(text=phrase, reason=reason, start=slot.start, end=slot.end, due=due, t=slot.start))


def _audio_kind(reason: str) -> str:
    """The ``AudioScheduled`` kind: "feedback" for the tools' phrases (the record's ``feedback``), else "holding"."""
    return "feedback" if reason == "tool" else "holding"
