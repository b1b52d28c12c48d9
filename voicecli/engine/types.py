"""The stage boundaries, in one place: value types and the small protocols each stage implements.

    mic / WAV ─▶ Endpointer ─▶ STT ─▶ LLM (text | ToolCall) ─▶ Chunker ─▶ TTS ─▶ AudioSink

Every stage is synchronous (llama-cpp-python, Piper and faster-whisper are blocking, CPU-bound
calls); the pipeline runs them in threads and connects them with bounded queues.
"""

from __future__ import annotations

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


# What an LLM stream yields: a text delta, or a complete tool call (collected by the backend from
# its own format: OpenAI deltas, `<tool_call>{json}</tool_call>` markup, ...).
StreamItem = str | ToolCall


@runtime_checkable
class LLM(Protocol):
    """A streaming chat model. ``backend`` names it in the turn record ("llama.cpp", "openai", "replay")."""

    backend: str

    def stream(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
    ) -> Iterator[StreamItem]:
        """Yield text deltas and tool calls as they arrive. Closing the generator stops generation."""
        ...


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


@runtime_checkable
class STT(Protocol):
    def transcribe(self, audio: Audio) -> str: ...


@runtime_checkable
class AudioSink(Protocol):
    """Where the assistant's speech goes: a speaker, a WAV file, or nowhere (``--no-audio``).

    Every sink keeps the same playback clock (see ``voicecli.audio.PlaybackClock``), so the metrics
    mean the same thing whatever the sink.
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

    def close(self) -> None: ...
