"""The talk loop: blocks in, turns out. The decisions are ``TurnTaker``'s; this is where they are carried out.

    block ─▶ recording (channel 1) ─▶ [muted while a reply plays, without barge-in]
          ─▶ endpointer ─▶ TurnTaker.step ─▶ actions:
               ANALYZE    transcribe the words so far, judge them (grammar + the end-of-turn score; Whisper's
                          other readings too when its best is not a whole turn: ``endings``)
               SPECULATE  start the reply behind a gate (a turn thread): nothing is heard yet
               CONFIRM    open the gate: the reply plays from now          (turn_end "semantic")
               COMMIT     transcribe what was said and start the reply      ("max_silence", "silence")
               DISCARD    the user went on: the held reply is thrown away
               PAUSE / RESUME / INTERRUPT   the user over the reply: hold it, go on, or stop it

Turns run in a thread of their own (one at a time: the engine's lock), so the loop keeps listening:
for more words during a speculative start, for a barge-in during a reply. Files read faster than
real time (``--input`` without ``--realtime``) are one turn each: ``answer_file``.

Over a reply, the words heard once it held decide (``cuts_in``): a request, a question or a few
words from a voice that lasted stop it; an acknowledgement, a short sound, or the words the reply
itself was saying let it go on. The loop's other text decisions: an empty transcript is skipped; one
that matches what the assistant just said is its own echo (only possible without echo
cancellation), ignored; "goodbye" ends the conversation with a farewell.
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from rich.console import Console

from voicecli.app.listen import RATE, Block
from voicecli.app.recording import ConversationRecorder, Timeline
from voicecli.app.session import Session
from voicecli.app.turns import Act, Action, TurnTaker
from voicecli.audio.overlap import EchoHistory
from voicecli.audio.vad import Endpointer
from voicecli.engine.speaker import Gate
from voicecli.engine.turn import TurnResult
from voicecli.engine.types import Audio, Heard
from voicecli.stt import WhisperSTT
from voicecli.text.endofturn import cuts_in, endings, is_backchannel, looks_unfinished, words
from voicecli.text.wer import normalize, wer

# A goodbye is a short utterance made only of farewell and politeness words, with at least one farewell in
# it: "Okay, bye for now.", "Goodbye, thank you." and the repeats the fast STT path sometimes writes
# ("Goodbye. Thank you. Good bye, thank"), but not "Say goodbye to the cat." or "bye the way, ...".
GOODBYE_WORDS = frozenset("ok okay good goodbye bye see you later that's thats all stop listening exit quit "
                          "now for thanks thank".split())
FAREWELL_WORDS = re.compile(r"\b(good ?bye|bye|see you|thats? all|that's all|stop listening|exit|quit)\b")
FAREWELL = "Goodbye."
log = logging.getLogger(__name__)


def is_goodbye(text: str) -> bool:
    words = normalize(text)
    return bool(words) and set(words) <= GOODBYE_WORDS and bool(FAREWELL_WORDS.search(" ".join(words)))


def is_echo(transcript: str, last_spoken: str, max_wer: float = 0.4) -> bool:
    """Did the microphone just hear the assistant? True when the transcript matches (part of) what it said."""
    heard, said = normalize(transcript), normalize(last_spoken)
    if not heard or not said:
        return False
    if " ".join(heard) in " ".join(said):
        return True
    n = len(heard)  # compare with the stretch of the reply of the same length that fits best
    best = min(wer(" ".join(said[i:i + n]), " ".join(heard)) for i in range(max(1, len(said) - n + 1)))
    return best <= max_wer


Judge = Callable[[Sequence[str], Callable[[], list[dict[str, Any]]], bool], str | None]
"""``judge(readings, history, over_reply)``: which of these readings of the same words, tried in order
(Whisper's best first, ``voicecli.text.endofturn.endings``), reads as a whole turn? The first that does,
or None. ``history()`` gives the conversation before them, asked for only by a judge that reads it (the
end-of-turn score); ``over_reply``: they were said over a reply that may still be being written (see
``judge_with``)."""


@dataclass
class _Turn:
    """A turn running in its own thread (a reply, or a held speculative one)."""

    text: str
    gate: Gate | None
    stop: threading.Event = field(default_factory=threading.Event)
    result: TurnResult | None = None
    farewell: bool = False
    thread: threading.Thread | None = None

    @property
    def done(self) -> bool:
        return self.thread is not None and not self.thread.is_alive()


@dataclass
class _Words:
    """The words judged so far in this utterance: what STT made of them, and up to where."""

    text: str
    stt_ms: float
    until_s: float  # the end of the last speech window they cover (endpointer stream time)


class TalkLoop:
    def __init__(self, session: Session, stt: WhisperSTT, endpointer: Endpointer, taker: TurnTaker, judge: Judge, *,
                 barge_in: bool, timeline: Timeline, recorder: ConversationRecorder | None = None,
                 console: Console | None = None, on_reply: Callable[[list[dict[str, Any]]], None] | None = None,
                 echo_guard: bool = True):
        self.echo_guard = echo_guard  # a microphone may hear the speaker; files never do
        self.session, self.stt, self.endpointer, self.taker, self.judge = session, stt, endpointer, taker, judge
        self.barge_in, self.timeline, self.recorder, self.console = barge_in, timeline, recorder, console
        self.on_reply = on_reply  # after each reply (the end-of-turn scorer warms its cache)
        self.counts = {"turns": 0, "empty": 0, "echo": 0}
        self.last_spoken = ""
        self.finished = False  # goodbye said
        self.reply: _Turn | None = None  # the confirmed reply (playing, or about to)
        self.held: _Turn | None = None  # a speculative reply behind its gate
        self.discarded = 0  # speculative starts thrown away in this utterance
        self.words: _Words | None = None
        self.ep_base = 0.0  # the timeline position of the endpointer's stream zero
        self.muted = False
        self.voiced_ms = 0.0
        self.last_word_s: float | None = None  # the end of the user's last word (endpointer stream time)
        self.ended: Audio | None = None  # the utterance the endpointer ended itself (its upper bound)
        self.barge_at: float | None = None  # where the user started over the reply (endpointer stream time)
        self.barge_from: float | None = None  # where the voice that held the reply began (same clock)
        self.resumed = False  # the reply went on after a hold: the canceller's output gets no lower bar (_feed)
        self.overheard = EchoHistory()  # what the echo canceller was given: words over the reply (_from_barge)

    # -- live input: the microphone, or files at speaking pace
    def listen(self, blocks: Iterable[Block], base_s: float = 0.0) -> None:
        """Take turns on a stream of blocks; ``base_s``: the timeline position of the stream's zero."""
        self.endpointer.reset()
        self.ep_base = base_s
        for block in blocks:
            if self.recorder is not None:
                self.recorder.input(block.raw, base_s + block.start_s)
            if block.near is not None and block.far is not None and self.barge_in:
                self.overheard.add(block.near, block.far, base_s + block.start_s + len(block.raw) / RATE)
            self.poll()
            if self.finished:
                return
            if self.reply is not None and not self.barge_in:
                self.muted = True  # its own voice is not the user's: drop what the microphone hears
                continue
            if self.muted:  # start clean after the reply
                self.muted = False
                self.endpointer.reset()
                self.ep_base, self.last_word_s = base_s + block.start_s, None
            self._feed(block.samples, damped=block.damped)
        self._act(self._ends(self.endpointer.flush()))

    def _ends(self, events: list) -> list[Action]:
        """The endpointer ended an utterance itself (its end-silence bound, or the end of the input)."""
        actions: list[Action] = []
        for ev in events:
            if ev.kind == "speech_end":
                self.ended = ev.audio
                actions += self.taker.utterance_ended()
        return actions

    def _feed(self, samples: np.ndarray, damped: bool = False) -> None:
        """``damped``: the samples are the echo canceller's output, which damps a voice over the reply.
        There a lower bar holds the reply sooner, until it has resumed once: after a pause the canceller
        leaks more of the echo, and at that bar a reply held itself again every second (13-16 times)."""
        ep = self.endpointer
        actions = self._ends(ep.feed(samples))
        if ep.last_speech_s is not None:
            self.last_word_s = ep.last_speech_s
        n = len(samples) / RATE * 1000.0
        bar = ep.threshold
        if damped and not self.resumed and self.taker.assistant_speaking and not self.taker.interrupting:
            bar = min(bar, self.taker.rules.barge_in_threshold)
        self.voiced_ms = self.voiced_ms + n if ep.probability >= bar else 0.0
        actions += self.taker.step(ep.speaking, ep.silence_ms, self.voiced_ms, ep.now_s)
        self._act(actions)

    def _act(self, actions: list[Action]) -> None:
        while actions:
            a = actions.pop(0)
            log.debug("%.3f %s %s silence=%.0f", self.ep_base + self.endpointer.now_s, a.act.value, a.turn_end or "",
                      self.endpointer.silence_ms)
            if a.act is Act.ANALYZE:
                actions += self._analyze()
            elif a.act is Act.SPECULATE:
                self._speculate()
            elif a.act is Act.DISCARD:
                self._discard()
            elif a.act in (Act.CONFIRM, Act.COMMIT):
                self._end_turn(a.act, a.turn_end or "silence")
            elif a.act is Act.PAUSE:
                self.session.engine.pause_playback()
                self.barge_at = self.endpointer.now_s
                self.barge_from = self.barge_at - self.voiced_ms / 1000.0  # where the voice that held it began
            elif a.act is Act.RESUME:
                self.endpointer.end_now()  # "uh-huh", a cough: not a turn
                self.words, self.barge_at = None, None
                self.session.engine.resume_playback()
                self.resumed = True
            elif a.act is Act.INTERRUPT:
                if self.reply is not None:
                    self.reply.stop.set()  # generation, synthesis and playback stop; history keeps what was heard

    # -- the actions
    def _analyze(self) -> list[Action]:
        audio = self._from_barge(self.endpointer.current(), self.barge_at)
        until = self.endpointer.last_speech_s or 0.0
        text, stt_ms, alternatives = self._transcribe(audio)
        log.debug("words %r (%.0f ms) or %r", text, stt_ms, alternatives)
        self.words = _Words(text, stt_ms, until)
        empty = not text or self._echo(text)
        over_reply = self.taker.assistant_speaking and not self.taker.interrupting
        readings = endings(text, alternatives) if not empty else []
        plausible = bool(readings) and readings[0] == text  # Whisper's best reading may end the turn here
        if self.barge_at is not None:  # words over a reply: their onset is uncertain, the score no judge of it
            readings = readings[:1] if plausible else []  # and an interruption waits for no more scores
        if over_reply:
            # how long the user has spoken: from where the endpointer heard the voice (on AEC3's output,
            # late), or from where _from_barge found it began, if earlier (less the silence since)
            voice_ms = max(((self.endpointer.last_speech_s or 0.0) - (self.barge_from or 0.0)) * 1000.0,
                           (len(audio.samples) / RATE if audio is not None else 0.0) * 1000.0
                           - self.endpointer.silence_ms - self.overheard.LEAD_MS)
            backchannel = not cuts_in(text, self.session.engine.playing_text(), voice_ms)
        else:
            backchannel = is_backchannel(text)
        t0 = time.perf_counter()  # scored before the reply may start: on 2 cores they would slow each other
        whole = (self.judge(readings, self.session.engine.prompt_so_far, over_reply)
                 if readings and not (over_reply and backchannel) else None)
        log.debug("scored %r (%.0f ms)", whole, (time.perf_counter() - t0) * 1000)
        if whole is not None and whole != text:  # another reading of the same audio is the whole turn: what was said
            self.words, plausible = _Words(whole, stt_ms, until), True
        return self.taker.judged(empty=empty, plausible=plausible, done=whole is not None, backchannel=backchannel,
                                 speculate=not is_goodbye(text))

    def _speculate(self) -> None:
        assert self.words is not None
        self.held = self._start(self.words.text, Gate())

    def _discard(self) -> None:
        if self.held is not None:
            assert self.held.gate is not None
            self.held.gate.discard()
            self.held = None
            self.discarded += 1

    def _end_turn(self, act: Act, turn_end: str) -> None:
        ended = self.endpointer.end_now()
        audio = ended.audio if ended is not None else self.ended
        last_word = self.last_word_s
        words, self.words, self.ended = self.words, None, None
        barge_at, self.barge_at = self.barge_at, None
        if words is None or (last_word is not None and last_word > words.until_s + 1e-6):  # words since: again
            text, stt_ms, _ = self._transcribe(self._from_barge(audio, barge_at))
            words = _Words(text, stt_ms, last_word or 0.0)
        heard = Heard(words.text, time.perf_counter(), words.stt_ms,
                      last_word=self.timeline.perf(self.ep_base + (last_word or words.until_s)),
                      origin=self.timeline.effective_origin, turn_end=turn_end, discarded_starts=self.discarded)
        self.discarded = 0
        held, self.held = self.held, None
        if not words.text or self._echo(words.text):
            self.counts["echo" if words.text else "empty"] += 1
            self._note(f"(ignored my own echo: “{words.text}”)" if words.text else "(heard nothing I could transcribe)")
            if held is not None and held.gate is not None:
                held.gate.discard()
            return
        if self.console is not None:
            self.console.print(f"[bold cyan]you ›[/] {words.text}")
        if act is Act.CONFIRM and held is not None and held.gate is not None:
            held.gate.open(heard)
            self.reply = held
        else:
            if held is not None and held.gate is not None:
                held.gate.discard()
            self.reply = self._start(words.text, None, heard)
        self.taker.reply_started()
        self.resumed = False

    def _start(self, text: str, gate: Gate | None, heard: Heard | None = None) -> _Turn:
        turn = _Turn(text, gate, farewell=is_goodbye(text))

        def run() -> None:
            if turn.farewell:
                turn.result = self.session.say(FAREWELL, heard=heard, stop=turn.stop)
            else:
                turn.result = self.session.turn(text, heard=heard, gate=gate, stop=turn.stop)

        turn.thread = threading.Thread(target=run, name="voicecli-turn", daemon=True)
        turn.thread.start()
        return turn

    def poll(self) -> None:
        """A reply that has ended: count it, remember what it said, listen for the next turn."""
        reply = self.reply
        if reply is None or not reply.done:
            return
        self.reply = None
        self.taker.reply_finished()
        result = reply.result
        if result is not None and not result.discarded:
            self.counts["turns"] += 1
            self.last_spoken = result.record.spoken or self.last_spoken
            if self.on_reply is not None:
                self.on_reply(self.session.engine.history)
        self.finished = reply.farewell

    def wait_idle(self) -> None:
        """Wait for the reply under way (and a held start) to end."""
        for turn in (self.reply, self.held):
            if turn is not None and turn.thread is not None:
                if turn is self.held and turn.gate is not None:
                    turn.gate.discard()
                while turn.thread.is_alive():
                    turn.thread.join(0.05)
        self.held = None
        self.poll()

    def stop(self) -> None:
        """Ctrl-C: stop what is under way."""
        for turn in (self.reply, self.held):
            if turn is not None:
                turn.stop.set()

    # -- files read at once: one turn each
    def answer_file(self, samples: np.ndarray, base_s: float) -> bool:
        """The whole file is one utterance; its end is decided as the live loop would have decided it.

        Returns False when no speech was found. The timeline is placed so that the turn is taken where
        the live loop would have taken it (after the last word, plus the silence the rules ask for).
        """
        ep = self.endpointer
        ep.reset()
        parts: list[np.ndarray] = []
        last_word: float | None = None
        step = int(RATE * 0.032)
        for i in range(0, len(samples) + step, step):
            events = ep.feed(samples[i:i + step]) if i < len(samples) else ep.flush()
            if ep.last_speech_s is not None:
                last_word = ep.last_speech_s
            parts += [ev.audio.samples for ev in events if ev.kind == "speech_end" and ev.audio is not None]
        if self.recorder is not None:
            self.recorder.input(samples, base_s)
        if not parts or last_word is None:
            return False
        t0 = time.perf_counter()
        gap = np.zeros(int(0.2 * RATE), dtype=np.float32)
        heard = np.concatenate([x for p in parts for x in (p, gap)][:-1])
        text, stt_ms, alternatives = self._transcribe(Audio(heard, RATE))
        rules = self.taker.rules
        readings = endings(text, alternatives) if rules.semantic else []
        whole = self.judge(readings, self.session.engine.prompt_so_far, False) if readings else None
        done = whole is not None
        text = whole or text  # another reading judged the whole turn is what was said (as in the live loop)
        wait_s = (rules.commit_ms if done else rules.max_silence_ms) / 1000.0
        turn_end = "semantic" if done else ("max_silence" if rules.semantic else "silence")
        if last_word + wait_s > len(samples) / RATE:  # the file ends first
            wait_s, turn_end = max(0.0, len(samples) / RATE - last_word), "end_of_input"
        self.timeline.jump_to(base_s + last_word + wait_s + (time.perf_counter() - t0))
        self.ep_base, self.last_word_s = base_s, last_word
        self.words = _Words(text, stt_ms, last_word)
        self.endpointer.reset()
        self._act([Action(Act.COMMIT, turn_end)]) if text else self._note("(heard nothing I could transcribe)")
        self.wait_idle()
        return True

    # -- helpers
    BARGE_LEAD_S = 0.3  # kept before the moment the reply was held: the onset of the user's first word

    def _from_barge(self, audio: Audio | None, barge_at: float | None) -> Audio | None:
        """Words said over the reply: the raw microphone less the reply's linear echo, from the user's
        onset (``voicecli.audio.overlap``: the echo canceller's output damps those first words). Without
        what the canceller was given, its output from where the reply was held (less ``BARGE_LEAD_S``):
        the pre-roll before that is the reply's echo (cancelled, but what is left of it Whisper reads
        as words: "The cap, ...")."""
        if audio is None or barge_at is None:
            return audio
        if self.barge_from is not None:
            now = self.ep_base + self.endpointer.now_s
            cleaned = self.overheard.cleaned(self.ep_base + self.barge_from, now)
            if cleaned is not None:
                return Audio(cleaned, RATE)
        start = self.endpointer.now_s - len(audio.samples) / RATE  # where this audio starts
        drop = int(max(0.0, barge_at - self.BARGE_LEAD_S - start) * RATE)
        return Audio(audio.samples[drop:], audio.rate)

    def _transcribe(self, audio: Audio | None) -> tuple[str, float, tuple[str, ...]]:
        """The words, what they cost (ms), and the other readings STT found almost as likely."""
        if audio is None or not len(audio.samples):
            return "", 0.0, ()
        result = self.stt.transcribe_result(audio)
        return result.text.strip(), result.stt_ms, result.alternatives

    def _echo(self, text: str) -> bool:
        return (self.echo_guard and bool(text) and not self.barge_in and bool(self.last_spoken)
                and is_echo(text, self.last_spoken))

    def _note(self, text: str) -> None:
        if self.console is not None:
            self.console.print(f"[dim]{text}[/]")


def judge_with(scorer: Any | None, threshold: float) -> Judge:
    """The words' grammar (``looks_unfinished``) and, when a scorer is given, its end-of-turn probability, for
    each reading in turn until one reads as a whole turn (a score each, ~20-50 ms: after the best reading,
    only for words that would otherwise wait for the long silence).

    A scorer sharing the chat model can be busy. Over a reply, that is the reply still being written:
    the score waits ``BUSY_WAIT_S`` at most and, with none, the grammar decides alone, so an
    interruption never waits for the reply it stops. Otherwise it is a discarded start letting go, or
    the prefetch of the next prompt after a reply (a prompt evaluation, up to ~1 s cold on 2 cores):
    the score waits ``TURN_WAIT_S`` for it, and with none still the words are not taken as a whole
    turn (only the long silence ends it). On the grammar alone, "My favorite" (tiny.en, before a pause)
    read as done and the reply was confirmed inside the user's pause (``scripts/bench_turns.py``).
    """

    def judge(readings: Sequence[str], history: Callable[[], list[dict[str, Any]]],
              over_reply: bool = False) -> str | None:
        readings = [r for r in readings if words(r) and not looks_unfinished(r)]
        if scorer is None or threshold <= 0:
            return readings[0] if readings else None
        context = history() if readings else []
        for reading in readings:
            p = scorer.probability(reading, context, wait_s=BUSY_WAIT_S if over_reply else TURN_WAIT_S,
                                   enough=threshold)
            if p is None:  # the chat model stayed busy: over a reply the grammar decides, else not a whole turn
                return reading if over_reply else None
            if p >= threshold:  # the grammar was checked above
                return reading
        return None

    return judge


BUSY_WAIT_S = 0.15  # over a reply: how long the score waits for a busy chat model (see judge_with)
TURN_WAIT_S = 1.0  # otherwise
