"""Ending a server stream on time, or on request from any thread.

- ``Watch``: the gap between two events of the reply and the whole reply, against their limits.
  httpx's read timeout restarts on every byte, so a server trickling one byte a second would never
  hit it; the backend asks ``late()`` as each piece of bytes arrives, and calls ``progress()`` when
  a whole event has been parsed.
- ``ServerStream``: what ``OpenAIChatLLM.stream()`` returns, a generator whose ``close()`` also
  works from another thread while the reading thread is blocked: ``Canceller.cut()`` shuts the
  socket down (``close()`` on a socket does not wake a ``recv()`` blocked on it in another thread;
  ``shutdown()`` does), the read returns, and the stream ends quietly.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx

from voicecli.engine.types import StreamItem


class Closed(Exception):
    """The stream was closed (from another thread): end quietly."""


class Watch:
    """The server's time on this reply: since its last event, and in all, against their limits.

    Only time spent waiting for the server counts: while the consumer holds the stream (the engine
    blocks when its speech queue is full), the clocks stop, so slow speech is never a "stall".
    """

    def __init__(self, gap_s: float, deadline_s: float):
        self.gap_s = gap_s
        self.deadline_s = deadline_s
        self.spent = 0.0  # server time before the current stretch of reading
        self.resumed = self.gap_from = time.monotonic()

    def progress(self) -> None:
        """A whole event arrived."""
        self.gap_from = time.monotonic()

    def pause(self) -> None:
        """The consumer has the stream (an item was yielded)."""
        self.spent += time.monotonic() - self.resumed

    def resume(self) -> None:
        self.resumed = self.gap_from = time.monotonic()

    def late(self) -> str | None:
        """``"deadline"``, ``"gap"`` or ``None``."""
        now = time.monotonic()
        if self.spent + now - self.resumed > self.deadline_s:
            return "deadline"
        if now - self.gap_from > self.gap_s:
            return "gap"
        return None


class Late(Exception):
    def __init__(self, kind: str):
        super().__init__(kind)
        self.kind = kind


class Canceller:
    """Lets another thread end a stream that is blocked in a read: shut its socket down.

    The socket is known from the response, or earlier, for a new connection, from httpcore's
    ``trace`` hook (so a close while waiting for the response headers works too).
    """

    def __init__(self) -> None:
        self.closing = threading.Event()
        self._lock = threading.Lock()
        self._stream: Any = None  # httpcore's network stream

    def trace(self, event: str, info: dict[str, Any]) -> None:
        if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
            self.attach(info.get("return_value"))

    def attach_response(self, response: httpx.Response) -> None:
        self.attach(response.extensions.get("network_stream"))

    def attach(self, stream: Any) -> None:
        with self._lock:
            self._stream = stream
        if stream is not None and self.closing.is_set():
            self._shutdown()

    def cut(self) -> None:
        self.closing.set()
        self._shutdown()

    def _shutdown(self) -> None:
        with self._lock:
            stream = self._stream
        try:
            sock = stream.get_extra_info("socket") if stream is not None else None
            if sock is not None:
                sock.shutdown(socket.SHUT_RDWR)  # a blocked recv() returns at once (close() would not wake it)
        except OSError:
            pass


class ServerStream(Iterator[StreamItem]):
    """The iterator ``stream()`` returns: a generator whose ``close()`` is safe from any thread.

    Closed between items (the usual case), the generator exits its ``with`` block and the
    connection is closed. Closed while another thread is inside ``next()`` (blocked reading a
    slow server), the socket is shut down: that read returns, the stream ends without an error,
    and the reading thread's ``next()`` raises ``StopIteration``.
    """

    def __init__(self, gen: Iterator[StreamItem], canceller: Canceller):
        self._gen = gen
        self._canceller = canceller

    def __next__(self) -> StreamItem:
        if self._canceller.closing.is_set():
            raise StopIteration
        try:
            return next(self._gen)
        except ValueError:  # another thread is closing the generator this very moment
            if self._canceller.closing.is_set():
                raise StopIteration from None
            raise

    def close(self) -> None:
        self._canceller.closing.set()
        try:
            self._gen.close()  # type: ignore[attr-defined]
        except ValueError:  # "generator already executing": another thread is in next()
            self._canceller.cut()
