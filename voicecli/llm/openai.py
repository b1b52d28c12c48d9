"""An OpenAI-compatible server as the LLM: llama.cpp's server, Ollama, vLLM, LM Studio, ...

``POST {base_url}/chat/completions`` with ``stream: true``; the reply is a stream of server-sent
events, one ``data: {json}`` chunk per delta, ended by ``data: [DONE]``. Text deltas are yielded as
they arrive; tool-call deltas (an id and a name, then the JSON arguments in fragments, keyed by
``index``) are assembled and yielded as complete ``ToolCall``s when the model finishes asking.

Decisions worth knowing:

- httpx, synchronous, one client per backend instance (connections are reused across turns). The
  pipeline runs ``stream()`` in a worker thread like the local backend; closing the generator exits
  the ``with client.stream(...)`` block, which closes the response and so the connection: the server
  sees the client go away and stops generating.
- Two time-outs: ``connect_timeout_s`` to open the connection, ``timeout_s`` for every read, which
  covers both the wait for the first byte (prompt processing) and the gap between two chunks.
- Every failure becomes one ``LLMServerError`` line saying what happened and how to fix it. A
  failure after text was yielded is raised only after that text was delivered, so the pipeline
  keeps (and has already spoken) the partial reply; ``partial_chars`` says how much there was.
- A stream must end with ``[DONE]`` or at least a ``finish_reason``; one that just stops is
  reported as truncated rather than passed off as a complete (short) reply.
- The API key (``api_key``: the app reads ``$VOICECLI_LLM_API_KEY`` or ``$OPENAI_API_KEY``) goes only into
  the ``Authorization`` header: it is never logged, never in ``repr``, and redacted from any server
  text quoted in an error.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from collections.abc import Iterable, Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from voicecli.engine.types import StreamItem, ToolCall
from voicecli.errors import LLMError, VoicecliError
from voicecli.llm.base import LLMBase

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0  # a big model on a busy CPU can think for a while before its first token
DEFAULT_CONNECT_TIMEOUT_S = 5.0
_ERROR_BODY_LIMIT = 4096  # bytes of an error response read for the message
_SNIPPET_CHARS = 160


class LLMServerError(LLMError):
    """A failure talking to the server. ``partial_chars``: reply text already yielded before it."""

    def __init__(self, message: str, hint: str | None = None, *, partial_chars: int = 0,
                 status: int | None = None):
        super().__init__(message, hint)
        self.partial_chars = partial_chars
        self.status = status


class OpenAIChatLLM(LLMBase):
    """Streaming chat completions from an OpenAI-compatible server (implements ``LLM``)."""

    backend = "openai"

    def __init__(
        self,
        base_url: str,
        model_name: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        temperature: float | None = None,
        max_tokens: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ):
        self.base_url = normalize_base_url(base_url)
        self.model_name = model_name or None
        self._api_key = api_key or None
        for name, value, example in (("timeout", timeout_s, "--llm-timeout 30"),
                                     ("connect timeout", connect_timeout_s, "VOICECLI_LLM_CONNECT_TIMEOUT=10")):
            if not value > 0:
                raise VoicecliError(f"the LLM server {name} must be a positive number of seconds, got {value}",
                                    f"e.g. {example}")
        self.timeout_s = float(timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)
        # Sampling options the local backend also takes; sent only when set, else the server decides.
        self._options: dict[str, Any] = {}
        if temperature is not None:
            self._options["temperature"] = temperature
        if max_tokens is not None:
            self._options["max_tokens"] = max_tokens
            self.reply_tokens = max_tokens
        self._options.update(extra_body or {})
        self._client: httpx.Client | None = None

    def __repr__(self) -> str:  # no API key in here, ever
        return f"OpenAIChatLLM({self.display_url!r}, model_name={self.model_name!r})"

    @property
    def display_url(self) -> str:
        """The base URL as shown to the user: any password in it is masked."""
        return _mask_password(self.base_url)

    # --- the LLM protocol ---------------------------------------------------------------------

    def stream(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
    ) -> Iterator[StreamItem]:
        return self._stream(messages, tools, tool_choice, {})

    def warm_up(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> None:
        """Before the user waits: connect, and let the server evaluate the prompt prefix once.

        A one-token reply to the conversation so far, like the local backend's warm-up: the first
        turn then pays neither for the connection (client set-up, TCP/TLS) nor, on servers with a
        prompt cache (llama.cpp, vLLM), for the system prompt. A server that is down or a wrong model
        name fails here, at start-up, with the same one-line errors.
        """
        for _ in self._stream(messages + [{"role": "user", "content": "Hi"}], tools, None, {"max_tokens": 1}):
            pass

    def _stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                tool_choice: str | None, overrides: dict[str, Any]) -> Iterator[StreamItem]:
        body: dict[str, Any] = {"messages": _wire_messages(messages), "stream": True}
        if self.model_name:
            body["model"] = self.model_name
        if tools:
            body["tools"] = tools
        if tool_choice is not None:
            body["tool_choice"] = tool_choice_param(tool_choice)
        body.update(self._options)
        body.update(overrides)
        log.debug("POST %s/chat/completions model=%s messages=%d tools=%d",
                  self.display_url, self.model_name, len(messages), len(tools or []))

        started = False  # response headers received
        delivered = 0  # characters of text yielded so far
        reader = ChunkReader()
        try:
            with self._http().stream("POST", f"{self.base_url}/chat/completions", json=body,
                                     headers=self._headers(accept="text/event-stream")) as response:
                started = True
                if response.status_code >= 400:
                    raise self._status_error(response)
                self._check_content_type(response)
                for items in _read_events(reader, response.iter_lines()):
                    for item in items:
                        if isinstance(item, str):
                            delivered += len(item)
                        yield item
                if not reader.complete:
                    raise self._truncated(delivered, "the stream ended without [DONE]")
        except httpx.HTTPError as e:
            if reader.done:  # the reply was whole; only the drain after [DONE] failed
                log.debug("ignoring %s after [DONE]", type(e).__name__)
                return
            raise self._transport_error(e, started=started, delivered=delivered) from e
        except LLMServerError as e:
            e.partial_chars = delivered
            raise

    # --- other requests -----------------------------------------------------------------------

    def models(self) -> list[str]:
        """The model ids the server lists (``GET {base_url}/models``); for `doctor` and error hints."""
        try:
            response = self._http().get(f"{self.base_url}/models", headers=self._headers())
            if response.status_code >= 400:
                raise self._status_error(response, listing=True)
            data = response.json().get("data", [])
            return [m["id"] for m in data if isinstance(m, dict) and "id" in m]
        except httpx.HTTPError as e:
            raise self._transport_error(e, started=False, delivered=0) from e
        except (ValueError, AttributeError, TypeError):
            raise LLMServerError(f"the LLM server at {self.display_url} sent a model list that is not "
                                 "OpenAI-shaped JSON", "check --llm-url points at the /v1 API base") from None

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __enter__(self) -> OpenAIChatLLM:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- plumbing ----------------------------------------------------------------------------

    def _http(self) -> httpx.Client:
        # Made on first use: building the TLS context costs a few tens of ms a CLI need not pay early.
        if self._client is None:
            timeout = httpx.Timeout(self.timeout_s, connect=self.connect_timeout_s, pool=self.connect_timeout_s)
            self._client = httpx.Client(timeout=timeout)
        return self._client

    def _headers(self, accept: str = "application/json") -> dict[str, str]:
        headers = {"Accept": accept}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _redact(self, text: str) -> str:
        return text.replace(self._api_key, "***") if self._api_key else text

    def _check_content_type(self, response: httpx.Response) -> None:
        # Lenient: only a type that is clearly not an event stream is refused (some servers omit it).
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype in ("text/html", "application/json"):
            detail = self._redact(_error_detail(_read_some(response)))
            raise LLMServerError(
                f"the LLM server at {self.display_url} answered with {ctype}, not an event stream: {detail}",
                "check that --llm-url is the OpenAI-compatible API base, ending in /v1",
            )

    def _status_error(self, response: httpx.Response, *, listing: bool = False) -> LLMServerError:
        status = response.status_code
        detail = self._redact(_error_detail(_read_some(response))) or response.reason_phrase
        message = f"the LLM server at {self.display_url} answered HTTP {status}: {detail}"
        mentions_model = "model" in detail.lower()
        if status in (401, 403):
            hint = ("the server rejected the API key: check VOICECLI_LLM_API_KEY" if self._api_key
                    else "the server wants an API key: set VOICECLI_LLM_API_KEY")
        elif status in (400, 404, 422) and mentions_model and not listing:
            hint = "pass a model the server serves with --llm-model-name" + self._served_models_note()
        elif status == 404:
            hint = "check --llm-url: it should be the API base, ending in /v1 (e.g. http://127.0.0.1:8080/v1)"
        elif status in (400, 422):
            hint = "the server refused the request; check --llm-model-name and the server's log"
        elif status == 429:
            hint = "the server is busy or rate-limited; wait and try again"
        elif status == 503:
            hint = "the server is not ready (still loading its model?); wait and try again"
        elif status >= 500:
            hint = "the server failed; check its log"
        else:
            hint = "check --llm-url and the server's log"
        return LLMServerError(message, hint, status=status)

    def _served_models_note(self) -> str:
        try:
            names = self.models()
        except LLMError:
            return ""
        return f" (it lists: {', '.join(names[:8])})" if names else ""

    def _truncated(self, delivered: int, why: str) -> LLMServerError:
        return LLMServerError(
            f"the LLM server stopped mid-stream after {delivered} characters of reply: {why}",
            "check the server's log (did it crash or run out of memory?); the next turn will try again",
            partial_chars=delivered,
        )

    def _transport_error(self, exc: httpx.HTTPError, *, started: bool, delivered: int) -> LLMServerError:
        url = self.display_url
        if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
            return LLMServerError(
                f"could not connect to the LLM server at {url} within {self.connect_timeout_s:g} s",
                "check the host and port are reachable from here, or raise VOICECLI_LLM_CONNECT_TIMEOUT",
            )
        if isinstance(exc, httpx.ReadTimeout):
            if started:
                return LLMServerError(
                    f"the LLM server stalled: no data for {self.timeout_s:g} s mid-stream "
                    f"(after {delivered} characters of reply)",
                    f"raise --llm-timeout (now {self.timeout_s:g} s) if the server is just slow, else check its log",
                    partial_chars=delivered,
                )
            return LLMServerError(
                f"the LLM server at {url} did not answer within {self.timeout_s:g} s",
                f"raise --llm-timeout (now {self.timeout_s:g} s) if the model is slow to start, else check the server",
            )
        if isinstance(exc, httpx.ConnectError):
            cause = _root_cause(exc)
            if isinstance(cause, socket.gaierror):
                host = urlsplit(self.base_url).hostname
                return LLMServerError(f"cannot resolve the LLM server's host name {host!r} ({cause.strerror})",
                                      "check the host name in --llm-url / VOICECLI_LLM_URL")
            if isinstance(cause, ConnectionRefusedError):
                return LLMServerError(f"cannot reach the LLM server at {url}: connection refused",
                                      "start the server, or fix --llm-url / VOICECLI_LLM_URL")
            if isinstance(cause, ssl.SSLError):
                return LLMServerError(f"TLS handshake with the LLM server at {url} failed: {cause}",
                                      "use http:// for a server without TLS, or fix its certificate")
            return LLMServerError(f"cannot reach the LLM server at {url}: {_reason(exc)}",
                                  "check the server is running and reachable from this machine")
        if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
            if started:
                why = ("the connection closed before the reply ended" if isinstance(exc, httpx.RemoteProtocolError)
                       else f"the connection failed ({_reason(exc)})")
                return self._truncated(delivered, why)
            return LLMServerError(f"the LLM server at {url} closed the connection without answering",
                                  "check --llm-url (http vs https, the port) and the server's log")
        if isinstance(exc, httpx.UnsupportedProtocol):
            return LLMServerError(f"the LLM server URL {url} is not http:// or https://",
                                  "e.g. --llm-url http://127.0.0.1:8080/v1")
        return LLMServerError(f"the request to the LLM server at {url} failed: {_reason(exc)}",
                              "check the server and --llm-url", partial_chars=delivered)


# --- the stream format ----------------------------------------------------------------------------


def iter_sse_data(lines: Iterable[str]) -> Iterator[str]:
    """The ``data`` payload of each server-sent event, from the stream's lines.

    Follows the SSE rules: an event ends at a blank line; several ``data:`` lines in one event are
    joined with newlines; one optional space after the colon is dropped; comment lines (``:``, used
    as keep-alives) and the other fields (``event``, ``id``, ``retry``) are ignored.
    """
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                yield "\n".join(data)
                data = []
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        if name == "data":
            data.append(value[1:] if value.startswith(" ") else value)
    if data:  # the last event, when the stream ended without its blank line
        yield "\n".join(data)


def _read_events(reader: ChunkReader, lines: Iterable[str]) -> Iterator[list[StreamItem]]:
    """What each event adds to the reply, up to ``[DONE]``; then any tool calls left over."""
    for data in iter_sse_data(lines):
        # After [DONE] the body should end at once; reading to its end (instead of breaking off)
        # lets httpx keep the connection for the next turn: no new TCP/TLS handshake per reply.
        if not reader.done:
            yield reader.feed(data)
    if reader.complete and not reader.done:  # a finish reason but no [DONE]: some servers end so
        yield list(reader.finish())


class ChunkReader:
    """Turns chat-completion chunks (the JSON of each event) into text deltas and ``ToolCall``s.

    ``done``: ``[DONE]`` was seen. ``complete``: the reply is whole (``[DONE]`` or a finish reason).
    """

    def __init__(self) -> None:
        self.done = False
        self.finish_reason: str | None = None
        self._calls: dict[int, dict[str, Any]] = {}

    @property
    def complete(self) -> bool:
        return self.done or self.finish_reason is not None

    def feed(self, data: str) -> list[StreamItem]:
        if data.strip() == "[DONE]":
            self.done = True
            return list(self.finish())
        try:
            chunk = json.loads(data)
        except json.JSONDecodeError:
            raise LLMServerError(
                f"the LLM server sent a broken stream event (not JSON): {_snippet(data)!r}",
                "the server is not OpenAI-compatible or misbehaved; check --llm-url and its log",
            ) from None
        if not isinstance(chunk, dict):
            raise LLMServerError(f"the LLM server sent a stream event that is not a JSON object: {_snippet(data)!r}",
                                 "check --llm-url points at an OpenAI-compatible server")
        if "error" in chunk:  # llama.cpp's server and vLLM report failures after the headers this way
            raise LLMServerError(f"the LLM server reported an error mid-stream: {_error_message(chunk)}",
                                 "check the server's log (context length? out of memory?)")
        items: list[StreamItem] = []
        choices = chunk.get("choices") or []  # a usage-only chunk has none
        if not choices:
            return items
        choice = choices[0] if isinstance(choices[0], dict) else {}
        delta = choice.get("delta") or {}
        content = delta.get("content")
        if isinstance(content, str) and content:
            items.append(content)
        fragments = delta.get("tool_calls")
        if isinstance(fragments, list):
            self._add_fragments(fragments)
        if choice.get("finish_reason"):
            self.finish_reason = choice["finish_reason"]
            if self.finish_reason == "tool_calls":
                items.extend(self.finish())
        return items

    def finish(self) -> Iterator[ToolCall]:
        """The tool calls assembled so far (each yielded once), in index order."""
        calls, self._calls = self._calls, {}
        for index in sorted(calls):
            call = calls[index]
            if not call["name"]:
                raise LLMServerError("the LLM server sent a tool call without a function name",
                                     "the server or model does not support tool calls properly")
            yield ToolCall(name=call["name"], arguments="".join(call["arguments"]) or "{}", id=call["id"])

    def _add_fragments(self, fragments: list[Any]) -> None:
        for position, fragment in enumerate(fragments):
            if not isinstance(fragment, dict):
                continue
            index = fragment.get("index", position)
            call = self._calls.setdefault(index, {"id": "", "name": "", "arguments": []})
            if fragment.get("id"):
                call["id"] = fragment["id"]
            function = fragment.get("function") or {}
            name = function.get("name")
            # The name comes whole in the first fragment; some servers repeat it in later ones.
            if name and name != call["name"]:
                call["name"] += name
            arguments = function.get("arguments")
            if isinstance(arguments, (dict, list)):  # a few servers send parsed JSON instead of text
                arguments = json.dumps(arguments)
            if arguments:
                call["arguments"].append(arguments)


# --- helpers -------------------------------------------------------------------------------------


def _wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The messages as every server accepts them: an assistant turn that only called tools gets
    ``content: ""`` instead of ``null`` (the OpenAI spec allows null; llama_cpp.server answers 500)."""
    return [{**m, "content": ""} if m.get("role") == "assistant" and m.get("content") is None else m
            for m in messages]


def tool_choice_param(tool_choice: str) -> str | dict[str, Any]:
    """``auto`` / ``none`` / ``required`` pass through; any other string names the one tool to call."""
    if tool_choice in ("auto", "none", "required"):
        return tool_choice
    return {"type": "function", "function": {"name": tool_choice}}


def normalize_base_url(url: str) -> str:
    """Strip spaces and trailing slashes, and a pasted ``/chat/completions``; require http(s)."""
    url = url.strip().rstrip("/")
    if url.endswith("/chat/completions"):
        url = url[: -len("/chat/completions")]
    if urlsplit(url).scheme not in ("http", "https") or not urlsplit(url).hostname:
        raise VoicecliError(f"the LLM server URL must be an http:// or https:// URL, got {_mask_password(url)!r}",
                            "e.g. --llm-url http://127.0.0.1:8080/v1")
    return url


def list_models(base_url: str, api_key: str | None = None, timeout_s: float = 5.0) -> list[str]:
    """The model ids an OpenAI-compatible server serves; raises ``LLMServerError`` when unreachable."""
    with OpenAIChatLLM(base_url, api_key=api_key, timeout_s=timeout_s, connect_timeout_s=timeout_s) as llm:
        return llm.models()


def _mask_password(url: str) -> str:
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = f"[{parts.hostname}]" if ":" in (parts.hostname or "") else parts.hostname  # IPv6
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def _read_some(response: httpx.Response) -> bytes:
    """At most ``_ERROR_BODY_LIMIT`` bytes of the body: an error page should not be read forever."""
    body = b""
    try:
        for part in response.iter_bytes():
            body += part
            if len(body) >= _ERROR_BODY_LIMIT:
                break
    except httpx.HTTPError:
        pass
    return body[:_ERROR_BODY_LIMIT]


def _error_detail(body: bytes) -> str:
    """The server's own words from an error body, in any of the shapes servers use, shortened."""
    text = body.decode("utf-8", "replace")
    try:
        parsed = json.loads(text)
    except json.JSONDecodeError:
        return _snippet(text)
    return _snippet(_error_message(parsed) if isinstance(parsed, dict) else text)


def _error_message(obj: dict[str, Any]) -> str:
    # OpenAI / llama.cpp / Ollama: {"error": {"message": ...}}; some: {"error": "..."};
    # vLLM: {"message": ...}; FastAPI: {"detail": "..." or [{"msg": ...}, ...]}.
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


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _SNIPPET_CHARS else text[: _SNIPPET_CHARS - 1] + "…"


def _root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while (nxt := exc.__cause__ or exc.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        exc = nxt
    return exc


def _reason(exc: BaseException) -> str:
    cause = _root_cause(exc)
    text = getattr(cause, "strerror", None) or str(cause) or str(exc) or type(cause).__name__
    return _snippet(text)
