"""A small OpenAI-compatible server on loopback that misbehaves on purpose, for tests.

    with FakeOpenAIServer() as server:
        server.replies = [Reply.stream(["Hel", "lo"])]
        llm = OpenAIChatLLM(server.url)

Each POST to ``/v1/chat/completions`` takes the next ``Reply`` from ``server.replies`` (the last one
is reused when only one is left) and records the request in ``server.requests``. A streamed reply is
a list of steps: a ``str`` is written as one HTTP chunk, a ``float`` pauses (a stall), a
``threading.Event`` waits until the test sets it. The body ends properly (``end="close"``) or the
connection is dropped with the chunked body unfinished (``end="cut"``), as a crashed server would.
``GET /v1/models`` lists ``server.models``; see ``answer_warm_ups`` for start-up requests.
Nothing here sleeps past shutdown: pauses wait on an event.

A hostile server echoes the client's secret: ``ECHO_KEY`` anywhere in a reply (a step, a body, the
status line's reason, a model name) is replaced by the bearer token of the request it answers.
A ``bytes`` step is written as it is, outside the chunked framing: a broken body.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

Step = str | bytes | float | threading.Event
ECHO_KEY = "{{api_key}}"


def sse(payload: dict[str, Any] | str) -> str:
    """One server-sent event carrying ``payload`` (a dict is sent as JSON)."""
    data = payload if isinstance(payload, str) else json.dumps(payload)
    return f"data: {data}\n\n"


def chunk(delta: dict[str, Any] | None = None, finish_reason: str | None = None) -> dict[str, Any]:
    """A ``chat.completion.chunk`` in the OpenAI shape."""
    return {
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake-model",
        "choices": [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}],
    }


def text_events(deltas: list[str]) -> list[str]:
    """A role chunk, then one event per text delta."""
    return [sse(chunk({"role": "assistant", "content": ""}))] + [sse(chunk({"content": d})) for d in deltas]


def ending(finish_reason: str = "stop") -> list[str]:
    return [sse(chunk({}, finish_reason)), sse("[DONE]")]


@dataclass
class Reply:
    """What the server does with one chat-completion request."""

    steps: list[Step] = field(default_factory=list)
    status: int = 200
    content_type: str = "text/event-stream"
    body: bytes | None = None  # a whole (non-streamed) body, sent with a Content-Length
    end: Literal["close", "cut"] = "close"
    delay_s: float = 0.0  # before the status line: a server that is slow to answer at all
    reason: str | None = None  # the status line's reason phrase, when not the standard one

    @classmethod
    def stream(cls, deltas: list[str], finish_reason: str = "stop") -> Reply:
        return cls(text_events(deltas) + ending(finish_reason))

    @classmethod
    def error(cls, status: int, body: dict[str, Any] | str) -> Reply:
        raw = body if isinstance(body, str) else json.dumps(body)
        ctype = "text/plain" if isinstance(body, str) else "application/json"
        return cls(status=status, content_type=ctype, body=raw.encode())


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    json: Any
    client_port: int  # the same port for two requests: the client reused its connection


class FakeOpenAIServer:
    def __init__(self) -> None:
        self.replies: list[Reply] = [Reply.stream(["Hello", "!"])]
        self.requests: list[Request] = []
        self.models: list[str] = ["fake-model"]
        # When set, a one-token request (a backend's warm-up) gets a one-token reply and leaves
        # ``replies`` alone, so a test scripts the turns whether or not the caller warms up first.
        self.answer_warm_ups = False
        self.client_gone = threading.Event()  # a write failed: the client closed the connection
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._httpd = _Server(("127.0.0.1", 0), _Handler)
        self._httpd.fake = self  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="fake-openai-server", daemon=True)

    @property
    def port(self) -> int:
        return self._httpd.server_address[1]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def next_reply(self) -> Reply:
        with self._lock:
            return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    def pause(self, seconds: float) -> bool:
        """Sleep, but wake at shutdown. True if the server is stopping."""
        return self._stopping.wait(seconds)

    def __enter__(self) -> FakeOpenAIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)


def refused_url() -> str:
    """A loopback URL where nothing listens: the connection is refused."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up is part of the tests (cancellation); anything else is printed."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # chunked streaming, like uvicorn behind llama_cpp.server

    @property
    def fake(self) -> FakeOpenAIServer:
        return self.server.fake  # type: ignore[attr-defined]

    def log_message(self, format: str, *args: Any) -> None:  # keep test output clean
        pass

    def _echo(self, data: bytes) -> bytes:
        """``data`` with ``ECHO_KEY`` replaced by the request's bearer token (a server echoing it)."""
        token = self.headers.get("Authorization", "").removeprefix("Bearer ")
        return data.replace(ECHO_KEY.encode(), token.encode())

    def _record(self, body: Any) -> None:
        self.fake.requests.append(
            Request(self.command, self.path, dict(self.headers.items()), body, self.client_address[1]))

    def do_GET(self) -> None:
        self._record(None)
        if self.path.rstrip("/") == "/v1/models":
            data = [{"id": m, "object": "model", "owned_by": "fake"} for m in self.fake.models]
            self._send_whole(200, "application/json", self._echo(json.dumps({"object": "list", "data": data}).encode()))
        else:
            self._send_whole(404, "application/json", b'{"error": {"message": "Not Found"}}')

    def do_POST(self) -> None:
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try:
            body = json.loads(raw)
        except json.JSONDecodeError:
            body = raw.decode("utf-8", "replace")
        self._record(body)
        if self.path.rstrip("/") != "/v1/chat/completions":
            self._send_whole(404, "application/json", b'{"error": {"message": "File Not Found"}}')
            return
        warm_up = self.fake.answer_warm_ups and isinstance(body, dict) and body.get("max_tokens") == 1
        reply = Reply.stream(["Hi"], finish_reason="length") if warm_up else self.fake.next_reply()
        if reply.delay_s and self.fake.pause(reply.delay_s):
            return
        if reply.body is not None:
            self._send_whole(reply.status, reply.content_type, self._echo(reply.body), reply.reason)
            return
        try:
            self._stream(reply)
        except (BrokenPipeError, ConnectionResetError):
            self.fake.client_gone.set()
            self.close_connection = True

    def _send_whole(self, status: int, content_type: str, body: bytes, reason: str | None = None) -> None:
        self.send_response(status, self._echo(reason.encode()).decode() if reason else None)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _stream(self, reply: Reply) -> None:
        self.send_response(reply.status, self._echo(reply.reason.encode()).decode() if reply.reason else None)
        self.send_header("Content-Type", reply.content_type)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        for step in reply.steps:
            if isinstance(step, threading.Event):
                step.wait(10)
            elif isinstance(step, float | int):
                if self.fake.pause(step):
                    break
            elif isinstance(step, bytes):  # raw, outside the chunked framing
                self.wfile.write(self._echo(step))
                self.wfile.flush()
            else:
                data = self._echo(step.encode())
                self.wfile.write(b"%X\r\n%s\r\n" % (len(data), data))
                self.wfile.flush()
        if reply.end == "cut":
            self.close_connection = True  # the server closes the socket: the chunked body never ends
            self.connection.shutdown(socket.SHUT_RDWR)
            return
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
