"""A conversation with a model: the history, and each turn as a short composition of small parts.

    turn(user)  = observed ─ speaker ─ silence watch ─ rounds of [ stream the model → chunks → speaker ;
                  run the tools ] ─ remember what the user heard ─ prefetch the next turn
    speak(text) = observed ─ speaker ─ stream the text → chunks → speaker          (say, farewell, timers)

One turn at a time: ``speak`` from a timer thread waits for the turn that is playing, so an
announcement is queued after a reply, never spoken over it. While a turn answers, a silence watch
(``voicecli.engine.holding``) says a short holding phrase whenever the user would otherwise wait in
silence longer than the budget, or tools are slow. Everything observable goes out as typed
events on the bus; ``TurnMetrics`` turns them into the turn record, the view draws them, the log
writes them.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from voicecli.engine.events import (
    ChunkReady,
    EventBus,
    Interrupted,
    LLMFinished,
    LLMRequested,
    Token,
    Transcribed,
    TurnConfirmed,
    TurnDone,
    TurnFailed,
    TurnStarted,
    UserSpeechEnded,
)
from voicecli.engine.history import NEXT_QUESTION_TOKENS, HistoryWindow
from voicecli.engine.holding import HoldingPhrases, SilenceWatch
from voicecli.engine.metrics import TurnMetrics, TurnRecord
from voicecli.engine.speaker import Gate, Speaker
from voicecli.engine.tools import ToolRunner
from voicecli.engine.types import LLM, TTS, AudioSink, Chunker, Heard, StreamItem, ToolCall
from voicecli.errors import LLMError, VoicecliError
from voicecli.text.chunking import make_chunker
from voicecli.text.speech import SpeechText
from voicecli.tools import assistant_message

INTERRUPTED_MARK = " [interrupted by the user]"
CANNOT_CONTINUE = "Sorry, I couldn't do that: {error}."
NO_ANSWER = "Sorry, I have no answer to that."


@dataclass
class EngineConfig:
    chunking: str = "adaptive"
    chunk_options: dict[str, Any] = field(default_factory=dict)
    system_prompt: str = ""
    tool_choice: str | None = None  # a tool name forces that tool in the first round
    max_tool_rounds: int = 3
    context_tokens: int = 8192  # for backends that do not know their context window (servers, replay)
    history_tokens: int = 1024  # the most of the conversation a prompt carries (its cost stays bounded)
    max_pending_chunks: int = 16  # bounded queue between the LLM and the speaker
    first_audio_first: bool = True  # pause generation while the first chunk is synthesised
    silence_budget_ms: float = 0.0  # longest silence before a holding phrase (0: none; the CLI's default is 2000)
    make_chunker: Callable[..., Chunker] = make_chunker  # (strategy, **options) -> a fresh chunker


@dataclass(frozen=True)
class TurnResult:
    """What a turn left: its record, and the failure that cut it short (the record is complete either way)."""

    record: TurnRecord
    error: VoicecliError | None = None
    discarded: bool = False  # a speculative turn thrown away: nothing of it was heard or kept


@dataclass
class _Pass:
    """What one streaming pass produced."""

    text: str = ""
    calls: list[ToolCall] = field(default_factory=list)
    failure: LLMError | None = None


class _Chunks:
    """Text deltas → chunks → speech text → the speaker, with "audio first" on the first speakable chunk.

    Audio first: on a small machine the LLM and the voice compete for the same cores. Generation is
    several times faster than speech, so pausing it while the first chunk is synthesised costs no gap
    later and gets the first audio out sooner.
    """

    def __init__(self, config: EngineConfig, speaker: Speaker, bus: EventBus):
        self.chunker = config.make_chunker(config.chunking, **config.chunk_options)
        self.speech = SpeechText()
        self.speaker, self.bus, self.audio_first = speaker, bus, config.first_audio_first
        self.count = 0

    def feed(self, text: str) -> None:
        self.say(self.chunker.feed(text))

    def flush(self) -> None:
        self.say(self.chunker.flush())

    def say(self, chunks: list[str]) -> None:
        for text in chunks:
            speech = self.speech(text)
            self.bus.emit(ChunkReady(index=self.count, text=text, speech=speech))
            self.speaker.say(self.count, text, speech)
            self.count += 1
            if self.audio_first and speech.strip() and not self.speaker.first_audio.is_set():
                self.speaker.wait_first_audio()


def _text(text: str) -> Iterator[StreamItem]:
    yield text


def _close_on_stop(items: Any, stop: threading.Event, done: threading.Event) -> None:
    """Close a cancellable stream as soon as the turn is stopped: a wait for the model ends at once."""
    while not done.wait(0.02):
        if stop.is_set():
            items.close()
            return


class Engine:
    """A conversation with a model: history, tools, and the streaming speech path of each turn."""

    def __init__(self, llm: LLM | None, tts: TTS, sink: AudioSink, bus: EventBus | None = None,
                 config: EngineConfig | None = None, tools: ToolRunner | None = None,
                 holding: HoldingPhrases | None = None):
        self.llm, self.tts, self.sink = llm, tts, sink
        self.bus = bus or EventBus()
        self.config = config or EngineConfig()
        self.tools = tools
        if holding is None and (self.config.silence_budget_ms > 0 or tools is not None):
            holding = HoldingPhrases(tts)
        self.holding = holding  # the phrases said in silences (the tools' "one moment" too)
        self._watch: SilenceWatch | None = None  # the turn under way's
        self.config.make_chunker(self.config.chunking, **self.config.chunk_options)  # fail early on a bad name/option
        self.history: list[dict[str, Any]] = []
        self.window = HistoryWindow()
        self.reset()
        self._lock = threading.Lock()  # one turn (or announcement) at a time
        self._prefetch_thread: threading.Thread | None = None
        self._speaker: Speaker | None = None  # the last one: its synthesis must end before the program does
        self._gate: Gate | None = None  # the turn under way is speculative
        self.playing_until = 0.0  # when the last audio handed over ends, on the playback clock

    def pause_playback(self) -> None:
        """Hold the reply that is playing (the user may be cutting in)."""
        if self._speaker is not None:
            self._speaker.pause()

    def resume_playback(self) -> None:
        """Go on with the reply from where it held (it was only an acknowledgement, or nothing)."""
        if self._speaker is not None:
            self._speaker.resume()

    def playing_text(self, chunks: int = 3) -> str:
        """The last ``chunks`` pieces of the reply that have started playing: what its echo may say now."""
        if self._speaker is None:
            return ""
        return " ".join(self._speaker.heard(time.perf_counter())[-chunks:])

    def prompt_so_far(self) -> list[dict[str, Any]]:
        """The conversation as the next turn's prompt begins: the window a prefetch evaluates (the whole
        history without a model). The end-of-turn score renders the user's words after it."""
        return self._prompt(expect=NEXT_QUESTION_TOKENS) if self.llm is not None else list(self.history)

    def reset(self) -> None:
        """Forget the conversation (``/reset``)."""
        self.history = [{"role": "system", "content": self.config.system_prompt}] if self.config.system_prompt else []
        self.window.reset()

    def warm_up(self) -> None:
        """Load what can be loaded before the user waits: the voice's first synthesis, the prompt prefix."""
        self.tts.warm_up()
        if self.holding is not None:
            self.holding.prepare()  # in the background: ready long before a silence runs out
        if self.llm is not None:
            self.llm.warm_up(self.history, tools=self._warm_tools())

    def close(self) -> None:
        """Let background work finish: a process that exits while onnxruntime runs in a thread aborts."""
        if self.tools is not None:
            self.tools.close()
        if self.holding is not None:
            self.holding.close()
        if self._prefetch_thread is not None:
            self._prefetch_thread.join(timeout=5.0)
        if self._speaker is not None:
            self._speaker.join(timeout=10.0)

    # -- the two kinds of turn
    def turn(self, user_text: str, *, stop: threading.Event | None = None, heard: Heard | None = None,
             gate: Gate | None = None) -> TurnResult:
        """Answer ``user_text`` by voice; the result carries the turn record (and the failure, if any).

        ``gate``: a speculative turn, held until the gate opens. Discarded, it leaves no trace: the
        history is as before, nothing was heard or logged, no tool ran; its record says ``discarded``.
        The silence budget counts from ``heard.speech_end`` (else from now: ``chat``'s request).
        """
        assert self.llm is not None, "an engine without a model can only speak()"
        stop = stop or threading.Event()
        kind = "speculative" if gate is not None else "turn"
        since = heard.speech_end if heard is not None else time.perf_counter()
        with self._lock, self._observed(kind, user_text, heard) as metrics:
            mark = len(self.history)
            self.history.append({"role": "user", "content": user_text})
            self._gate = gate
            reply, speaker, t_stop = self._speak(stop, self._answer, gate=gate, since=since)
            if gate is not None and not gate.opened:
                del self.history[mark:]
                record = metrics.record(user=user_text)
                self.bus.emit(TurnDone(record=record, kind="discarded"))
                return TurnResult(record, None, discarded=True)
            spoken = self._remember(reply, speaker, t_stop)
            result = self._finish(metrics, reply, spoken, user_text, "turn")
        if result.error is None:
            self._prefetch()
        return result

    def speak(self, text: str, *, kind: str = "say", stop: threading.Event | None = None,
              heard: Heard | None = None) -> TurnResult:
        """Say ``text`` as it is (``say``, the farewell, a timer): no model, no history."""
        stop = stop or threading.Event()
        with self._lock, self._observed(kind, heard.text if heard else text, heard) as metrics:
            reply, speaker, t_stop = self._speak(stop, lambda chunks, speaker, stop: self._stream(
                0, partial(_text, text), chunks, stop), after=self.playing_until if kind == "announcement" else 0.0)
            spoken = " ".join(speaker.heard(t_stop))
            if t_stop is not None:
                self.bus.emit(Interrupted(reason="stop", spoken_chunks=len(speaker.heard(t_stop)), t=t_stop))
            return self._finish(metrics, reply, spoken, heard.text if heard else text, kind, backend="text")

    # -- the parts
    @contextlib.contextmanager
    def _observed(self, kind: str, user: str | None, heard: Heard | None) -> Iterator[TurnMetrics]:
        metrics = TurnMetrics(self.config.chunking)
        self.bus.subscribe(metrics)
        try:
            self.bus.emit(TurnStarted(user=user, kind=kind))
            if heard is not None:
                self._heard(heard)
            yield metrics
        finally:
            self.bus.unsubscribe(metrics)

    def _speak(self, stop: threading.Event, produce: Callable[[_Chunks, Speaker, threading.Event], _Pass],
               after: float = 0.0, gate: Gate | None = None, since: float | None = None
               ) -> tuple[_Pass, Speaker, float | None]:
        """Run ``produce`` with a speaker; returns its pass, the speaker, and when the turn was stopped.

        ``after``: nothing plays before then (an announcement waits for the reply still playing).
        ``since``: watch the silences from then on (a model's turn; see ``voicecli.engine.holding``).
        """
        reply = _Pass()
        speaker = self._speaker = Speaker(self.tts, self.sink, self.bus, stop, self.config.max_pending_chunks, after,
                                          gate, lambda t: self._confirmed(gate, t))
        try:
            with speaker, self._watching(speaker, stop, since) as watch:
                chunks = _Chunks(self.config, speaker, self.bus)
                reply = produce(chunks, speaker, stop)
                if not reply.text and reply.failure is None and not stop.is_set() and not chunks.count:
                    chunks.say([NO_ANSWER])
                if watch is not None:
                    watch.finished()
                speaker.finish()
        except KeyboardInterrupt:
            stop.set()
        t_stop = time.perf_counter() if stop.is_set() else None
        self.playing_until = t_stop if t_stop is not None else max(self.playing_until, speaker.clock.end or 0.0)
        return reply, speaker, t_stop

    def _confirmed(self, gate: Gate | None, t: float) -> None:
        """A speculative turn may be heard from ``t``: what the user said is known now."""
        if gate is not None and gate.heard is not None:
            self._heard(gate.heard)
        self.bus.emit(TurnConfirmed(t=t))

    def _heard(self, heard: Heard) -> None:
        self.bus.emit(UserSpeechEnded(t=heard.speech_end, last_word=heard.last_word, origin=heard.origin,
                                      turn_end=heard.turn_end, discarded_starts=heard.discarded_starts))
        self.bus.emit(Transcribed(text=heard.text, stt_ms=heard.stt_ms))

    @contextlib.contextmanager
    def _watching(self, speaker: Speaker, stop: threading.Event, since: float | None
                  ) -> Iterator[SilenceWatch | None]:
        """The turn's silence watch, when there is a budget or tools to watch (else None)."""
        budget_s = self.config.silence_budget_ms / 1000.0
        if since is None or self.holding is None or (budget_s <= 0 and self.tools is None):
            yield None
            return
        with SilenceWatch(self.holding, speaker, self.bus, stop, budget_s=budget_s, since=since) as watch:
            self._watch = watch
            try:
                yield watch
            finally:
                self._watch = None

    def _answer(self, chunks: _Chunks, speaker: Speaker, stop: threading.Event) -> _Pass:
        """The tool-round loop: ask the model, run the tools it asks for, ask again with their results."""
        assert self.llm is not None
        llm = self.llm
        rounds = self.config.max_tool_rounds if self.tools is not None else 0
        texts: list[str] = []
        reply = _Pass()
        for rnd in range(rounds + 1):
            schemas = self._schemas() if rnd < rounds else None
            choice = self.config.tool_choice if rnd == 0 and schemas else None
            messages = self._prompt()
            reply = self._stream(rnd, partial(llm.stream, messages, tools=schemas, tool_choice=choice), chunks, stop,
                                 llm.cancellable)
            texts.append(reply.text)
            if stop.is_set() or reply.failure is not None or not reply.calls or self.tools is None or rnd == rounds:
                break  # after the last round no tools were offered: calls a model makes anyway do not run
            if self._gate is not None and not self._gate.wait(stop):  # no tool runs before the turn is sure
                stop.set()
                break
            self.history.append(assistant_message(reply.text, reply.calls))
            results = self.tools.run(reply.calls, stop, self._watch)
            self.history.extend(r.as_message() for r in results)
            if results and all(r.error for r in results) and rnd == rounds - 1:
                chunks.say([CANNOT_CONTINUE.format(error=(results[0].error or "").rstrip("."))])
        self.bus.emit(LLMFinished(backend=llm.backend))
        return _Pass("".join(texts), [], reply.failure)

    def _stream(self, rnd: int, start: Callable[[], Iterator[StreamItem]], chunks: _Chunks,
                stop: threading.Event, cancellable: bool = False) -> _Pass:
        """One streaming pass: deltas to the chunker as they arrive, tool calls collected.

        ``cancellable``: the stream may be closed from another thread, so a stop ends a wait for the
        model at once (else at the next item).
        """
        out = _Pass()
        text: list[str] = []
        self.bus.emit(LLMRequested(round=rnd))
        items = None
        done = threading.Event()
        try:
            items = start()
            if cancellable:
                threading.Thread(target=_close_on_stop, args=(items, stop, done), name="voicecli-cancel",
                                 daemon=True).start()
            for item in items:
                if stop.is_set():
                    break
                if isinstance(item, ToolCall):
                    out.calls.append(item)
                    continue
                text.append(item)
                self.bus.emit(Token(text=item))
                chunks.feed(item)
        except LLMError as e:
            out.failure = e
        finally:
            done.set()
            if items is not None:
                items.close()  # type: ignore[attr-defined]  # stops the model generating
        chunks.flush()
        out.text = "".join(text)
        return out

    def _remember(self, reply: _Pass, speaker: Speaker, t_stop: float | None) -> str:
        """Keep in the history what the user heard; returns it."""
        if t_stop is not None:
            heard = speaker.heard(t_stop)
            self.bus.emit(Interrupted(reason="stop", spoken_chunks=len(heard), t=t_stop))
            self.history.append({"role": "assistant", "content": " ".join(heard) + INTERRUPTED_MARK})
            return " ".join(heard)
        if reply.text or reply.failure is not None:
            self.history.append({"role": "assistant", "content": reply.text})
        return " ".join(speaker.heard())

    def _finish(self, metrics: TurnMetrics, reply: _Pass, spoken: str, user: str | None, kind: str,
                backend: str | None = None) -> TurnResult:
        if reply.failure is not None:
            self.bus.emit(TurnFailed(message=reply.failure.one_line()))
        record = metrics.record(spoken=spoken, user=user, backend=backend)
        self.bus.emit(TurnDone(record=record, kind=kind))
        return TurnResult(record, reply.failure)

    # -- the model's side
    def _schemas(self) -> list[dict[str, Any]] | None:
        return self.tools.schemas() if self.tools is not None else None

    def _warm_tools(self) -> list[dict[str, Any]] | None:
        """The tools the first round's prompt carries (none when one is forced: it goes in the grammar)."""
        return None if self.config.tool_choice else self._schemas()

    def _prompt(self, expect: int = 0) -> list[dict[str, Any]]:
        """The history, within what fits the model's context beside its reply (see ``HistoryWindow``).

        ``expect``: tokens still to come (a prefetch makes room for the next question now).
        """
        assert self.llm is not None
        budget = self.config.context_tokens
        if self.llm.context_tokens:
            budget = self.llm.context_tokens - self.llm.reply_tokens - 32
        return self.window.view(self.history, self.llm.count_tokens, min(budget, self.config.history_tokens), expect)

    def _prefetch(self) -> None:
        """While the user listens and answers, evaluate the conversation so far (the KV-cache prefix)."""
        if self.llm is None or not self.llm.prefetch:
            return  # a server warm-up would cost a request per turn
        llm, messages = self.llm, self._prompt(expect=NEXT_QUESTION_TOKENS)
        tools = self._warm_tools()

        def run() -> None:
            with contextlib.suppress(Exception):  # a failed prefetch only means the next turn evaluates more
                llm.warm_up(messages, tools=tools)

        self._prefetch_thread = threading.Thread(target=run, name="voicecli-prefetch", daemon=True)
        self._prefetch_thread.start()
