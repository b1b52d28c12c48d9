"""Recorded token streams: record them from a live model, replay them with their timing.

A trace file is JSON Lines, one LLM response per line:

    {"voicecli_trace": 1, "prompt": "What is ...?", "backend": "llama.cpp", "model": "...",
     "deltas": [{"t_ms": 212.4, "text": "The"}, {"t_ms": 221.0, "text": " capital"},
                {"t_ms": 480.2, "tool_call": {"name": "calculate", "arguments": "{...}", "id": "call_0"}}]}

``t_ms`` is the time since the request. A conversation with a tool round is two lines: the
response that asked for the tool, then the follow-up. ``--llm replay:FILE`` serves the lines in order,
one per LLM call, starting over after the last one.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicecli.engine.types import LLM, StreamItem, ToolCall
from voicecli.errors import LLMError
from voicecli.llm.base import LLMBase

TRACE_VERSION = 1


@dataclass(frozen=True)
class TimedItem:
    t_ms: float
    item: StreamItem

    def as_dict(self) -> dict[str, Any]:
        if isinstance(self.item, ToolCall):
            return {"t_ms": round(self.t_ms, 2),
                    "tool_call": {"name": self.item.name, "arguments": self.item.arguments, "id": self.item.id}}
        return {"t_ms": round(self.t_ms, 2), "text": self.item}


@dataclass(frozen=True)
class Trace:
    """One recorded LLM response."""

    deltas: tuple[TimedItem, ...]
    prompt: str | None = None
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def text(self) -> str:
        return "".join(d.item for d in self.deltas if isinstance(d.item, str))

    def as_dict(self) -> dict[str, Any]:
        return {"voicecli_trace": TRACE_VERSION, "prompt": self.prompt, **self.meta,
                "deltas": [d.as_dict() for d in self.deltas]}

    @classmethod
    def from_items(cls, items: Sequence[StreamItem], ms_per_item: float = 10.0, first_ms: float = 50.0,
                   prompt: str | None = None) -> Trace:
        """A synthetic trace: the first item at ``first_ms``, then one every ``ms_per_item``."""
        return cls(tuple(TimedItem(first_ms + i * ms_per_item, it) for i, it in enumerate(items)), prompt)


def _parse_line(obj: Any, where: str) -> Trace:
    if not isinstance(obj, dict) or "deltas" not in obj or not isinstance(obj["deltas"], list):
        raise LLMError(f"{where}: not a voicecli trace line (needs a \"deltas\" list)",
                       "record one with `voicecli bench --record FILE.jsonl`")
    deltas: list[TimedItem] = []
    last = 0.0
    for j, d in enumerate(obj["deltas"]):
        if not isinstance(d, dict) or not isinstance(d.get("t_ms"), (int, float)):
            raise LLMError(f"{where}, delta {j}: needs a numeric \"t_ms\"", "fix or re-record the trace")
        t = float(d["t_ms"])
        if t < last:
            raise LLMError(f"{where}, delta {j}: t_ms goes backwards ({t} < {last})", "fix or re-record the trace")
        last = t
        if isinstance(d.get("text"), str):
            deltas.append(TimedItem(t, d["text"]))
        elif isinstance(d.get("tool_call"), dict) and isinstance(d["tool_call"].get("name"), str):
            tc = d["tool_call"]
            args = tc.get("arguments", "{}")
            if not isinstance(args, str):
                args = json.dumps(args)
            deltas.append(TimedItem(t, ToolCall(tc["name"], args, str(tc.get("id") or f"call_{j}"))))
        else:
            raise LLMError(f"{where}, delta {j}: needs \"text\" or \"tool_call\"", "fix or re-record the trace")
    meta = {k: v for k, v in obj.items() if k not in ("deltas", "prompt", "voicecli_trace")}
    return Trace(tuple(deltas), obj.get("prompt"), meta)


def load_traces(path: str | Path) -> list[Trace]:
    path = Path(path)
    if not path.is_file():
        raise LLMError(f"trace file not found: {path}", "record one with `voicecli bench --record FILE.jsonl`")
    traces: list[Trace] = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise LLMError(f"cannot read trace file {path}: {e}", "check the path and that it is a .jsonl text file") from None
    for n, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise LLMError(f"{path}:{n}: invalid JSON ({e.msg})", "fix or re-record the trace") from None
        traces.append(_parse_line(obj, f"{path}:{n}"))
    if not traces:
        raise LLMError(f"trace file {path} holds no responses", "record one with `voicecli bench --record FILE.jsonl`")
    return traces


def replay(trace: Trace, speed: float = 1.0, stop: threading.Event | None = None) -> Iterator[StreamItem]:
    """Yield a trace's items at their recorded times, ``speed`` times faster (0: as fast as possible)."""
    t0 = time.perf_counter()
    for d in trace.deltas:
        if speed > 0:
            wait = t0 + d.t_ms / 1000.0 / speed - time.perf_counter()
            if wait > 0:
                if stop is not None:
                    if stop.wait(wait):
                        return
                else:
                    time.sleep(wait)
        yield d.item


class ReplayLLM(LLMBase):
    """Serves recorded responses in order, one per ``stream()`` call, cycling at the end."""

    backend = "replay"

    def __init__(self, traces: Sequence[Trace], speed: float = 1.0, cycle: bool = True):
        if not traces:
            raise LLMError("no responses to replay", "pass a trace file with at least one response")
        self.traces = list(traces)
        self.speed = speed
        self.cycle = cycle
        self.calls: list[list[dict[str, Any]]] = []
        self._next = 0

    @classmethod
    def from_file(cls, path: str | Path, speed: float = 1.0) -> ReplayLLM:
        return cls(load_traces(path), speed)

    @classmethod
    def scripted(cls, *responses: Sequence[StreamItem] | str, ms_per_item: float = 10.0,
                 first_ms: float = 50.0, speed: float = 1.0) -> ReplayLLM:
        """A fake model for tests: each response is a list of deltas (a str is split into words)."""
        traces = []
        for r in responses:
            items = _split_words(r) if isinstance(r, str) else list(r)
            traces.append(Trace.from_items(items, ms_per_item, first_ms))
        return cls(traces, speed)

    def stream(self, messages, *, tools=None, tool_choice=None) -> Iterator[StreamItem]:
        if self._next >= len(self.traces):
            if not self.cycle:
                raise LLMError("the replay trace has no more responses", "record a longer trace")
            self._next = 0
        trace = self.traces[self._next]
        self._next += 1
        self.calls.append([dict(m) for m in messages])
        return replay(trace, self.speed)


def _split_words(text: str) -> list[str]:
    """"a b c" → ["a", " b", " c"]: how a tokenizer streams words."""
    out: list[str] = []
    for i, w in enumerate(text.split(" ")):
        out.append(w if i == 0 else " " + w)
    return [x for x in out if x]


class RecordingLLM:
    """Wraps a live model and appends each response, with its timing, to a trace file as it ends.

    Everything else is the wrapped model's: its capabilities are forwarded, so recording a
    conversation changes neither its warm-up, nor its context window, nor its token counting.
    """

    def __init__(self, inner: LLM, path: str | Path, meta: dict[str, Any] | None = None):
        self.inner = inner
        self.backend = inner.backend
        self.context_tokens = inner.context_tokens
        self.reply_tokens = inner.reply_tokens
        self.prefetch = inner.prefetch
        self.path = Path(path)
        self.meta = meta or {}

    def warm_up(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> None:
        self.inner.warm_up(messages, tools)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(self, messages, *, tools=None, tool_choice=None) -> Iterator[StreamItem]:
        prompt = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
        t0 = time.perf_counter()
        items: list[TimedItem] = []
        try:
            for item in self.inner.stream(messages, tools=tools, tool_choice=tool_choice):
                items.append(TimedItem((time.perf_counter() - t0) * 1000.0, item))
                yield item
        finally:
            if items:
                trace = Trace(tuple(items), prompt, {"backend": self.inner.backend, **self.meta})
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps(trace.as_dict(), ensure_ascii=False) + "\n")
