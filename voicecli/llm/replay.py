"""Recorded token streams: record them from a live model, replay them with their timing.

A trace file is JSON Lines, one LLM response per line:

    {"voicecli_trace": 1, "prompt": "What is ...?", "backend": "llama.cpp", "model": "...",
     "deltas": [{"t_ms": 212.4, "text": "The"}, {"t_ms": 221.0, "text": " capital"},
                {"t_ms": 480.2, "tool_call": {"name": "calculate", "arguments": "{...}", "id": "call_0"}}]}

``t_ms`` is the time since the request. A conversation with a tool round is two lines: the
response that asked for the tool, then the follow-up. ``--llm replay:FILE`` serves the lines in order,
one per LLM call, starting over after the last one.

A trace file may come from anywhere, so loading it checks everything before anything is replayed:
it must be a regular file (a FIFO or a device would block or never end) of at most
``MAX_TRACE_BYTES``; every ``t_ms`` a finite number from 0 to ``MAX_T_MS`` that never goes back;
every field of the expected type. Each mistake is one ``LLMError`` naming the file, line and delta.
"""

from __future__ import annotations

import json
import math
import os
import stat
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from voicecli.engine.types import LLM, StreamItem, ToolCall
from voicecli.errors import LLMError
from voicecli.llm.base import LLMBase

TRACE_VERSION = 1
MAX_TRACE_BYTES = 64 << 20  # the bundled traces are a few hundred KiB
MAX_T_MS = 3_600_000.0  # one hour: no recorded reply takes longer; inf would wait forever
CALLS_KEPT = 4  # ReplayLLM.calls: the prompts of this many latest calls (each holds the whole history)
_FIX = "fix or re-record the trace"


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


def _time(d: dict[str, Any], last: float, where: str) -> float:
    t = d.get("t_ms")
    if isinstance(t, bool) or not isinstance(t, (int, float)):
        raise LLMError(f"{where}: needs a numeric \"t_ms\"", _FIX)
    t = float(t) if isinstance(t, float) or abs(t) <= MAX_T_MS else math.inf  # a 400-digit int: no float
    if not math.isfinite(t) or not 0 <= t <= MAX_T_MS:
        raise LLMError(f"{where}: t_ms must be from 0 to {MAX_T_MS:.0f} (one hour), got {t:g}", _FIX)
    if t < last:
        raise LLMError(f"{where}: t_ms goes backwards ({t:g} < {last:g})", _FIX)
    return t


def _tool_call(tc: Any, j: int, where: str) -> ToolCall:
    if not isinstance(tc.get("name"), str) or not tc["name"]:
        raise LLMError(f"{where}: a tool_call needs a \"name\" string", _FIX)
    args = tc.get("arguments", "{}")
    if isinstance(args, (dict, list)):
        try:
            args = json.dumps(args)
        except (RecursionError, ValueError):
            raise LLMError(f"{where}: the tool_call arguments are nested too deeply", _FIX) from None
    elif not isinstance(args, str):
        raise LLMError(f"{where}: a tool_call's \"arguments\" must be a JSON string or object", _FIX)
    call_id = tc.get("id")
    if call_id is not None and not isinstance(call_id, (str, int)) or isinstance(call_id, bool):
        raise LLMError(f"{where}: a tool_call's \"id\" must be a string", _FIX)
    return ToolCall(tc["name"], args, str(call_id or f"call_{j}"))


def _parse_line(obj: Any, where: str) -> Trace:
    if not isinstance(obj, dict) or "deltas" not in obj or not isinstance(obj["deltas"], list):
        raise LLMError(f"{where}: not a voicecli trace line (needs a \"deltas\" list)",
                       "record one with `voicecli bench --record FILE.jsonl`")
    prompt = obj.get("prompt")
    if prompt is not None and not isinstance(prompt, str):
        raise LLMError(f"{where}: \"prompt\" must be a string", _FIX)
    deltas: list[TimedItem] = []
    last = 0.0
    for j, d in enumerate(obj["deltas"]):
        here = f"{where}, delta {j}"
        if not isinstance(d, dict):
            raise LLMError(f"{here}: needs a numeric \"t_ms\"", _FIX)
        last = _time(d, last, here)
        if isinstance(d.get("text"), str):
            deltas.append(TimedItem(last, d["text"]))
        elif isinstance(d.get("tool_call"), dict):
            deltas.append(TimedItem(last, _tool_call(d["tool_call"], j, here)))
        else:
            raise LLMError(f"{here}: needs \"text\" or \"tool_call\"", _FIX)
    meta = {k: v for k, v in obj.items() if k not in ("deltas", "prompt", "voicecli_trace")}
    return Trace(tuple(deltas), prompt, meta)


def _read_lines(path: Path) -> list[bytes]:
    """The file's lines, read only if it is a regular file of a sane size (a FIFO would block)."""
    hint = "check the path and that it is a .jsonl text file"
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except FileNotFoundError:
        raise LLMError(f"trace file not found: {path}", "record one with `voicecli bench --record FILE.jsonl`") from None
    except OSError as e:
        raise LLMError(f"cannot read trace file {path}: {e.strerror}", hint) from None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode):  # a FIFO, a device, a directory
        os.close(fd)
        raise LLMError(f"trace file {path} is not a regular file", hint)
    with os.fdopen(fd, "rb") as f:
        if info.st_size > MAX_TRACE_BYTES:
            raise LLMError(f"trace file {path} is {info.st_size >> 20} MiB; traces over {MAX_TRACE_BYTES >> 20} MiB "
                           "are refused", "split it, or record fewer responses")
        try:
            data = f.read(MAX_TRACE_BYTES + 1)
        except OSError as e:
            raise LLMError(f"cannot read trace file {path}: {e.strerror}", hint) from None
    if len(data) > MAX_TRACE_BYTES:  # it grew while being read
        raise LLMError(f"trace file {path} is over {MAX_TRACE_BYTES >> 20} MiB", "split it, or record fewer responses")
    return data.splitlines()


def load_traces(path: str | Path) -> list[Trace]:
    path = Path(path)
    traces: list[Trace] = []
    for n, raw in enumerate(_read_lines(path), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise LLMError(f"{path}:{n}: not UTF-8 text", "check that it is a .jsonl trace file") from None
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise LLMError(f"{path}:{n}: invalid JSON ({e.msg})", _FIX) from None
        except (ValueError, RecursionError):  # a number with thousands of digits; nesting past the limit
            raise LLMError(f"{path}:{n}: JSON too deeply nested or with a number too long", _FIX) from None
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


class ReplayStream(Iterator[StreamItem]):
    """A replay whose ``close()`` works from any thread: the wait for the next item ends at once."""

    def __init__(self, trace: Trace, speed: float):
        self.closing = threading.Event()
        self._gen = replay(trace, speed, self.closing)

    def __next__(self) -> StreamItem:
        if self.closing.is_set():
            raise StopIteration
        return next(self._gen)

    def close(self) -> None:
        self.closing.set()


class ReplayLLM(LLMBase):
    """Serves recorded responses in order, one per ``stream()`` call, cycling at the end."""

    cancellable = True

    backend = "replay"

    def __init__(self, traces: Sequence[Trace], speed: float = 1.0, cycle: bool = True):
        if not traces:
            raise LLMError("no responses to replay", "pass a trace file with at least one response")
        self.traces = list(traces)
        self.speed = speed
        self.cycle = cycle
        # The prompts of the latest calls (tests read them). Bounded: each holds the whole history, so
        # keeping every one would grow with the square of a long replayed conversation.
        self.calls: deque[list[dict[str, Any]]] = deque(maxlen=CALLS_KEPT)
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
        return ReplayStream(trace, self.speed)


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
        self.cancellable = inner.cancellable
        self.path = Path(path)
        self.meta = meta or {}

    def warm_up(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> None:
        self.inner.warm_up(messages, tools)

    def count_tokens(self, text: str) -> int:
        return self.inner.count_tokens(text)

    def stream(self, messages, *, tools=None, tool_choice=None) -> Iterator[StreamItem]:
        prompt = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), None)
        return _Recorded(self, self.inner.stream(messages, tools=tools, tool_choice=tool_choice), prompt)


class _Recorded(Iterator[StreamItem]):
    """The wrapped model's stream, timed; written to the trace when it ends; ``close()`` is the inner one's."""

    def __init__(self, owner: RecordingLLM, inner: Iterator[StreamItem], prompt: str | None):
        self.owner, self.inner, self.prompt = owner, inner, prompt
        self.t0 = time.perf_counter()
        self.items: list[TimedItem] = []
        self._written = False

    def __next__(self) -> StreamItem:
        try:
            item = next(self.inner)
        except StopIteration:
            self._write()
            raise
        except BaseException:
            self._write()
            raise
        self.items.append(TimedItem((time.perf_counter() - self.t0) * 1000.0, item))
        return item

    def close(self) -> None:
        self.inner.close()  # type: ignore[attr-defined]
        self._write()

    def _write(self) -> None:
        if self._written or not self.items:
            return
        self._written = True
        trace = Trace(tuple(self.items), self.prompt, {"backend": self.owner.inner.backend, **self.owner.meta})
        with self.owner.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(trace.as_dict(), ensure_ascii=False) + "\n")
