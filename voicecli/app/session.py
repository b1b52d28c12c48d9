"""The composition root: resolved ``Settings`` in, a running conversation out.

The only place that turns settings into stages: it checks the models a command needs (in
milliseconds, before anything loads), builds the LLM, STT, voice, sink and tools with plain values,
wires the observers (the view, the log) to the engine's event bus, and runs turns. Nothing here
knows about Typer.
"""

from __future__ import annotations

import collections
import json
import sys
from typing import Any

from rich.console import Console

from voicecli.app.log import ConversationLog, default_log_path
from voicecli.app.view import TurnView, print_error, print_warning
from voicecli.audio.files import check_writable
from voicecli.audio.sinks import make_sink
from voicecli.config import Settings, api_key_from_env, data_dir
from voicecli.engine.events import EventBus
from voicecli.engine.metrics import clean
from voicecli.engine.tools import ToolRunner
from voicecli.engine.turn import Engine, EngineConfig, TurnResult
from voicecli.engine.types import LLM, Heard
from voicecli.errors import VoicecliError
from voicecli.llm.local import LlamaCppLLM
from voicecli.llm.openai import OpenAIChatLLM
from voicecli.llm.replay import RecordingLLM, ReplayLLM
from voicecli.stt import WhisperSTT
from voicecli.tools import ToolContext, build_registry
from voicecli.tts import PiperTTS


def check_models(s: Settings, *, llm: bool = True, stt: bool = False) -> None:
    """Fail in milliseconds, before anything loads, when a model the command needs is missing."""
    s.model("tts").require()
    if llm and not s.llm and not s.llm_url:
        s.model("llm").require()
    if stt:
        s.model("stt").require()


def make_llm(s: Settings) -> LLM:
    """The LLM backend the settings ask for: ``--llm replay:FILE`` > ``--llm-url`` > the local GGUF."""
    if s.llm:
        kind, _, arg = s.llm.partition(":")
        if kind != "replay" or not arg:
            raise VoicecliError(f"--llm {s.llm}: unknown LLM source", "use --llm replay:TRACE.jsonl, or --llm-url URL")
        llm: LLM = ReplayLLM.from_file(arg, speed=s.speed)
    elif s.llm_url:
        llm = OpenAIChatLLM(s.llm_url, s.llm_model_name, api_key_from_env(), timeout_s=s.llm_timeout,
                            connect_timeout_s=s.llm_connect_timeout, deadline_s=s.llm_deadline,
                            temperature=s.temperature,
                            max_tokens=s.max_tokens)
    else:
        opts = {k: v for k, v in (("temperature", s.temperature), ("max_tokens", s.max_tokens), ("n_ctx", s.n_ctx))
                if v is not None}
        llm = LlamaCppLLM(s.model("llm").require(), **opts)
    if s.record is not None:
        check_writable(s.record, "--record")
        llm = RecordingLLM(llm, s.record)
    return llm


def make_stt(s: Settings) -> WhisperSTT:
    return WhisperSTT(s.model("stt").require(), language=s.language, fast=s.stt_fast)


def make_tts(s: Settings) -> PiperTTS:
    return PiperTTS(s.model("tts").require())


def make_tools(s: Settings, bus: EventBus, announce: Any) -> ToolRunner | None:
    """The tools (built-ins, entry points, ``--tools`` modules) and their phrases, or None with ``--no-tools``."""
    if s.no_tools:
        return None
    context = ToolContext(data_dir=data_dir(), announce=announce)
    return ToolRunner(build_registry(modules=s.tools), context, bus, timeout_s=s.tool_timeout,
                      feedback_after_ms=s.feedback_after_ms)


def emit_json(obj: Any) -> None:
    """One JSON object per line on stdout (the human view is on stderr then); never NaN or Infinity."""
    sys.stdout.write(json.dumps(clean(obj), ensure_ascii=False, allow_nan=False) + "\n")
    sys.stdout.flush()


class Session:
    """A conversation built from settings: models loaded with a spinner, observers wired, turns run."""

    def __init__(self, settings: Settings, console: Console, *, need_llm: bool = True, need_stt: bool = False,
                 tap: collections.deque | None = None):
        """``tap``: the speaker's output goes there too (the echo canceller's reference)."""
        self.settings, self.console = settings, console
        self.bus = EventBus()
        if settings.output is not None:
            check_writable(settings.output, "--output")
        check_models(settings, llm=need_llm, stt=need_stt)
        self.log: ConversationLog | None = None
        if need_llm and not settings.no_log:  # opened first: a log that cannot be written fails in milliseconds
            self.log = ConversationLog(settings.log or default_log_path(),
                                       on_error=lambda line: print_warning(line, console))
        with console.status("Loading models…", spinner="dots"):
            self.tts = make_tts(settings)
            self.stt = make_stt(settings) if need_stt else None
            self.llm = make_llm(settings) if need_llm else None  # `say` speaks given text: no model
            self.sink = make_sink(self.tts.sample_rate, output=settings.output, play=settings.play,
                                  no_audio=settings.no_audio, device=settings.output_device, tap=tap)
            tools = make_tools(settings, self.bus, self.announce) if need_llm else None
            config = EngineConfig(chunking=settings.chunking, system_prompt=settings.system_prompt if need_llm else "",
                                  tool_choice=settings.tool_choice, max_tool_rounds=settings.max_tool_rounds,
                                  history_tokens=settings.history_tokens,
                                  silence_budget_ms=settings.silence_budget_ms if need_llm else 0.0)
            self.engine = Engine(self.llm, self.tts, self.sink, self.bus, config, tools=tools)
            try:
                self.engine.warm_up()
                if self.stt is not None:
                    self.stt.warm_up()
            except BaseException:  # e.g. the server is down: one line, after background work ends
                self.engine.close()
                self.sink.close()
                raise
        self.view = TurnView(console)
        self.bus.subscribe(self.view)
        if self.log is not None:
            self.bus.subscribe(self.log)

    def turn(self, text: str, **kw: Any) -> TurnResult:
        """One turn; prints its record with ``--json`` and its failure as one line (the conversation goes on)."""
        return self._report(self.engine.turn(text, **kw))

    def say(self, text: str, *, kind: str = "say", heard: Heard | None = None, **kw: Any) -> TurnResult:
        return self._report(self.engine.speak(text, kind=kind, heard=heard, **kw))

    def announce(self, text: str) -> None:
        """A timer is due: spoken after whatever is playing, logged, never in ``--json`` (it is not a turn)."""
        self.engine.speak(text, kind="announcement")

    def _report(self, result: TurnResult) -> TurnResult:
        if result.discarded:  # a speculative start thrown away: not a turn
            return result
        if self.settings.json:
            emit_json(result.record.as_dict())
        if result.error is not None:
            print_error(result.error, self.console)
        return result

    def close(self) -> None:
        self.engine.close()
        self.view.close()
        self.sink.close()
        if self.log is not None:
            self.log.close()
