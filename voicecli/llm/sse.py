"""The server's event stream, parsed with every size bounded and every shape checked.

An OpenAI-compatible server answers a streamed chat completion with server-sent events, one
``data: {json}`` chunk per delta, ended by ``data: [DONE]``. Everything here treats that stream as
text from a stranger:

- ``iter_lines`` splits raw bytes into lines itself (not httpx's ``iter_lines``, which holds a line
  of any length in memory): a line longer than ``MAX_LINE_BYTES`` ends the stream with an error
  after reading that much, so a 200 MB "token" costs 1 MiB, not hundreds.
- ``iter_sse_data`` joins an event's ``data`` lines, refusing an event over ``MAX_EVENT_BYTES``.
- ``ChunkReader`` turns each chunk into text deltas and ``ToolCall`` s. A field of the wrong type
  (``choices`` a number, ``delta`` a string, ``function`` a string, an ``index`` that is not an
  integer, ``arguments`` a number, ...) is a one-line ``LLMServerError`` naming the field, never a
  ``TypeError`` from deep inside. ``null`` counts as absent; a non-string ``id`` is ignored (a new
  one is made later). What a reply may hold back (tool-call names and arguments, assembled over
  many events) is capped at ``MAX_HELD_CHARS`` and ``MAX_CALLS``.
- Any server text quoted in an error goes through ``quote``: the API key is masked first, then the
  text is shortened, so a cut can never leave part of the key behind.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote as url_quote

from voicecli.engine.types import StreamItem, ToolCall
from voicecli.errors import LLMError

MAX_LINE_BYTES = 1 << 20  # one SSE line; a real chunk is a few hundred bytes
MAX_EVENT_BYTES = 1 << 20  # the data of one event, all its lines together
MAX_HELD_CHARS = 1 << 20  # tool-call names and arguments held until the reply asks for them
MAX_CALLS = 64  # distinct tool calls in one reply (the executor runs at most a few per round)
SNIPPET_CHARS = 160
MASK = "***"
_MIN_SECRET = 4  # a "key" shorter than this is no secret; masking it would garble every message
_BROKEN_HINT = "the server is not OpenAI-compatible or misbehaved; check --llm-url and its log"


class LLMServerError(LLMError):
    """A failure talking to the server. ``partial_chars``: reply text already yielded before it."""

    def __init__(self, message: str, hint: str | None = None, *, partial_chars: int = 0,
                 status: int | None = None):
        super().__init__(message, hint)
        self.partial_chars = partial_chars
        self.status = status


# --- secrets and quoting ---------------------------------------------------------------------------


def mask_secret(text: str, secret: str | None, *, cut: bool = False) -> str:
    """``text`` with every copy of ``secret`` replaced by ``***``: as is, JSON-escaped and URL-quoted.

    ``cut``: the text was cut off (a body read up to a limit); a start of the secret left dangling
    at its end is masked too.
    """
    if not secret or len(secret) < _MIN_SECRET:
        return text
    forms = sorted({secret, json.dumps(secret)[1:-1], url_quote(secret, safe="")}, key=len, reverse=True)
    for form in forms:
        text = text.replace(form, MASK)
    if cut:
        for form in forms:
            for k in range(len(form) - 1, _MIN_SECRET - 1, -1):
                if text.endswith(form[:k]):
                    return text[:-k] + MASK
    return text


class SecretFilter:
    """Masks the secret in a text stream, even when it arrives split over several deltas.

    The longest end of the text that could be the start of the secret is held back until the next
    delta shows it is not (or ``flush()``); only text that ends in such a start waits, by one delta.
    """

    def __init__(self, secret: str | None):
        self.secret = secret if secret and len(secret) >= _MIN_SECRET else None
        self.held = ""

    def feed(self, text: str) -> str:
        if self.secret is None:
            return text
        text = (self.held + text).replace(self.secret, MASK)
        keep = next((k for k in range(min(len(self.secret) - 1, len(text)), 0, -1)
                     if text.endswith(self.secret[:k])), 0)
        self.held = text[len(text) - keep:] if keep else ""
        return text[: len(text) - keep]

    def flush(self) -> str:
        held, self.held = self.held, ""
        return held


def snippet(text: str, limit: int = SNIPPET_CHARS) -> str:
    """One line, at most ``limit`` characters."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def quote(text: str, secret: str | None) -> str:
    """Server text as it may appear in a message: the secret masked first, then shortened."""
    return snippet(mask_secret(text, secret))


def error_message(obj: dict[str, Any]) -> str:
    """The server's own words from an error object, in any of the shapes servers use."""
    # OpenAI / llama.cpp / Ollama: {"error": {"message": ...}}; some: {"error": "..."};
    # vLLM: {"message": ...}; FastAPI: {"detail": "..." or [{"msg": ...}, ...]}.
    try:
        error = obj.get("error")
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
        if obj.get("message"):
            return str(obj["message"])
        detail = obj.get("detail")
        if isinstance(detail, list):
            return "; ".join(str(d.get("msg", d)) if isinstance(d, dict) else str(d) for d in detail)
        if detail:
            return str(detail)
        return json.dumps(obj)
    except (RecursionError, ValueError):  # nested too deeply to print, or a number too long to print
        return "(an error the server described in an unreadable shape)"


# --- lines and events ------------------------------------------------------------------------------


def iter_lines(chunks: Iterable[bytes], max_line_bytes: int = MAX_LINE_BYTES) -> Iterator[str]:
    """The lines of a byte stream (ended by CR, LF or CRLF, as SSE allows), decoded as UTF-8.

    Only the new chunk is searched for line ends, so a long line arriving a byte at a time costs
    linear time. A line longer than ``max_line_bytes`` raises ``LLMServerError`` at once.
    """
    buf = bytearray()
    skip_lf = False  # the last chunk ended with CR: an LF starting the next one belongs to it
    first = True
    for chunk in chunks:
        if not chunk:
            continue
        if skip_lf and chunk[:1] == b"\n":
            chunk = chunk[1:]
        skip_lf = False
        pieces = chunk.splitlines(keepends=True)  # bytes split only at \r, \n and \r\n
        for i, piece in enumerate(pieces):
            ended = piece.endswith((b"\n", b"\r"))
            body = piece.rstrip(b"\r\n") if ended else piece
            if len(buf) + len(body) > max_line_bytes:
                raise LLMServerError(f"the LLM server sent a stream line longer than {max_line_bytes >> 10} KiB",
                                     _BROKEN_HINT)
            buf += body
            if ended:
                line = buf.decode("utf-8", "replace")
                if first:
                    line = line.removeprefix("\ufeff")
                    first = False
                buf.clear()
                skip_lf = i == len(pieces) - 1 and piece.endswith(b"\r")
                yield line
    if buf:
        yield buf.decode("utf-8", "replace")


def iter_sse_data(lines: Iterable[str], max_event_bytes: int = MAX_EVENT_BYTES) -> Iterator[str]:
    """The ``data`` payload of each server-sent event, from the stream's lines.

    Follows the SSE rules: an event ends at a blank line; several ``data:`` lines in one event are
    joined with newlines; one optional space after the colon is dropped; comment lines (``:``, used
    as keep-alives) and the other fields (``event``, ``id``, ``retry``) are ignored.
    """
    data: list[str] = []
    size = 0
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data, size = [], 0
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            value = value[1:] if value.startswith(" ") else value
            size += len(value) + 1
            if size > max_event_bytes:
                raise LLMServerError(f"the LLM server sent a stream event larger than {max_event_bytes >> 10} KiB",
                                     _BROKEN_HINT)
            data.append(value)
    if data:  # the last event, when the stream ended without its blank line
        yield "\n".join(data)


def read_events(reader: ChunkReader, lines: Iterable[str]) -> Iterator[list[StreamItem]]:
    """What each event adds to the reply, up to ``[DONE]``; then any tool calls left over."""
    for data in iter_sse_data(lines):
        # After [DONE] the body should end at once; reading to its end (instead of breaking off)
        # lets httpx keep the connection for the next turn: no new TCP/TLS handshake per reply.
        if not reader.done:
            yield reader.feed(data)
    if reader.complete and not reader.done:  # a finish reason but no [DONE]: some servers end so
        yield list(reader.finish())


# --- chunks ----------------------------------------------------------------------------------------

_KINDS = {dict: "an object", list: "a list", str: "a string", bool: "true or false", int: "a number",
          float: "a number", type(None): "null"}


def _kind(value: Any) -> str:
    return _KINDS.get(type(value), type(value).__name__)


def _malformed(what: str, expected: str, value: Any) -> LLMServerError:
    return LLMServerError(f"the LLM server sent a malformed stream chunk: {what} should be {expected}, "
                          f"not {_kind(value)}", _BROKEN_HINT)


def _get(obj: dict[str, Any], key: str, kind: type, expected: str, what: str) -> Any:
    """``obj[key]`` if it has the expected type; ``None`` when absent or null; else a malformed error."""
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, kind):  # true is not an index
        raise _malformed(what, expected, value)
    return value


class ChunkReader:
    """Turns chat-completion chunks (the JSON of each event) into text deltas and ``ToolCall``s.

    ``done``: ``[DONE]`` was seen. ``complete``: the reply is whole (``[DONE]`` or a finish reason).
    ``secret``: masked out of any server text quoted in an error.
    """

    def __init__(self, secret: str | None = None) -> None:
        self.done = False
        self.finish_reason: str | None = None
        self.secret = secret
        self._calls: dict[int, dict[str, Any]] = {}
        self._held = 0  # characters of names and arguments held in _calls
        self._text = SecretFilter(secret)  # a server may echo the key in its reply, too

    @property
    def complete(self) -> bool:
        return self.done or self.finish_reason is not None

    def feed(self, data: str) -> list[StreamItem]:
        if data.strip() == "[DONE]":
            self.done = True
            return list(self.finish())
        try:
            chunk = json.loads(data)
        except (ValueError, RecursionError):  # not JSON, nested too deeply, a number too long
            raise LLMServerError(f"the LLM server sent a broken stream event (not JSON): "
                                 f"{quote(data, self.secret)!r}", _BROKEN_HINT) from None
        if not isinstance(chunk, dict):
            raise LLMServerError(f"the LLM server sent a stream event that is not a JSON object: "
                                 f"{quote(data, self.secret)!r}",
                                 "check --llm-url points at an OpenAI-compatible server")
        if "error" in chunk:  # llama.cpp's server and vLLM report failures after the headers this way
            raise LLMServerError(f"the LLM server reported an error mid-stream: "
                                 f"{quote(error_message(chunk), self.secret)}",
                                 "check the server's log (context length? out of memory?)")
        items: list[StreamItem] = []
        choices = _get(chunk, "choices", list, "a list", '"choices"')
        if not choices:  # a usage-only chunk has none
            return items
        choice = choices[0]
        if not isinstance(choice, dict):
            raise _malformed('"choices[0]"', "an object", choice)
        delta = _get(choice, "delta", dict, "an object", '"delta"') or {}
        content = self._text.feed(_get(delta, "content", str, "a string", '"content"') or "")
        if content:
            items.append(content)
        fragments = _get(delta, "tool_calls", list, "a list", '"tool_calls"')
        if fragments:
            self._add_fragments(fragments)
        finish_reason = _get(choice, "finish_reason", str, "a string", '"finish_reason"')
        if finish_reason:
            self.finish_reason = finish_reason
            items.extend(self.finish() if finish_reason == "tool_calls" else self._flush_text())
        return items

    def finish(self) -> Iterator[StreamItem]:
        """Any text held back, then the tool calls assembled so far (each yielded once), in index order."""
        if held := self._text.flush():
            yield held
        calls, self._calls, self._held = self._calls, {}, 0
        for index in sorted(calls):
            call = calls[index]
            if not call["name"]:
                raise LLMServerError("the LLM server sent a tool call without a function name",
                                     "the server or model does not support tool calls properly")
            name, arguments, call_id = (mask_secret(x, self.secret) for x in
                                        (call["name"], "".join(call["arguments"]) or "{}", call["id"]))
            yield ToolCall(name=name, arguments=arguments, id=call_id)

    def _flush_text(self) -> list[StreamItem]:
        held = self._text.flush()
        return [held] if held else []

    def _add_fragments(self, fragments: list[Any]) -> None:
        for position, fragment in enumerate(fragments):
            if not isinstance(fragment, dict):
                raise _malformed('a "tool_calls" entry', "an object", fragment)
            index = _get(fragment, "index", int, "an integer", 'a tool call\'s "index"')
            index = position if index is None else index
            if index not in self._calls and len(self._calls) >= MAX_CALLS:
                raise LLMServerError(f"the LLM server sent more than {MAX_CALLS} tool calls in one reply",
                                     _BROKEN_HINT)
            call = self._calls.setdefault(index, {"id": "", "name": "", "arguments": []})
            if isinstance(fragment.get("id"), str) and fragment["id"]:
                call["id"] = fragment["id"]
            function = _get(fragment, "function", dict, "an object", 'a tool call\'s "function"') or {}
            name = _get(function, "name", str, "a string", 'a tool call\'s "name"')
            arguments = function.get("arguments")
            if isinstance(arguments, (dict, list)):  # a few servers send parsed JSON instead of text
                try:
                    arguments = json.dumps(arguments)
                except (RecursionError, ValueError):
                    raise LLMServerError("the LLM server sent tool-call arguments nested too deeply",
                                         _BROKEN_HINT) from None
            elif arguments is not None and not isinstance(arguments, str):
                raise _malformed('a tool call\'s "arguments"', "a string", arguments)
            # The name comes whole in the first fragment; some servers repeat it in later ones.
            added = (len(name) if name and name != call["name"] else 0) + len(arguments or "")
            self._held += added
            if self._held > MAX_HELD_CHARS:
                raise LLMServerError(f"the LLM server sent more than {MAX_HELD_CHARS >> 10} KiB of tool-call "
                                     "arguments in one reply", _BROKEN_HINT)
            if name and name != call["name"]:
                call["name"] += name
            if arguments:
                call["arguments"].append(arguments)
