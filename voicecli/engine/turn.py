"""One conversation: LLM tokens → chunker → speech text → TTS → sink, overlapped, turn after turn.

Concurrency, in one picture:

    caller thread:  llm.stream() ─token─▶ chunker ─chunk─▶ [bounded queue] ─▶ speaker thread
                                                                                 │ tts.synthesize
                                                                                 ▼
                                                                          sink.play (its own
                                                                          bounded queue/callback)

While chunk N plays, the speaker synthesises chunk N+1 and the LLM keeps generating. A stop event
(Ctrl-C, barge-in) is checked between tokens and between chunks; ``sink.stop()`` silences playback
at once. Everything observable goes out as events on the bus; ``TurnMetrics`` turns them into the
turn record, the view draws them, the log writes them.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from voicecli.engine.clock import PlaybackClock
from voicecli.engine.events import EventBus
from voicecli.engine.metrics import TurnMetrics
from voicecli.engine.types import LLM, TTS, AudioSink, ToolCall
from voicecli.errors import LLMError
from voicecli.text.chunking import make_chunker
from voicecli.text.speech import SpeechText

# Measured on the embedded SmolLM2-135M: longer prompts ("your replies are spoken aloud, no lists, no
# markdown...") made it answer in French or apologise; this one keeps it short and on topic.
DEFAULT_SYSTEM_PROMPT = "You are a friendly voice assistant. Keep answers short: one or two plain sentences."
DEFAULT_STRATEGY = "adaptive"
INTERRUPTED_MARK = " [interrupted by the user]"
CANNOT_CONTINUE = "Sorry, I couldn't do that: {error}."


@dataclass
class EngineConfig:
    chunking: str = DEFAULT_STRATEGY
    chunk_options: dict[str, Any] = field(default_factory=dict)
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    tool_choice: str | None = None  # a tool name forces that tool in the first round
    max_tool_rounds: int = 3
    tool_timeout_s: float = 10.0
    feedback_after_ms: float = 400.0  # say "one moment" unless the tools finish sooner
    feedback_phrases: Sequence[str] | None = None
    context_tokens: int = 8192  # for backends that do not say (servers, replay)
    max_pending_chunks: int = 16  # bounded queue between the LLM and the speaker
    first_audio_first: bool = True  # pause generation while the first chunk is synthesised


def trim_history(messages: list[dict[str, Any]], count: Callable[[str], int], budget: int) -> list[dict[str, Any]]:
    """Drop the oldest turns (a user message and what followed it) until the prompt fits ``budget``.

    The system prompt and the latest user turn are always kept.
    """

    def size(msgs: list[dict[str, Any]]) -> int:
        return sum(count(str(m.get("content") or "")) + 4 for m in msgs)

    head = messages[:1] if messages and messages[0].get("role") == "system" else []
    body = messages[len(head):]
    starts = [i for i, m in enumerate(body) if m.get("role") == "user"]
    while len(starts) > 1 and size(head + body) > budget:
        body = body[starts[1]:]
        starts = [i for i, m in enumerate(body) if m.get("role") == "user"]
    return head + body


class Speaker(threading.Thread):
    """The TTS stage: takes chunks in order, synthesises each, hands the audio to the sink."""

    _DONE = object()

    def __init__(self, tts: TTS, sink: AudioSink, bus: EventBus, stop: threading.Event, maxsize: int):
        super().__init__(name="voicecli-speaker", daemon=True)
        self.tts, self.sink, self.bus, self.stop = tts, sink, bus, stop
        self.queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self.clock = PlaybackClock()
        self.spoken: list[tuple[int, str, float]] = []  # (index, text, start on the clock): what was heard
        self.first_audio = threading.Event()
        self.error: BaseException | None = None

    def say(self, index: int, text: str, spoken: str) -> None:
        self._put(("text", index, text, spoken))

    def say_audio(self, text: str, audio: np.ndarray) -> None:
        self._put(("audio", -1, text, audio))

    def finish(self) -> None:
        self._put(self._DONE)

    def _put(self, item: Any) -> None:
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        try:
            while True:
                try:
                    item = self.queue.get(timeout=0.05)
                except queue.Empty:
                    if self.stop.is_set():
                        return
                    continue
                if item is self._DONE:
                    if not self.stop.is_set():
                        self.sink.drain()
                    return
                if self.stop.is_set():
                    continue
                kind, index, text, payload = item
                if kind == "audio":
                    audio = payload
                    self.clock.add(time.perf_counter(), len(audio) / self.tts.sample_rate)
                    self.bus.emit("tool_feedback", text=text, audio_ms=len(audio) / self.tts.sample_rate * 1000.0)
                    self.sink.play(audio)
                    continue
                if not payload.strip():  # nothing speakable (an emoji, a code fence)
                    continue
                self.bus.emit("synth_start", index=index)
                audio = self.tts.synthesize(payload)
                if self.stop.is_set():
                    return
                t_ready = time.perf_counter()
                audio_s = len(audio) / self.tts.sample_rate
                self.bus.emit("synth_end", t=t_ready, index=index, text=text, audio_ms=audio_s * 1000.0)
                self.first_audio.set()
                slot = self.clock.add(t_ready, audio_s)
                self.spoken.append((index, text, slot.start))
                self.bus.emit("audio_start", t=slot.start, index=index, end=slot.end)
                self.sink.play(audio)
        except BaseException as e:  # surfaced by the turn, never lost in a thread
            self.error = e
            self.stop.set()


def _quietly(fn: Callable[..., Any], *args: Any, **kw: Any) -> None:
    try:
        fn(*args, **kw)
    except Exception:  # a failed prefetch only means the next turn evaluates more of its prompt
        pass


class Engine:
    """A conversation with a model: history, tools, and the streaming speech path for each turn."""

    def __init__(self, llm: LLM, tts: TTS, sink: AudioSink, bus: EventBus | None = None,
                 config: EngineConfig | None = None, tools=None, tool_context=None):
        self.llm, self.tts, self.sink = llm, tts, sink
        self.bus = bus or EventBus()
        self.config = config or EngineConfig()
        self.tools = tools  # a voicecli.tools Registry, or None
        self.tool_context = tool_context
        make_chunker(self.config.chunking, **self.config.chunk_options)  # fail early on a bad name/option
        self.history: list[dict[str, Any]] = []
        self.reset()
        self._feedback_audio: dict[str, np.ndarray] = {}
        self._picker = None
        self._feedback_thread: threading.Thread | None = None
        self._prefetch_thread: threading.Thread | None = None
        if self.tools is not None:
            from voicecli.tools import FeedbackPicker

            self._picker = FeedbackPicker(self._phrases())
            self._feedback_thread = threading.Thread(target=self._prepare_feedback, name="voicecli-feedback",
                                                     daemon=True)
            self._feedback_thread.start()

    def warm_up(self) -> None:
        """Load what can be loaded before the user waits: the voice's first synthesis, the prompt prefix."""
        warm = getattr(self.tts, "warm_up", None)
        if warm is not None:
            warm()
        warm = getattr(self.llm, "warm_up", None)
        if warm is not None:
            warm(self.history, tools=self.tools.schemas() if self.tools is not None and not self.config.tool_choice else None)

    def _prefetch(self) -> None:
        """While the user listens and answers, evaluate the conversation so far (the KV-cache prefix)."""
        warm = getattr(self.llm, "warm_up", None)
        if warm is None or not hasattr(self.llm, "n_ctx"):
            return  # only local models: a server warm-up would cost a request per turn
        count, budget = self._budget()
        history = trim_history(self.history, count, budget)
        tools = self.tools.schemas() if self.tools is not None and not self.config.tool_choice else None
        self._prefetch_thread = threading.Thread(target=lambda: _quietly(warm, history, tools=tools),
                                                 name="voicecli-prefetch", daemon=True)
        self._prefetch_thread.start()

    def close(self) -> None:
        """Let background synthesis finish: a process that exits while onnxruntime runs in a thread aborts."""
        for thread in (self._feedback_thread, self._prefetch_thread):
            if thread is not None:
                thread.join(timeout=5.0)

    # -- conversation state
    def reset(self) -> None:
        self.history = [{"role": "system", "content": self.config.system_prompt}] if self.config.system_prompt else []

    def _budget(self) -> tuple[Callable[[str], int], int]:
        count = getattr(self.llm, "count_tokens", None)
        n_ctx = getattr(self.llm, "n_ctx", None)
        if count and n_ctx:
            reserve = getattr(self.llm, "params", {}).get("max_tokens", 256) + 32
            return count, n_ctx - reserve
        return (lambda s: len(s) // 4 + 1), self.config.context_tokens

    # -- tools
    def _phrases(self) -> list[str]:
        from voicecli.tools import FEEDBACK_PHRASES

        phrases = self.config.feedback_phrases
        return list(FEEDBACK_PHRASES if phrases is None else phrases)

    def _prepare_feedback(self) -> None:
        """Synthesise the "one moment" phrases ahead of time so they play with no delay."""
        for phrase in self._picker.phrases if self._picker else ():
            try:
                self._feedback_audio[phrase] = self.tts.synthesize(phrase)
            except Exception:
                return

    def _feedback(self) -> tuple[str, np.ndarray] | None:
        phrase = self._picker.pick() if self._picker else None
        if phrase is None:
            return None
        audio = self._feedback_audio.get(phrase)
        if audio is None:
            audio = self.tts.synthesize(phrase)
        return phrase, audio

    def _run_tools(self, calls: list[ToolCall], speaker: Speaker, stop: threading.Event) -> list:
        from voicecli.tools import run_tool_calls

        box: dict[str, Any] = {}
        worker = threading.Thread(
            target=lambda: box.setdefault("results", run_tool_calls(
                calls, self.tools, timeout_s=self.config.tool_timeout_s, context=self.tool_context)),
            name="voicecli-tools", daemon=True)
        worker.start()
        always = self.config.feedback_after_ms <= 0  # 0: speak the phrase whatever the tools take
        if not always:
            worker.join(self.config.feedback_after_ms / 1000.0)
        if (always or worker.is_alive()) and not stop.is_set():
            feedback = self._feedback()
            if feedback is not None:
                speaker.say_audio(*feedback)
        while worker.is_alive():
            worker.join(0.05)
            if stop.is_set():
                return []
        results = box.get("results", [])
        for r in results:
            self.bus.emit("tool_call", **r.as_record())
        return results

    # -- one turn
    def turn(self, user_text: str, *, stop: threading.Event | None = None, speech_end: float | None = None,
             transcript: str | None = None, stt_ms: float | None = None, reply: str | None = None) -> dict[str, Any]:
        """Answer ``user_text`` by voice; returns the turn record. Raises ``LLMError`` after recording a failed turn.

        ``reply`` speaks that text instead of asking the model (the farewell after "goodbye").
        """
        stop = stop or threading.Event()
        metrics = TurnMetrics(self.config.chunking)
        self.bus.subscribe(metrics)
        self.bus.emit("turn_start", user=user_text)
        if speech_end is not None:
            self.bus.emit("speech_end", t=speech_end)
        if transcript is not None:
            self.bus.emit("stt_done", transcript=transcript, stt_ms=stt_ms or 0.0)
        self.history.append({"role": "user", "content": user_text})
        speaker = Speaker(self.tts, self.sink, self.bus, stop, self.config.max_pending_chunks)
        self.sink.start()
        speaker.start()
        chunker = make_chunker(self.config.chunking, **self.config.chunk_options)
        clean = SpeechText()
        index = 0
        text_all: list[str] = []
        failure: LLMError | None = None
        t_stop: float | None = None

        def emit_chunks(chunks: list[str]) -> None:
            nonlocal index
            for c in chunks:
                spoken = clean(c)
                self.bus.emit("chunk_ready", index=index, text=c, spoken=spoken)
                speaker.say(index, c, spoken)
                index += 1
                if self.config.first_audio_first and spoken.strip() and not speaker.first_audio.is_set():
                    # Audio first: on a small machine the LLM and the voice compete for the same cores.
                    # Generation is several times faster than speech, so pausing it while the first
                    # chunk is synthesised costs no gap later and gets the first audio out sooner.
                    while not speaker.first_audio.wait(0.01) and not stop.is_set() and speaker.is_alive():
                        pass

        llm = self.llm
        if reply is not None:
            from voicecli.llm.replay import ReplayLLM

            llm = ReplayLLM.scripted(reply, speed=0)
            llm.backend = "text"
        try:
            count, budget = self._budget()
            rounds = self.config.max_tool_rounds if self.tools is not None and reply is None else 0
            for rnd in range(rounds + 1):
                schemas = self.tools.schemas() if self.tools is not None and rnd < rounds else None
                choice = self.config.tool_choice if rnd == 0 and schemas else None
                round_text: list[str] = []
                calls: list[ToolCall] = []
                self.bus.emit("llm_request", round=rnd)
                gen = llm.stream(trim_history(self.history, count, budget), tools=schemas, tool_choice=choice)
                try:
                    for item in gen:
                        if stop.is_set():
                            break
                        if isinstance(item, ToolCall):
                            calls.append(item)
                            continue
                        round_text.append(item)
                        self.bus.emit("token", text=item)
                        emit_chunks(chunker.feed(item))
                except LLMError as e:
                    failure = e
                finally:
                    gen.close()
                emit_chunks(chunker.flush())
                text_all.extend(round_text)
                if stop.is_set() or failure or not calls:
                    break
                from voicecli.tools import assistant_message

                self.history.append(assistant_message("".join(round_text), calls))
                results = self._run_tools(calls, speaker, stop)
                self.history.extend(r.as_message() for r in results)
                if results and all(r.error for r in results) and rnd == rounds - 1:
                    emit_chunks([CANNOT_CONTINUE.format(error=results[0].error.rstrip("."))])
            self.bus.emit("llm_done", backend=llm.backend)
            if not text_all and not failure and not stop.is_set() and index == 0:
                emit_chunks(["Sorry, I have no answer to that."])
            speaker.finish()
            while speaker.is_alive():
                speaker.join(0.05)
                if stop.is_set():
                    break
        except KeyboardInterrupt:
            stop.set()
        if stop.is_set():
            t_stop = time.perf_counter()
            self.sink.stop()
            speaker.join(0.5)
        if speaker.error is not None and not isinstance(speaker.error, KeyboardInterrupt):
            self.bus.unsubscribe(metrics)
            raise speaker.error

        response = "".join(text_all)
        if t_stop is not None:
            heard = [text for _, text, start in speaker.spoken if start <= t_stop]
            spoken_text = " ".join(heard)
            self.bus.emit("interrupted", reason="stop", spoken_chunks=len(heard))
            self.history.append({"role": "assistant", "content": spoken_text + INTERRUPTED_MARK})
        else:
            spoken_text = " ".join(text for _, text, _ in speaker.spoken)
            if response or failure:
                self.history.append({"role": "assistant", "content": response})
        if failure is not None:
            self.bus.emit("error", message=failure.one_line())
        record = metrics.record(spoken=spoken_text, backend=llm.backend, user=user_text)
        if reply is None and failure is None:
            self._prefetch()
        self.bus.emit("turn_done", record=record)
        self.bus.unsubscribe(metrics)
        if failure is not None:
            failure.record = record  # type: ignore[attr-defined]
            raise failure
        return record

