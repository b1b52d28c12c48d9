"""What the benchmark replays: the bundled prompts and traces, the seeded live model, and recording.

Traces are recorded with :func:`record_traces` (``voicecli bench --record FILE.jsonl``); the bundled
set ``voicecli/bench/data/traces/default.jsonl`` was recorded from the embedded SmolLM2-135M over
``voicecli/bench/data/prompts.txt``, each prompt as the first turn after the default system prompt,
with a fixed sampling seed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from voicecli.config import DEFAULT_SYSTEM_PROMPT
from voicecli.engine.types import LLM, StreamItem
from voicecli.errors import VoicecliError
from voicecli.llm.local import LlamaCppLLM
from voicecli.llm.replay import RecordingLLM, Trace, load_traces
from voicecli.tts import PiperTTS

DATA_DIR = Path(__file__).resolve().parent / "data"
DEFAULT_PROMPTS = DATA_DIR / "prompts.txt"
DEFAULT_TRACES = DATA_DIR / "traces" / "default.jsonl"
RECORD_MAX_TOKENS = 160
RECORD_SEED = 7

Progress = Callable[[int, int, str], None]
"""``progress(done, total, what)``: called after each step (``what`` names it)."""


def load_prompts(path: str | Path | None = None) -> list[str]:
    """The prompts in ``path`` (default: the bundled set), one per line; blank lines and ``#`` comments skipped."""
    path = Path(path) if path is not None else DEFAULT_PROMPTS
    if not path.is_file():
        raise VoicecliError(f"prompt file not found: {path}", "give a text file with one prompt per line")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise VoicecliError(f"cannot read prompt file {path}: {e}", "give a UTF-8 text file with one prompt per line") from None
    prompts = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    if not prompts:
        raise VoicecliError(f"prompt file {path} holds no prompts", "write one prompt per line")
    return prompts


class SeededLLM:
    """A ``LlamaCppLLM`` whose every ``stream()`` starts from the same sampling seed.

    llama-cpp-python derives each call's seed from the previous one, so two calls with the same
    prompt sample differently. Resetting the seed before each call makes a prompt's reply the same
    in a recording, in the engine's turn and in the raw stream it is compared with. The wrapped
    model's capabilities are forwarded.
    """

    def __init__(self, inner: LlamaCppLLM, seed: int = RECORD_SEED, max_tokens: int | None = None):
        self.inner = inner
        self.seed = seed
        self.max_tokens = max_tokens
        self.backend = inner.backend
        self.context_tokens = inner.context_tokens
        self.reply_tokens = max_tokens or inner.reply_tokens
        self.prefetch = inner.prefetch
        self.cancellable = inner.cancellable

    def warm_up(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> None:
        self.inner.warm_up(messages, tools)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(self, messages, *, tools=None, tool_choice=None) -> Iterator[StreamItem]:
        self.inner.llm.set_seed(self.seed)
        return self.inner.stream(messages, tools=tools, tool_choice=tool_choice, max_tokens=self.max_tokens)


def messages_for(prompt: str, system_prompt: str) -> list[dict[str, Any]]:
    head = [{"role": "system", "content": system_prompt}] if system_prompt else []
    return head + [{"role": "user", "content": prompt}]


def fresh_prefix(llm: LLM, system_prompt: str) -> None:
    """Put the model's KV cache in the state of a first turn after start-up: the system prompt evaluated.

    Every prompt (recorded, benchmarked live or streamed raw) then starts from the same cache state, so
    no measurement gains from a prefix a previous one left behind.
    """
    llm.warm_up(messages_for("", system_prompt)[:-1])


def load_llm(path: Path, *, max_tokens: int = RECORD_MAX_TOKENS) -> LlamaCppLLM:
    """The local GGUF model, ready for recording or a live bench."""
    return LlamaCppLLM(path, max_tokens=max_tokens)


def load_voice(path: Path) -> PiperTTS:
    """The Piper voice, warmed up."""
    tts = PiperTTS(path)
    tts.warm_up()
    return tts


def record_traces(prompts: Sequence[str], path: str | Path, llm: LlamaCppLLM, *,
                  system_prompt: str = DEFAULT_SYSTEM_PROMPT, max_tokens: int = RECORD_MAX_TOKENS,
                  seed: int = RECORD_SEED, progress: Progress | None = None) -> list[Trace]:
    """Stream each prompt through the live model and write one trace line per response to ``path``.

    ``path`` is overwritten. Each prompt is a first turn: the system prompt (already evaluated, as
    after start-up), then the prompt; ``seed`` makes the recording reproducible. Returns the traces
    as written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("", encoding="utf-8")
    meta = {"model": Path(llm.path).name, "seed": seed, "max_tokens": max_tokens,
            "temperature": llm.params.get("temperature"), "system_prompt": system_prompt}
    recorder = RecordingLLM(SeededLLM(llm, seed, max_tokens), path, meta)
    for i, prompt in enumerate(prompts):
        fresh_prefix(llm, system_prompt)
        for _ in recorder.stream(messages_for(prompt, system_prompt)):
            pass
        if progress is not None:
            progress(i + 1, len(prompts), prompt)
    return load_traces(path)
