"""What went wrong with an OpenAI-compatible server, as one ``LLMServerError`` line with a fix.

The wording for every failure the server backend reports: HTTP statuses, transport errors
(refused, DNS, TLS, time-outs, a connection cut mid-reply), a stream that stalls or runs past its
deadline. Server text quoted here (an error body, a low-level protocol message) is masked for the
API key *before* it is shortened: see ``sse.quote``.
"""

from __future__ import annotations

import json
import logging
import socket
import ssl
from dataclasses import dataclass

import httpx

from voicecli.llm.sse import LLMServerError, error_message, mask_secret, quote, snippet

ERROR_BODY_LIMIT = 4096  # bytes of an error response read for the message


@dataclass(frozen=True)
class Where:
    """What the messages name: the server (password masked), the time-outs, whether a key is set."""

    url: str
    host: str | None
    timeout_s: float
    connect_timeout_s: float
    deadline_s: float
    secret: str | None


def read_some(response: httpx.Response, limit: int = ERROR_BODY_LIMIT) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of the body, and whether there was more: a body is never read forever."""
    body = bytearray()
    try:
        for part in response.iter_bytes():
            body += part
            if len(body) > limit:
                return bytes(body[:limit]), True
    except httpx.HTTPError:
        pass
    return bytes(body), False


def error_detail(body: bytes, cut: bool, secret: str | None) -> str:
    """The server's own words from an error body, in any of the shapes servers use: masked, shortened."""
    text = mask_secret(body.decode("utf-8", "replace"), secret, cut=cut)
    try:
        parsed = json.loads(text)
    except (ValueError, RecursionError):
        return quote(text, secret)
    return quote(error_message(parsed) if isinstance(parsed, dict) else text, secret)


def status_error(status: int, detail: str, where: Where, *, listing: bool, served: str = "") -> LLMServerError:
    """An HTTP error status; ``served``: the models the server lists, for a wrong model name."""
    message = f"the LLM server at {where.url} answered HTTP {status}: {detail}"
    mentions_model = "model" in detail.lower()
    if status in (401, 403):
        hint = ("the server rejected the API key: check VOICECLI_LLM_API_KEY" if where.secret
                else "the server wants an API key: set VOICECLI_LLM_API_KEY")
    elif status in (400, 404, 422) and mentions_model and not listing:
        hint = "pass a model the server serves with --llm-model-name" + served
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


def served_note(names: list[str], secret: str | None) -> str:
    """" (it lists: a, b)" for a hint: at most 8 names, each short, the key masked."""
    shown = [snippet(mask_secret(n, secret), 40) for n in names[:8]]
    return f" (it lists: {', '.join(shown)})" if shown else ""


def truncated(delivered: int, why: str) -> LLMServerError:
    return LLMServerError(
        f"the LLM server stopped mid-stream after {delivered} characters of reply: {why}",
        "check the server's log (did it crash or run out of memory?); the next turn will try again",
        partial_chars=delivered,
    )


def stalled(where: Where, delivered: int) -> LLMServerError:
    return LLMServerError(
        f"the LLM server stalled: nothing new for {where.timeout_s:g} s mid-stream "
        f"(after {delivered} characters of reply)",
        f"raise --llm-timeout (now {where.timeout_s:g} s) if the server is just slow, else check its log",
        partial_chars=delivered,
    )


def past_deadline(where: Where, delivered: int) -> LLMServerError:
    return LLMServerError(
        f"the LLM server took more than {where.deadline_s:g} s in all on one reply (after {delivered} characters)",
        "check the server: is it overloaded, or sending without ever finishing?",
        partial_chars=delivered,
    )


def transport_error(exc: httpx.HTTPError, where: Where, *, started: bool, delivered: int) -> LLMServerError:
    url = where.url
    if isinstance(exc, (httpx.ConnectTimeout, httpx.PoolTimeout)):
        return LLMServerError(
            f"could not connect to the LLM server at {url} within {where.connect_timeout_s:g} s",
            "check the host and port are reachable from here, or raise VOICECLI_LLM_CONNECT_TIMEOUT",
        )
    if isinstance(exc, httpx.ReadTimeout):
        if started:
            return stalled(where, delivered)
        return LLMServerError(
            f"the LLM server at {url} did not answer within {where.timeout_s:g} s",
            f"raise --llm-timeout (now {where.timeout_s:g} s) if the model is slow to start, else check the server",
        )
    if isinstance(exc, httpx.ConnectError):
        cause = root_cause(exc)
        if isinstance(cause, socket.gaierror):
            return LLMServerError(f"cannot resolve the LLM server's host name {where.host!r} ({cause.strerror})",
                                  "check the host name in --llm-url / VOICECLI_LLM_URL")
        if isinstance(cause, ConnectionRefusedError):
            return LLMServerError(f"cannot reach the LLM server at {url}: connection refused",
                                  "start the server, or fix --llm-url / VOICECLI_LLM_URL")
        if isinstance(cause, ssl.SSLError):
            return LLMServerError(f"TLS handshake with the LLM server at {url} failed: {reason(cause, where.secret)}",
                                  "use http:// for a server without TLS, or fix its certificate")
        return LLMServerError(f"cannot reach the LLM server at {url}: {reason(exc, where.secret)}",
                              "check the server is running and reachable from this machine")
    if isinstance(exc, (httpx.RemoteProtocolError, httpx.ReadError)):
        if started:
            why = ("the connection closed before the reply ended" if isinstance(exc, httpx.RemoteProtocolError)
                   else f"the connection failed ({reason(exc, where.secret)})")
            return truncated(delivered, why)
        return LLMServerError(f"the LLM server at {url} closed the connection without answering",
                              "check --llm-url (http vs https, the port) and the server's log")
    if isinstance(exc, httpx.UnsupportedProtocol):
        return LLMServerError(f"the LLM server URL {url} is not http:// or https://",
                              "e.g. --llm-url http://127.0.0.1:8080/v1")
    return LLMServerError(f"the request to the LLM server at {url} failed: {reason(exc, where.secret)}",
                          "check the server and --llm-url", partial_chars=delivered)


def root_cause(exc: BaseException) -> BaseException:
    seen = {id(exc)}
    while (nxt := exc.__cause__ or exc.__context__) is not None and id(nxt) not in seen:
        seen.add(id(nxt))
        exc = nxt
    return exc


def reason(exc: BaseException, secret: str | None) -> str:
    """The low-level reason, short: it may quote bytes the server sent, so the key is masked first."""
    cause = root_cause(exc)
    text = getattr(cause, "strerror", None) or str(cause) or str(exc) or type(cause).__name__
    return quote(str(text), secret)


def scrub(error: LLMServerError, secret: str | None) -> LLMServerError:
    """The last guard: no copy of the key in the message or hint, whatever path built them."""
    error.message = mask_secret(error.message, secret)
    if error.hint is not None:
        error.hint = mask_secret(error.hint, secret)
    error.args = (error.message,)
    return error


def leaks(exc: BaseException, secret: str | None) -> bool:
    """Whether an exception (to be chained as a cause) would show the key in a traceback."""
    return bool(secret) and mask_secret(f"{exc!s} {exc!r}", secret) != f"{exc!s} {exc!r}"


# --- the key in other libraries' logs ---------------------------------------------------------------

# httpx logs each response's status line at INFO and httpcore every step at DEBUG; a server can put
# the key in its status line. A logger's filters see only the records made by that very logger.
_HTTP_LOGGERS = ("httpx", "httpcore.connection", "httpcore.connection_pool", "httpcore.http11",
                 "httpcore.http2", "httpcore.proxy")


class _MaskSecrets(logging.Filter):
    def __init__(self) -> None:
        super().__init__()
        self.secrets: set[str] = set()

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        masked = text
        for secret in self.secrets:
            masked = mask_secret(masked, secret)
        if masked != text:
            record.msg, record.args = masked, ()
        return True


_mask_filter = _MaskSecrets()


def mask_in_logs(secret: str | None) -> None:
    """From now on, mask ``secret`` in what httpx and httpcore log."""
    if not secret or secret in _mask_filter.secrets:
        return
    _mask_filter.secrets.add(secret)
    for name in _HTTP_LOGGERS:
        logger = logging.getLogger(name)
        if _mask_filter not in logger.filters:
            logger.addFilter(_mask_filter)
