"""Tool calls written as markup in the model's text, filtered out of the stream as it arrives.

Models tuned for tools write their calls in their chat template's own syntax, in the middle of the
text stream. :class:`ToolMarkupFilter` is push-style like the chunkers: ``feed(delta)`` returns the
text that can be passed on and the calls completed so far, ``flush()`` what is left at the end.
Text is passed on as soon as it cannot be the start of a marker, so speech is never held back by
more than a few characters; markup is never passed on as text, even when split across deltas.

Formats (``FORMATS``, picked by :func:`detect_tool_format` from the GGUF's chat template):

- ``hermes`` (Qwen2.5/Qwen3, Hermes 2/3): ``<tool_call>{"name": ..., "arguments": {...}}</tool_call>``.
- ``mistral``: ``[TOOL_CALLS][{"name": ..., "arguments": {...}}, ...]`` to the end of the reply, or
  the newer ``[TOOL_CALLS]name[ARGS]{...}``.
- ``llama3`` (Llama 3.1+): ``<|python_tag|>{"name": ..., "parameters": {...}}`` up to ``<|eom_id|>``,
  or a reply that is nothing but such a JSON object (held until the end of the stream to decide).

The markers are tested against hand-written streams, not against every model's real output.
A payload that is not valid JSON still becomes a :class:`ToolCall` whose ``arguments`` is the raw
text (and whose name is recovered if it can be), so the executor answers the model with an error
instead of the markup being spoken or silently dropped.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from voicecli.engine.types import ToolCall, new_call_id


@dataclass(frozen=True)
class ToolFormat:
    name: str
    open: str  # starts a call
    close: tuple[str, ...] = ()  # ends a call; none: the call runs to the end of the stream
    leading_json: bool = False  # a reply that is only a {"name": ...} object is a call


FORMATS: dict[str, ToolFormat] = {
    "hermes": ToolFormat("hermes", "<tool_call>", ("</tool_call>",)),
    "mistral": ToolFormat("mistral", "[TOOL_CALLS]"),
    "llama3": ToolFormat("llama3", "<|python_tag|>", ("<|eom_id|>", "<|eot_id|>"), leading_json=True),
}


def detect_tool_format(chat_template: str | None) -> str:
    """The tool-call format a chat template teaches its model: a key of ``FORMATS``, or ``"none"``."""
    t = chat_template or ""
    if "<tool_call>" in t:
        return "hermes"
    if "[TOOL_CALLS]" in t:
        return "mistral"
    if "<|python_tag|>" in t or ("<|eot_id|>" in t and "tools" in t and '"parameters"' in t):
        return "llama3"
    return "none"


def tool_prompt(schemas: list[dict[str, Any]]) -> str:
    """A system-prompt section teaching the ``hermes`` markup to a model whose template has no tools.

    Pair it with ``ToolMarkupFilter("hermes")``; small untuned models follow it unreliably.
    """
    lines = "\n".join(json.dumps(s, ensure_ascii=False) for s in schemas)
    return (
        "You can call functions. Their JSON schemas are between <tools></tools>:\n"
        f"<tools>\n{lines}\n</tools>\n"
        "To call one, reply with exactly:\n"
        '<tool_call>\n{"name": "<function name>", "arguments": {<arguments as JSON>}}\n</tool_call>'
    )


_NAME = re.compile(r'"name"\s*:\s*"([^"]*)"')


def parse_payload(payload: str, new_id: Callable[[], str] = new_call_id) -> list[ToolCall]:
    """The calls in the text between the markers: one JSON object, a list of them, or ``name[ARGS]{...}``."""
    text = payload.strip()
    if not text:
        return []
    if "[ARGS]" in text and not text.startswith(("{", "[")):
        name, _, args = text.partition("[ARGS]")
        return [ToolCall(name.strip(), args.strip(), new_id())]
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        m = _NAME.search(text)
        return [ToolCall(m.group(1) if m else "", text, new_id())]
    calls = []
    for item in data if isinstance(data, list) else [data]:
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            args = item.get("arguments", item.get("parameters", {}))
            calls.append(
                ToolCall(item["name"], args if isinstance(args, str) else json.dumps(args), new_id())
            )
        else:  # valid JSON, but not a call: let the executor say so
            calls.append(ToolCall("", json.dumps(item), new_id()))
    return calls


def _held(buf: str, markers: list[str]) -> int:
    """Length of the longest end of ``buf`` that could still grow into one of ``markers``."""
    best = 0
    for m in markers:
        for n in range(min(len(m) - 1, len(buf)), best, -1):
            if buf.endswith(m[:n]):
                best = n
                break
    return best


class ToolMarkupFilter:
    """Split a model's text stream into text to speak and :class:`ToolCall` items.

    ``fmt`` is a key of ``FORMATS``, a :class:`ToolFormat`, or ``"none"`` (text passes unchanged:
    the result of :func:`detect_tool_format` can always be given). Stray closing markers outside a
    call are dropped too. ``new_id`` makes the call ids (a seam for tests).
    """

    def __init__(self, fmt: str | ToolFormat = "hermes", new_id: Callable[[], str] = new_call_id):
        if fmt == "none":
            fmt = ToolFormat("none", "")
        elif isinstance(fmt, str):
            if fmt not in FORMATS:
                raise ValueError(f"unknown tool-call format {fmt!r}; known: none, {', '.join(FORMATS)}")
            fmt = FORMATS[fmt]
        self.format = fmt
        self._new_id = new_id
        self._markers = [m for m in (self.format.open, *self.format.close) if m]
        self._buf = ""
        self._inside = False
        # llama3: until the first non-space character shows whether the reply is a bare JSON call
        self._undecided = self.format.leading_json

    def feed(self, delta: str) -> list[str | ToolCall]:
        if not self._markers and not self._undecided:  # format "none"
            return [delta] if delta else []
        self._buf += delta
        return self._drain(final=False)

    def flush(self) -> list[str | ToolCall]:
        out = self._drain(final=True)
        self._buf, self._inside = "", False
        return out

    def _drain(self, final: bool) -> list[str | ToolCall]:
        out: list[str | ToolCall] = []
        if self._undecided:
            head = self._buf.lstrip()
            if not head and not final:
                return out
            if head.startswith("{"):
                if not final:
                    return out  # hold the whole reply: it may be a bare JSON call
                calls = self._bare_json_calls(head)
                if calls:
                    self._buf = ""
                    return list(calls)
            self._undecided = False
        while True:
            if self._inside:
                ends = [
                    (i, m) for m in (*self.format.close, self.format.open) if (i := self._buf.find(m)) >= 0
                ]
                if not ends:
                    if final:
                        out.extend(parse_payload(self._buf, self._new_id))  # an unterminated call
                        self._buf = ""
                    return out
                i, marker = min(ends)
                out.extend(parse_payload(self._buf[:i], self._new_id))
                self._buf = self._buf[i + len(marker) :] if marker != self.format.open else self._buf[i:]
                self._inside = False
                continue
            found = [(i, m) for m in self._markers if (i := self._buf.find(m)) >= 0]
            if found:
                i, marker = min(found)
                if i:
                    out.append(self._buf[:i])
                self._buf = self._buf[i + len(marker) :]
                self._inside = marker == self.format.open
                continue
            keep = 0 if final else _held(self._buf, self._markers)
            if len(self._buf) > keep:
                out.append(self._buf[: len(self._buf) - keep])
                self._buf = self._buf[len(self._buf) - keep :]
            return out

    def _bare_json_calls(self, text: str) -> list[ToolCall]:
        """Calls if ``text`` is exactly a JSON object with a name and arguments/parameters, else []."""
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            return []
        if (
            isinstance(data, dict)
            and isinstance(data.get("name"), str)
            and ("parameters" in data or "arguments" in data)
        ):
            return parse_payload(text, self._new_id)
        return []
