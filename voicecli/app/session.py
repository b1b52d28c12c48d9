"""Settings for a conversation command, and building the stages from them.

The CLI parses options into ``Settings``; this module resolves them (flag > env > config > default),
loads the models once, and returns the pieces the pipeline needs. Nothing here knows about Typer.
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from voicecli.audio.files import check_writable
from voicecli.config import resolve, resolve_model
from voicecli.engine.types import LLM
from voicecli.errors import VoicecliError

if TYPE_CHECKING:
    from rich.console import Console


@dataclass
class Settings:
    chunking: str | None = None
    llm: str | None = None  # "replay:FILE" or None
    llm_model: str | None = None
    llm_url: str | None = None
    llm_model_name: str | None = None
    llm_timeout: float | None = None
    stt_model: str | None = None
    voice: str | None = None
    system_prompt: str | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    n_ctx: int | None = None
    speed: float = 1.0  # replay speed
    output: Path | None = None
    play: bool = False
    no_audio: bool = False
    output_device: str | None = None
    input_device: str | None = None
    log: Path | None = None
    no_log: bool = False
    record: Path | None = None
    tools: list[Path] = field(default_factory=list)
    no_tools: bool = False
    tool_choice: str | None = None
    max_tool_rounds: int = 3
    feedback_after_ms: float | None = None
    json: bool = False
    language: str | None = None
    stt_fast: bool = True

    def resolved(self, key: str, flag: Any = None, default: Any = None) -> Any:
        return resolve(key, flag, default).value


def check_models(s: Settings, *, llm: bool = True, stt: bool = False) -> None:
    """Fail in milliseconds, before anything loads, when a model the command needs is missing."""
    resolve_model("tts", s.voice).require()
    if llm and not s.resolved("llm", s.llm) and not s.resolved("llm_url", s.llm_url):
        resolve_model("llm", s.llm_model).require()
    if stt:
        resolve_model("stt", s.stt_model).require()


def make_llm(s: Settings) -> LLM:
    """The LLM backend the settings ask for: ``--llm replay:FILE`` > ``--llm-url`` > the local GGUF."""
    spec = s.resolved("llm", s.llm)
    if spec:
        kind, _, arg = str(spec).partition(":")
        if kind != "replay" or not arg:
            raise VoicecliError(f"--llm {spec}: unknown LLM source", "use --llm replay:TRACE.jsonl, or --llm-url URL")
        from voicecli.llm.replay import ReplayLLM

        return ReplayLLM.from_file(arg, speed=s.speed)
    if s.resolved("llm_url", s.llm_url):
        from voicecli.llm.openai import from_settings

        return from_settings(s.llm_url, s.llm_model_name, s.llm_timeout, temperature=s.temperature,
                             max_tokens=s.max_tokens)
    from voicecli.llm.local import LlamaCppLLM

    path = resolve_model("llm", s.llm_model).require()
    opts = {k: v for k, v in (("temperature", s.temperature), ("max_tokens", s.max_tokens), ("n_ctx", s.n_ctx))
            if v is not None}
    return LlamaCppLLM(path, **opts)


def make_stt(s: Settings):
    from voicecli.stt import WhisperSTT

    return WhisperSTT(resolve_model("stt", s.stt_model).require(), language=s.resolved("language", s.language, "en"),
                      fast=s.stt_fast)


def make_tts(s: Settings):
    from voicecli.tts import PiperTTS

    return PiperTTS(resolve_model("tts", s.voice).require())


def make_sink(s: Settings, sample_rate: int):
    from voicecli.audio import sinks as playback

    return playback.make_sink(sample_rate, output=s.output, play=s.play, no_audio=s.no_audio,
                              device=s.resolved("output_device", s.output_device))


def make_tools(s: Settings):
    """The tool registry (built-ins, entry points, ``--tools`` modules), or None with ``--no-tools``."""
    if s.no_tools or s.resolved("no_tools", None) in (True, "1", "true"):
        return None, None
    from voicecli.tools import ToolContext, build_registry

    return build_registry(modules=s.tools), ToolContext()


def emit_json(obj: Any) -> None:
    """One JSON object per line on stdout (the human view is on stderr then)."""
    sys.stdout.write(json.dumps(obj, ensure_ascii=False) + "\n")
    sys.stdout.flush()


class Conversation:
    """Builds the engine from settings with a spinner, wires the observers, runs turns."""

    def __init__(self, settings, console: Console, *, need_llm: bool = True, need_stt: bool = False):
        from voicecli.app.log import ConversationLog
        from voicecli.app.view import TurnView
        from voicecli.engine.events import EventBus
        from voicecli.engine.turn import DEFAULT_STRATEGY, DEFAULT_SYSTEM_PROMPT, Engine, EngineConfig

        self.settings, self.console = settings, console
        self.bus = EventBus()
        chunking = settings.resolved("chunking", settings.chunking.value if settings.chunking else None,
                                     DEFAULT_STRATEGY)
        if settings.output is not None:
            check_writable(settings.output)
        check_models(settings, llm=need_llm, stt=need_stt)
        with console.status("Loading models…", spinner="dots"):
            self.tts = make_tts(settings)
            self.stt = make_stt(settings) if need_stt else None
            self.llm = make_llm(settings) if need_llm else None  # `say` speaks given text: no model
            if settings.record is not None and self.llm is not None:
                from voicecli.llm.replay import RecordingLLM

                self.llm = RecordingLLM(self.llm, settings.record)
            registry, context = make_tools(settings) if need_llm else (None, None)
            self.sink = make_sink(settings, self.tts.sample_rate)
            config = EngineConfig(
                chunking=chunking,
                system_prompt=settings.resolved("system_prompt", settings.system_prompt, DEFAULT_SYSTEM_PROMPT),
                tool_choice=settings.tool_choice, max_tool_rounds=settings.max_tool_rounds,
            )
            feedback = settings.resolved("feedback_after_ms", settings.feedback_after_ms)
            if feedback is not None:
                config.feedback_after_ms = float(feedback)
            if context is not None:
                context.announce = self.announce
            self.engine = Engine(self.llm, self.tts, self.sink, self.bus, config, tools=registry, tool_context=context)
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
        self.log = None
        if not (settings.no_log or settings.resolved("no_log", None) in (True, "1", "true")):
            self.log = ConversationLog(settings.resolved("log", settings.log))
            self.bus.subscribe(self.log)
        self._announce_lock = threading.Lock()

    def announce(self, text: str) -> None:
        """A timer is due: speak it between turns."""
        with self._announce_lock:
            self.console.print(f"[cyan]⏰ {text}[/]")
            self.sink.play(self.tts.synthesize(text))

    def turn(self, text: str, **kw) -> dict[str, Any]:
        from voicecli.errors import LLMError

        try:
            record = self.engine.turn(text, **kw)
        except LLMError as e:
            rec = getattr(e, "record", None)
            if rec is not None and self.settings.json:
                emit_json(rec)
            raise
        if self.settings.json:
            emit_json(record)
        return record

    def close(self) -> None:
        self.engine.close()
        self.view.close()
        ctx = self.engine.tool_context
        if ctx is not None:
            ctx.cancel_timers()
        self.sink.close()
        if self.log is not None:
            self.log.close()
