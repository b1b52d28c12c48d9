"""The stage boundaries, in one place: value types and the small protocols each stage implements.

    mic / WAV ─▶ Endpointer ─▶ STT ─▶ LLM (text | ToolCall) ─▶ Chunker ─▶ TTS ─▶ AudioSink

Every stage is synchronous (llama-cpp-python, Piper and faster-whisper are blocking, CPU-bound
calls); the pipeline runs them in threads and connects them with bounded queues.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class Audio:
    """Mono float32 samples in [-1, 1] at ``rate`` Hz."""

    samples: np.ndarray
    rate: int

    @property
    def seconds(self) -> float:
        return len(self.samples) / self.rate if self.rate else 0.0

    @property
    def ms(self) -> float:
        return self.seconds * 1000.0


@dataclass(frozen=True)
class ToolCall:
    """A complete tool call as the model asked for it. ``arguments`` is the raw JSON text."""

    name: str
    arguments: str = "{}"
    id: str = ""

    def as_message(self) -> dict[str, Any]:
        """The OpenAI message shape of this call (inside an assistant message's ``tool_calls``)."""
        return {"id": self.id, "type": "function", "function": {"name": self.name, "arguments": self.arguments}}


def new_call_id() -> str:
    """An id for a tool call whose backend gave none (OpenAI style: ``call_`` + 24 hex digits)."""
    return f"call_{uuid.uuid4().hex[:24]}"


@dataclass(frozen=True)
class Heard:
    """What the user said, in ``talk``, and how the turn was taken (times are ``perf_counter`` seconds).

    ``speech_end``: when the talk loop decided the user had finished; ``last_word``: when their last
    word ended, as the VAD saw it; ``origin``: when the input started (the conversation timeline's
    zero); ``turn_end``: what decided it; ``discarded_starts``: speculative starts thrown away.
    """

    text: str
    speech_end: float
    stt_ms: float
    last_word: float | None = None
    origin: float | None = None
    turn_end: str | None = None
    discarded_starts: int = 0


# What an LLM stream yields: a text delta, or a complete tool call (collected by the backend from
# its own format: OpenAI deltas, `<tool_call>{json}</tool_call>` markup, ...).
StreamItem = str | ToolCall


@runtime_checkable
class LLM(Protocol):
    """A streaming chat model, with its capabilities declared (``voicecli.llm.base.LLMBase`` has defaults).

    ``backend`` names it in the turn record ("llama.cpp", "openai", "replay"). ``context_tokens`` is
    the context window (None: unknown, the engine assumes a large one) and ``reply_tokens`` the
    longest reply it will write; the engine trims the history to fit both, counting with
    ``count_tokens``. ``warm_up`` evaluates a prompt prefix before the user waits; ``prefetch`` says
    whether doing that again between turns pays (a local KV cache does; a server request per turn
    does not). ``cancellable``: the iterator ``stream()`` returns may be closed from another thread
    while it waits for the model (a server's socket is shut down, a replay's wait cut short): a
    barge-in or Ctrl-C then ends the wait at once instead of at the next token. A wrapper
    (recording, seeding) forwards every one of these to the model it wraps.
    """

    backend: str
    context_tokens: int | None
    reply_tokens: int
    prefetch: bool
    cancellable: bool

    def stream(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
    ) -> Iterator[StreamItem]:
        """Yield text deltas and tool calls as they arrive. Closing the generator stops generation."""
        ...

    def warm_up(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> None: ...

    def count_tokens(self, text: str) -> int: ...


@runtime_checkable
class Chunker(Protocol):
    def feed(self, text: str) -> list[str]: ...

    def flush(self) -> list[str]: ...


@runtime_checkable
class TTS(Protocol):
    sample_rate: int

    def synthesize(self, text: str) -> np.ndarray:
        """The whole chunk as mono float32 samples at ``sample_rate``."""
        ...

    def warm_up(self) -> None:
        """Do the slow first synthesis before the user waits."""
        ...


@runtime_checkable
class STT(Protocol):
    def transcribe(self, audio: Audio) -> str: ...


@runtime_checkable
class AudioSink(Protocol):
    """Where the assistant's speech goes: a speaker, a WAV file, or nowhere (``--no-audio``).

    The speaker keeps the playback clock (``voicecli.engine.clock``), so the metrics mean the same
    thing whatever the sink.
    """

    sample_rate: int

    def start(self) -> None: ...

    def play(self, samples: np.ndarray) -> None:
        """Queue audio for playback; blocks while the sink's bounded queue is full."""
        ...

    def drain(self) -> None:
        """Wait until everything queued has played."""
        ...

    def stop(self) -> None:
        """Stop playback now, dropping what is queued (barge-in, Ctrl-C)."""
        ...

    def pause(self) -> None:
        """Play silence, keeping what is queued, until ``resume``."""
        ...

    def resume(self) -> None: ...

    def close(self) -> None: ...
