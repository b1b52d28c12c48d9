"""Settings for a conversation command, and building the stages from them.

The CLI parses options into ``Settings``; this module resolves them (flag > env > config > default),
loads the models once, and returns the pieces the pipeline needs. Nothing here knows about Typer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicecli.audio import check_writable
from voicecli.config import resolve, resolve_model
from voicecli.errors import VoicecliError
from voicecli.interfaces import LLM


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
    json: bool = False

    def resolved(self, key: str, flag: Any = None, default: Any = None) -> Any:
        return resolve(key, flag, default).value


def make_llm(s: Settings) -> LLM:
    """The LLM backend the settings ask for: ``--llm replay:FILE`` > ``--llm-url`` > the local GGUF."""
    spec = s.resolved("llm", s.llm)
    if spec:
        kind, _, arg = str(spec).partition(":")
        if kind != "replay" or not arg:
            raise VoicecliError(f"--llm {spec}: unknown LLM source", "use --llm replay:TRACE.jsonl, or --llm-url URL")
        from voicecli.llm.replay import ReplayLLM

        return ReplayLLM.from_file(arg, speed=s.speed)
    url = s.resolved("llm_url", s.llm_url)
    if url:
        from voicecli.llm.openai import OpenAIChatLLM

        opts: dict[str, Any] = {}
        timeout = s.resolved("llm_timeout", s.llm_timeout)
        if timeout is not None:
            opts["timeout_s"] = float(timeout)
        return OpenAIChatLLM(url, s.resolved("llm_model_name", s.llm_model_name), temperature=s.temperature,
                             max_tokens=s.max_tokens, **opts)
    from voicecli.llm.local import LlamaCppLLM

    path = resolve_model("llm", s.llm_model).require()
    opts = {k: v for k, v in (("temperature", s.temperature), ("max_tokens", s.max_tokens), ("n_ctx", s.n_ctx))
            if v is not None}
    return LlamaCppLLM(path, **opts)


def make_tts(s: Settings):
    from voicecli.tts import PiperTTS

    return PiperTTS(resolve_model("tts", s.voice).require())


def make_sink(s: Settings, sample_rate: int):
    from voicecli import playback

    if s.output is not None:
        check_writable(s.output)
    return playback.make_sink(sample_rate, output=s.output, play=s.play, no_audio=s.no_audio,
                              device=s.resolved("output_device", s.output_device))


def make_tools(s: Settings):
    """The tool registry (built-ins, entry points, ``--tools`` modules), or None with ``--no-tools``."""
    if s.no_tools or s.resolved("no_tools", None) in (True, "1", "true"):
        return None, None
    from voicecli.tools import ToolContext, build_registry

    return build_registry(modules=s.tools), ToolContext()
