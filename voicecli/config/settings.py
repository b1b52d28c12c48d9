"""Settings, decided once: every option declared once, resolved once, validated once.

Each field of :class:`Settings` *is* the option's declaration (its default, help text, panel, the
commands that take it, its range): the CLI builds its flags from these fields, the environment
variable is ``VOICECLI_`` + the key upper-cased, the config file key is the key itself. Precedence
for every value: command-line flag > ``VOICECLI_*`` environment variable > config file (TOML,
``$VOICECLI_CONFIG`` or ``config.toml`` in the platform's user config directory) > default. The
source of each value is kept (``Settings.sources``) for ``voicecli models`` and ``doctor``.

Options marked ``per_run`` (input and output files, ``--json``, ``--realtime``...) describe one
invocation and are flags only. Everything else can be set in all three places.

Parsing is one rule per type, the same for every option and layer: booleans accept
1/true/yes/on and 0/false/no/off (anything else is an error); numbers must be finite and in range;
an unknown config key is a one-line warning naming the nearest known key. Stage modules never read
the environment or the config file: they receive plain values from the composition root
(``voicecli.app.session``).
"""

from __future__ import annotations

import difflib
import os
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from voicecli.config.models import ROLES, ResolvedModel
from voicecli.config.parse import Option, env_name, parse
from voicecli.config.paths import config_path, models_dir
from voicecli.errors import VoicecliError
from voicecli.text.chunking import STRATEGIES
from voicecli.text.endofturn import LM_DONE_THRESHOLD

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

# The system prompt the embedded SmolLM2-135M follows: longer prompts ("your replies are spoken aloud,
# no lists, no markdown...") made it answer in French or apologise; this one keeps it short and on topic.
DEFAULT_SYSTEM_PROMPT = "You are a friendly voice assistant. Keep answers short: one or two plain sentences."


CHAT, TALK, SAY, TRANSCRIBE, MODELS, BENCH = "chat", "talk", "say", "transcribe", "models", "bench"
CONVERSATION = frozenset({CHAT, TALK})
SPEAKING = frozenset({CHAT, TALK, SAY})

P_MODELS, P_LLM, P_AUDIO, P_LISTEN, P_OUT, P_TOOLS = "Models", "LLM", "Audio", "Listening", "Output", "Tools"


def option(default: Any, help: str, commands: Iterable[str], **kw: Any) -> Any:
    """A settings field that declares its option (see :class:`Option`)."""
    meta = {"option": Option(help, frozenset(commands), **kw)}
    if isinstance(default, list):
        return field(default_factory=lambda: list(default), metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """Every option of every command, resolved: flag > env > config file > default."""

    # Models
    llm_model: Path | None = option(None, "GGUF model file (default: the embedded SmolLM2-135M).",
                                    CONVERSATION | {MODELS, BENCH}, panel=P_MODELS)
    stt_model: Path | None = option(None, "faster-whisper model directory (default: the embedded tiny.en).",
                                    {TALK, TRANSCRIBE, MODELS}, panel=P_MODELS)
    voice: Path | None = option(None, "Piper voice .onnx, with its .onnx.json beside it (default: the embedded joe).",
                                SPEAKING | {MODELS, BENCH}, panel=P_MODELS)
    language: str = option("en", "Spoken language code (tiny.en understands en only; 'auto' to detect).",
                           {TALK, TRANSCRIBE}, panel=P_MODELS)
    stt_fast: bool = option(True, "Whisper on a window sized to the utterance (fast), or the library's 30 s window.",
                            {TALK, TRANSCRIBE}, panel=P_MODELS, flag="--stt-fast/--stt-library")
    # The reply
    chunking: str = option("adaptive", "How the reply is cut into speakable pieces (adaptive: the benchmark's best).",
                           SPEAKING, short="-c", choices=STRATEGIES)
    silence_budget_ms: float = option(2000.0, "Never leave the user in silence longer than this: a short holding "
                                      'phrase ("One moment.") fills a slow model\'s wait (0: off).', CONVERSATION,
                                      low=0, high=60000, unit="milliseconds", example="2000")
    # LLM
    llm: str | None = option(None, "replay:TRACE.jsonl replays a recorded token stream instead of a live model.",
                             CONVERSATION, panel=P_LLM, example="replay:trace.jsonl")
    llm_url: str | None = option(None, "OpenAI-compatible server, e.g. http://127.0.0.1:8080/v1.", CONVERSATION,
                                 panel=P_LLM, example="http://127.0.0.1:8080/v1")
    llm_model_name: str | None = option(None, "Model name to ask the server for.", CONVERSATION, panel=P_LLM)
    llm_timeout: float = option(60.0, "Seconds to wait for the server between streamed pieces.", CONVERSATION,
                                panel=P_LLM, low=0, high=3600, exclusive=True, unit="seconds", example="30")
    llm_connect_timeout: float = option(5.0, "Seconds to wait for the server's connection.", CONVERSATION,
                                        panel=P_LLM, low=0, high=600, exclusive=True, unit="seconds", example="10")
    llm_deadline: float = option(300.0, "Seconds the server may take for a whole reply (its own time, not "
                                 "the time spent speaking).", CONVERSATION, panel=P_LLM, low=0, high=86400,
                                 exclusive=True, unit="seconds", example="120")
    system_prompt: str = option(DEFAULT_SYSTEM_PROMPT, "System prompt.", CONVERSATION, panel=P_LLM, flag="--system")
    temperature: float | None = option(None, "Sampling temperature (default: greedy for the local model).",
                                       CONVERSATION, panel=P_LLM, low=0, high=5, example="0.7")
    max_tokens: int | None = option(None, "Longest reply, in tokens.", CONVERSATION, panel=P_LLM, low=1,
                                    high=32768, example="256")
    n_ctx: int | None = option(None, "Context window of the local model, in tokens (default: 2048).",
                               CONVERSATION, panel=P_LLM, low=256, high=1 << 20, example="4096")
    history_tokens: int = option(1024, "The most of the conversation a prompt carries, in tokens: older turns "
                                 "are forgotten a few at a time, so each turn's cost stays flat.", CONVERSATION,
                                 panel=P_LLM, low=64, high=1 << 20, example="1024")
    speed: float = option(1.0, "Replay speed for --llm replay: (2 = twice as fast, 0 = as fast as possible).",
                          CONVERSATION | {BENCH}, panel=P_LLM, low=0, high=1000, example="1")
    record: Path | None = option(None, "Append each LLM response with its timing to this trace file "
                                 "(for `voicecli bench --traces`).", CONVERSATION, panel=P_LLM, per_run=True)
    # Tools
    tools: list[Path] = option([], "A Python module with your own tools (repeatable; env: paths joined by "
                               f"{os.pathsep!r}).", CONVERSATION | {"tools"}, panel=P_TOOLS)
    no_tools: bool = option(False, "Disable tools.", CONVERSATION, panel=P_TOOLS)
    tool_choice: str | None = option(None, "Force this tool in the first round (small models choose badly "
                                     "on their own).", CONVERSATION, panel=P_TOOLS, example="calculate")
    max_tool_rounds: int = option(3, "Tool rounds a turn may take before it must answer.", CONVERSATION,
                                  panel=P_TOOLS, low=0, high=10, example="3")
    tool_timeout: float = option(10.0, "Seconds a tool may run.", CONVERSATION, panel=P_TOOLS, low=0, high=600,
                                 exclusive=True, unit="seconds", example="10")
    feedback_after_ms: float = option(400.0, 'Say a short "one moment" when tools take longer than this '
                                      "(0: always).", CONVERSATION, panel=P_TOOLS, low=0, high=60000,
                                      unit="milliseconds", example="400")
    # Listening (talk)
    barge_in: bool | None = option(None, "Let your voice cut the reply short (default: on with echo cancellation; "
                                   "without it, the microphone is muted while the assistant speaks).", {TALK},
                                   panel=P_LISTEN, flag="--barge-in/--no-barge-in")
    aec: bool | None = option(None, "Echo cancellation on the microphone, so the assistant never hears itself "
                              "through the speakers (default: on when available).", {TALK}, panel=P_LISTEN,
                              flag="--aec/--no-aec")
    vad_threshold: float = option(0.5, "Speech probability that counts as speech.", {TALK}, panel=P_LISTEN,
                                  low=0, high=1, exclusive=True, example="0.5")
    turn_silence_ms: float = option(200.0, "Silence that ends your turn when your words sound finished.", {TALK},
                                    panel=P_LISTEN, low=32, high=10000, unit="milliseconds", example="200")
    end_silence_ms: float = option(1200.0, "Silence that ends your turn in any case, e.g. after \"set a timer "
                                   "for...\" (the upper bound).", {TALK}, panel=P_LISTEN, low=32, high=10000,
                                   unit="milliseconds", example="1200")
    eot_threshold: float = option(LM_DONE_THRESHOLD, "How sure the embedded language model must be that your words "
                                  "are a whole turn (0: their grammar alone decides).", {TALK}, panel=P_LISTEN, low=0,
                                  high=1, example=str(LM_DONE_THRESHOLD))
    min_speech_ms: float = option(250.0, "Shortest sound taken as speech.", {TALK}, panel=P_LISTEN, low=0,
                                  high=5000, unit="milliseconds", example="250")
    pre_roll_ms: float = option(300.0, "Audio kept from before speech was detected.", {TALK}, panel=P_LISTEN,
                                low=0, high=2000, unit="milliseconds", example="300")
    # Audio devices
    input_device: str | None = option(None, "Microphone: index or part of the name (see `voicecli devices`).",
                                      {TALK}, panel=P_AUDIO)
    output_device: str | None = option(None, "Speaker: index or part of the name (see `voicecli devices`).",
                                       SPEAKING, panel=P_AUDIO)
    # Output
    no_audio: bool = option(False, "No playback and no file: text and metrics only.", SPEAKING, panel=P_OUT)
    log: Path | None = option(None, "Conversation log, JSON Lines (default: conversations.jsonl in the user "
                              "data directory).", CONVERSATION, panel=P_OUT)
    no_log: bool = option(False, "Do not write the conversation log.", CONVERSATION, panel=P_OUT)
    # Per run: flags only
    input: list[Path] = option([], "Take the user's speech from this WAV file instead of the microphone "
                               "(repeatable: one turn per file).", {TALK}, short="-i", per_run=True)
    conversation_wav: Path | None = option(None, "Record the conversation: a two-channel WAV on one timeline, 1 what "
                                           "the input heard, 2 what the assistant played.", {TALK}, panel=P_OUT,
                                           per_run=True)
    realtime: bool = option(False, "With --input: feed the files at speaking pace, as a microphone would "
                            "(for benchmarks).", {TALK}, panel=P_AUDIO, per_run=True)
    output: Path | None = option(None, "Write what the assistant says to this WAV file (instead of playing it).",
                                 SPEAKING, panel=P_OUT, short="-o", per_run=True)
    play: bool = option(False, "With --output: play it as well.", SPEAKING, panel=P_OUT, per_run=True)
    json: bool = option(False, "One JSON record per line on stdout; the human view goes to stderr.",
                        SPEAKING | {TRANSCRIBE, MODELS, "devices", "doctor", "tools", "fetch"}, panel=P_OUT, per_run=True)

    sources: Mapping[str, str] = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def load(cls, flags: Mapping[str, Any] | None = None, *, command: str | None = None,
             environ: Mapping[str, str] | None = None, config: Mapping[str, Any] | None = None,
             warn: Callable[[str], None] | None = None) -> Settings:
        """Resolve the options of ``command`` (all of them when None); the others keep their defaults.

        ``flags`` maps keys to what the command line gave (``None``: not given). ``environ`` and
        ``config`` default to ``os.environ`` and the config file. Raises one-line ``VoicecliError``s.
        """
        flags = flags or {}
        environ = os.environ if environ is None else environ
        if config is None:
            config = load_config(warn)
        values: dict[str, Any] = {}
        sources: dict[str, str] = {}
        for f in OPTION_FIELDS:
            opt: Option = f.metadata["option"]
            if command is not None and command not in opt.commands:
                continue
            raw, source = _pick(f.name, opt, flags, environ, config)
            if source != "default":
                values[f.name] = parse(f.name, FIELD_TYPES[f.name], opt, raw, source)
                sources[f.name] = source
        return replace(cls(), **values, sources={k: sources.get(k, "default") for k in OPTION_KEYS})

    def source(self, key: str) -> str:
        return self.sources.get(key, "default")

    def model(self, role: str) -> ResolvedModel:
        """Where the model for ``role`` ("stt", "llm", "tts") is, and where that setting came from."""
        spec = ROLES[role]
        value = getattr(self, spec.key)
        if value is None:
            return ResolvedModel(role, models_dir() / spec.default_rel, "default")
        return ResolvedModel(role, Path(value).expanduser(), self.source(spec.key))


OPTION_FIELDS = tuple(f for f in fields(Settings) if "option" in f.metadata)
OPTION_KEYS = tuple(f.name for f in OPTION_FIELDS)
FIELD_TYPES: dict[str, str] = {f.name: str(f.type) for f in OPTION_FIELDS}


def options_for(command: str) -> list[tuple[str, Option, str]]:
    """``(key, option, type)`` of every option ``command`` takes, in declaration order."""
    return [(f.name, f.metadata["option"], FIELD_TYPES[f.name]) for f in OPTION_FIELDS
            if command in f.metadata["option"].commands]


def _pick(key: str, opt: Option, flags: Mapping[str, Any], environ: Mapping[str, str],
          config: Mapping[str, Any]) -> tuple[Any, str]:
    given = flags.get(key)
    if given is not None and given != []:
        return given, "flag"
    if opt.per_run:
        return None, "default"
    env = environ.get(env_name(key))
    if env not in (None, ""):
        return env, f"env {env_name(key)}"
    if key in config:
        return config[key], f"config {config_path()}"
    return None, "default"


# --- the config file ------------------------------------------------------------------------------

@lru_cache(maxsize=8)
def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            data = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e).splitlines()[0][:160]
        raise VoicecliError(f"cannot read the config file {path}: {reason}",
                            "fix the TOML syntax (UTF-8 text) or point VOICECLI_CONFIG at another file") from None
    return data


def unknown_config_keys(config: Mapping[str, Any]) -> list[str]:
    """One warning per key no option knows, naming the nearest known key."""
    known = [k for k, o in zip(OPTION_KEYS, (f.metadata["option"] for f in OPTION_FIELDS)) if not o.per_run]
    out = []
    for key in config:
        if key in known:
            continue
        near = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
        out.append(f"unknown key {key!r} in the config file {config_path()}"
                   + (f" (did you mean {near[0]!r}?)" if near else " (ignored)"))
    return out


_warned: set[str] = set()


def load_config(warn: Callable[[str], None] | None = None) -> dict[str, Any]:
    """The config file's table (empty when there is none); unknown keys are warned about once."""
    config = _read_config(config_path())
    if warn is not None:
        for line in unknown_config_keys(config):
            if line not in _warned:
                _warned.add(line)
                warn(line)
    return config


def resolve_model(role: str, flag: str | os.PathLike[str] | None = None) -> ResolvedModel:
    """One model's path and source, from a flag value and the other layers (for scripts and tests)."""
    key = ROLES[role].key
    return Settings.load({key: flag}, command=MODELS).model(role)
