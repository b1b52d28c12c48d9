"""An OpenAI-compatible server as the LLM: llama.cpp's server, Ollama, vLLM, LM Studio, ...

``POST {base_url}/chat/completions`` with ``stream: true``; the reply is a stream of server-sent
events (parsed, with every size bounded, in ``sse.py``). Text deltas are yielded as they arrive;
tool-call deltas are assembled and yielded as complete ``ToolCall``s when the model finishes asking.

Decisions worth knowing:

- httpx, synchronous, one client per backend instance (connections are reused across turns).
  Closing the stream (what the engine does on Ctrl-C or barge-in) exits the ``with
  client.stream(...)`` block, which closes the connection: the server sees the client go away and
  stops generating. ``stream()`` returns a :class:`ServerStream`, whose ``close()`` also works from
  another thread while the reading thread is blocked in a read: it shuts the socket down, so the
  read returns at once and the stream ends quietly.
- Three time limits: ``connect_timeout_s`` to open the connection; ``timeout_s`` between two
  pieces of the reply (the wait for the first one included); ``deadline_s`` for the whole reply.
  httpx's read timeout restarts on every byte, so a server trickling a byte a second would never
  hit it: the gap is therefore measured between whole events, checked as bytes arrive. Both count
  only the server's time, not the time the caller holds the stream (``stream_control.Watch``).
- Every failure becomes one ``LLMServerError`` line saying what happened and how to fix it
  (``server_errors.py``). A failure after text was yielded is raised only after that text was
  delivered, so the pipeline keeps (and has already spoken) the partial reply; ``partial_chars``
  says how much there was.
- A stream must end with ``[DONE]`` or at least a ``finish_reason``; one that just stops is
  reported as truncated rather than passed off as a complete (short) reply.
- The API key (``api_key``: the app reads ``$VOICECLI_LLM_API_KEY`` or ``$OPENAI_API_KEY``) goes only into
  the ``Authorization`` header: it is never logged, never in ``repr``, and masked out of any server
  text quoted in an error before that text is shortened; a last pass masks the finished message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator, Mapping
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from voicecli.engine.types import StreamItem
from voicecli.errors import LLMError, VoicecliError
from voicecli.llm import server_errors as errs
from voicecli.llm.base import LLMBase
from voicecli.llm.sse import ChunkReader, LLMServerError, iter_lines, iter_sse_data, mask_secret, read_events
from voicecli.llm.stream_control import Canceller, Closed, Late, ServerStream, Watch

__all__ = ["LLMServerError", "OpenAIChatLLM", "ServerStream", "iter_sse_data", "list_models", "normalize_base_url",
           "tool_choice_param"]

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_S = 60.0  # a big model on a busy CPU can think for a while before its first token
DEFAULT_CONNECT_TIMEOUT_S = 5.0
DEFAULT_DEADLINE_S = 300.0  # the server's own time on one reply (time the caller holds the stream not counted)
MAX_DRAIN_BYTES = 64 << 10  # read after [DONE] to keep the connection; more than this: drop it
MAX_MODEL_LIST_BYTES = 1 << 20


class OpenAIChatLLM(LLMBase):
    """Streaming chat completions from an OpenAI-compatible server (implements ``LLM``)."""

    backend = "openai"
    cancellable = True  # ServerStream.close() shuts the socket down from any thread

    def __init__(
        self,
        base_url: str,
        model_name: str | None = None,
        api_key: str | None = None,
        *,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
        deadline_s: float = DEFAULT_DEADLINE_S,
        temperature: float | None = None,
        max_tokens: int | None = None,
        extra_body: Mapping[str, Any] | None = None,
    ):
        self.base_url = normalize_base_url(base_url)
        self.model_name = model_name or None
        self._api_key = api_key or None
        errs.mask_in_logs(self._api_key)
        for name, value, example in (("timeout", timeout_s, "--llm-timeout 30"),
                                     ("connect timeout", connect_timeout_s, "VOICECLI_LLM_CONNECT_TIMEOUT=10"),
                                     ("reply deadline", deadline_s, "300")):
            if not 0 < value < float("inf"):  # also refuses NaN
                raise VoicecliError(f"the LLM server {name} must be a positive number of seconds, got {value}",
                                    f"e.g. {example}")
        self.timeout_s = float(timeout_s)
        self.connect_timeout_s = float(connect_timeout_s)
        self.deadline_s = float(deadline_s)
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

    @property
    def _where(self) -> errs.Where:
        return errs.Where(self.display_url, urlsplit(self.base_url).hostname, self.timeout_s,
                          self.connect_timeout_s, self.deadline_s, self._api_key)

    # --- the LLM protocol ---------------------------------------------------------------------

    def stream(
        self,
        messages: list[dict[str, Any]],
        *,
        tools: list[dict[str, Any]] | None = None,
        tool_choice: str | None = None,
    ) -> ServerStream:
        canceller = Canceller()
        return ServerStream(self._stream(messages, tools, tool_choice, {}, canceller), canceller)

    def warm_up(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None = None) -> None:
        """Before the user waits: connect, and let the server evaluate the prompt prefix once.

        A one-token reply to the conversation so far, like the local backend's warm-up: the first
        turn then pays neither for the connection (client set-up, TCP/TLS) nor, on servers with a
        prompt cache (llama.cpp, vLLM), for the system prompt. A server that is down or a wrong model
        name fails here, at start-up, with the same one-line errors.
        """
        for _ in self._stream(messages + [{"role": "user", "content": "Hi"}], tools, None, {"max_tokens": 1},
                              Canceller()):
            pass

    def _stream(self, messages: list[dict[str, Any]], tools: list[dict[str, Any]] | None,
                tool_choice: str | None, overrides: dict[str, Any], canceller: Canceller) -> Iterator[StreamItem]:
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
        reader = ChunkReader(self._api_key)
        watch = Watch(self.timeout_s, self.deadline_s)
        try:
            with self._http().stream("POST", f"{self.base_url}/chat/completions", json=body,
                                     headers=self._headers(accept="text/event-stream"),
                                     extensions={"trace": canceller.trace}) as response:
                started = True
                canceller.attach_response(response)
                if canceller.closing.is_set():
                    return
                if response.status_code >= 400:
                    raise self._status_error(response)
                self._check_content_type(response)
                chunks = self._chunks(response, reader, watch, canceller)
                for items in read_events(reader, iter_lines(chunks)):
                    watch.progress()
                    for item in items:
                        if isinstance(item, str):
                            delivered += len(item)
                        watch.pause()
                        yield item
                        watch.resume()
                if not reader.complete:
                    raise errs.truncated(delivered, "the stream ended without [DONE]")
        except Closed:
            return
        except Late as late:
            where = self._where
            raise (errs.stalled(where, delivered) if late.kind == "gap"
                   else errs.past_deadline(where, delivered)) from None
        except httpx.HTTPError as e:
            if reader.done or canceller.closing.is_set():  # the reply was whole, or the caller hung up
                log.debug("ignoring %s after [DONE] or close", type(e).__name__)
                return
            error = errs.transport_error(e, self._where, started=started, delivered=delivered)
            raise errs.scrub(error, self._api_key) from (None if errs.leaks(e, self._api_key) else e)
        except LLMServerError as e:
            e.partial_chars = delivered
            raise errs.scrub(e, self._api_key) from None
        finally:
            canceller.attach(None)

    @staticmethod
    def _chunks(response: httpx.Response, reader: ChunkReader, watch: Watch,
                canceller: Canceller) -> Iterator[bytes]:
        """The body's bytes, checked against the time limits (and a close) as each piece arrives."""
        drained = 0
        for chunk in response.iter_bytes():
            if canceller.closing.is_set():
                raise Closed
            if reader.done:
                drained += len(chunk)
                if drained > MAX_DRAIN_BYTES:  # more after [DONE]: stop; leaving drops the connection
                    return
            elif (late := watch.late()) is not None:
                raise Late(late)
            yield chunk

    # --- other requests -----------------------------------------------------------------------

    def models(self) -> list[str]:
        """The model ids the server lists (``GET {base_url}/models``); for `doctor` and error hints."""

        try:
            with self._http().stream("GET", f"{self.base_url}/models", headers=self._headers()) as response:
                if response.status_code >= 400:
                    raise self._status_error(response, listing=True)
                raw, cut = errs.read_some(response, MAX_MODEL_LIST_BYTES)
            if cut:
                raise LLMServerError(f"the LLM server at {self.display_url} sent a model list over "
                                     f"{MAX_MODEL_LIST_BYTES >> 10} KiB", "check --llm-url points at the /v1 API base")
            data = json.loads(raw).get("data", [])
            return [mask_secret(m["id"], self._api_key) for m in data
                    if isinstance(m, dict) and isinstance(m.get("id"), str)]
        except httpx.HTTPError as e:
            error = errs.transport_error(e, self._where, started=False, delivered=0)
            raise errs.scrub(error, self._api_key) from (None if errs.leaks(e, self._api_key) else e)
        except LLMServerError as e:
            raise errs.scrub(e, self._api_key) from None
        except (ValueError, AttributeError, TypeError, RecursionError):
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
        # identity: a compressed body could expand past the size limits before they are checked
        headers = {"Accept": accept, "Accept-Encoding": "identity"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _check_content_type(self, response: httpx.Response) -> None:
        # Lenient: only a type that is clearly not an event stream is refused (some servers omit it).
        ctype = response.headers.get("content-type", "").split(";")[0].strip().lower()
        if ctype in ("text/html", "application/json"):
            detail = errs.error_detail(*errs.read_some(response), self._api_key)
            raise LLMServerError(
                f"the LLM server at {self.display_url} answered with {ctype}, not an event stream: {detail}",
                "check that --llm-url is the OpenAI-compatible API base, ending in /v1",
            )

    def _status_error(self, response: httpx.Response, *, listing: bool = False) -> LLMServerError:
        status = response.status_code
        detail = (errs.error_detail(*errs.read_some(response), self._api_key)
                  or errs.quote(response.reason_phrase, self._api_key))
        served = ""
        if status in (400, 404, 422) and not listing and "model" in detail.lower():
            served = self._served_models_note()
        return errs.status_error(status, detail, self._where, listing=listing, served=served)

    def _served_models_note(self) -> str:
        try:
            names = self.models()
        except LLMError:
            return ""
        return errs.served_note(names, self._api_key)


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
