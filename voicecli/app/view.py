"""The Rich view: an observer of the pipeline's events, never in the data path.

While a turn runs it shows the reply as it streams, with chunk boundaries as subtle dividers and the
chunk being spoken now highlighted; a holding phrase ("One moment.", said so the user is not left in
silence, or while tools run) appears where it was heard, dim and in quotes, as something said to fill
a wait rather than part of the answer. When the turn ends, a one-line metrics summary. With ``--json``
the view goes to stderr and the turn records to stdout.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from rich.console import Console, Group
from rich.live import Live
from rich.text import Text

from voicecli.engine.events import (
    AudioScheduled,
    ChunkReady,
    Event,
    Token,
    ToolFinished,
    TurnConfirmed,
    TurnDone,
    TurnStarted,
)
from voicecli.engine.metrics import TurnRecord
from voicecli.errors import VoicecliError

STATE_STYLE = {"listening": "cyan", "hearing you": "green", "thinking": "yellow", "speaking": "magenta"}


def metrics_line(rec: TurnRecord) -> Text:
    """``TTFT 12 ms · TTFC 40 ms · TTFA 95 ms · 110 tok/s · RTF 0.07 · 0 underruns``"""

    def ms(v: float | None) -> str:
        return "–" if v is None else f"{v:.0f} ms"

    parts = []
    if rec.stt_ms is not None:
        parts.append(("STT", ms(rec.stt_ms)))
    if rec.endpoint_to_audio_ms is not None:
        parts.append(("end of speech→audio", ms(rec.endpoint_to_audio_ms)))
    parts += [("TTFT", ms(rec.ttft_ms)), ("TTFC", ms(rec.ttfc_ms)), ("TTFA", ms(rec.ttfa_ms))]
    if rec.tokens_per_s and rec.backend != "text":
        parts.append(("", f"{rec.tokens_per_s:.0f} tok/s"))
    if rec.rtf is not None:
        parts.append(("RTF", f"{rec.rtf:.2f}"))
    parts.append(("", f"{len(rec.chunks)} chunks"))
    gap = rec.gap_ms or 0
    parts.append(("", f"{rec.underruns} underruns" + (f" ({gap:.0f} ms gap)" if gap else "")))
    if rec.longest_silence_ms is not None:
        parts.append(("longest silence", ms(rec.longest_silence_ms)))
    if rec.holding:
        parts.append(("", f"{len(rec.holding)} holding phrase" + ("s" if len(rec.holding) > 1 else "")))
    text = Text()
    for i, (label, value) in enumerate(parts):
        if i:
            text.append(" · ", style="dim")
        if label:
            text.append(label + " ", style="dim")
        text.append(value, style="bold")
    return text


class TurnView:
    """Observer that renders the current turn live. Thread-safe (events come from several threads)."""

    def __init__(self, console: Console, *, show_metrics: bool = True, fps: float = 20.0):
        self.console = console
        self.show_metrics = show_metrics
        self.min_interval = 1.0 / fps
        self._lock = threading.Lock()
        self._live: Live | None = None
        self._last_refresh = 0.0
        self._reset()

    def _reset(self) -> None:
        self.pending = ""  # streamed text not yet cut into a chunk
        self.chunks: list[str] = []
        self.starts: dict[int, tuple[float, float]] = {}  # chunk index → (start, end) on the clock
        self.tools: list[str] = []
        self.phrases: list[tuple[int, str, float, float]] = []  # (chunks placed before it, text, start, end)
        self.placed = 0  # chunks placed on the clock so far
        self.user: str | None = None
        self.kind = "turn"

    # -- rendering
    def __rich__(self) -> Group:
        now = time.perf_counter()
        body = Text()
        for i in range(len(self.chunks) + 1):
            for at, text, start, end in self.phrases:
                if at == i or (i == len(self.chunks) and at > i):
                    if body:
                        body.append(" ", style="default")
                    body.append(f"“{text}”", style="cyan italic" if start <= now < end else "dim cyan italic")
            if i == len(self.chunks):
                break
            start, end = self.starts.get(i, (None, None))
            if start is not None and start <= now < end:
                style = "bold magenta"
            elif start is not None and end <= now:
                style = "default"
            else:
                style = "dim" if start is None else "default"
            if body:
                body.append(" │ " if i else " ", style="grey37")
            body.append(self.chunks[i], style=style)
        if self.pending:
            body.append((" " if body else "") + self.pending.strip(), style="italic grey62")
        lines: list[Any] = []
        if self.tools:
            lines.append(Text("  ⚙ " + "  ".join(self.tools), style="cyan"))
        lines.append(Text("⏰ " if self.kind == "announcement" else "▸ ", style="magenta") + body)
        return Group(*lines)

    def _refresh(self, force: bool = False) -> None:
        now = time.perf_counter()
        if self._live is not None and (force or now - self._last_refresh >= self.min_interval):
            self._last_refresh = now
            self._live.refresh()

    # -- observer
    def __call__(self, ev: Event) -> None:
        with self._lock:
            match ev:
                case TurnStarted():
                    self._reset()
                    self.kind = ev.kind
                    if ev.kind != "speculative":  # a speculative turn is shown once it is confirmed
                        self._start_live()
                case TurnConfirmed():
                    self.kind = "turn"
                    self._start_live()
                case TurnDone(kind="discarded"):
                    self._reset()
                    return
                case Token():
                    self.pending += ev.text
                case ChunkReady():
                    self.chunks.append(ev.text)
                    # the chunker normalises whitespace; drop the consumed part of the pending text
                    consumed = " ".join(ev.text.split())
                    flat = " ".join(self.pending.split())
                    self.pending = flat[len(consumed):].lstrip() if flat.startswith(consumed) else ""
                case AudioScheduled(kind="chunk"):
                    self.starts[ev.index] = (ev.start, ev.end)
                    self.placed += 1
                case AudioScheduled(kind="feedback" | "holding"):
                    self.phrases.append((self.placed, ev.text, ev.start, ev.end))
                case ToolFinished():
                    status = "✗" if ev.error else "✓"
                    self.tools.append(f"{ev.name}({ev.arguments}) {status} {ev.result or ev.error}")
                case TurnDone():
                    self._done(ev.record)
                    return
            self._refresh(force=isinstance(ev, (ChunkReady, AudioScheduled)))

    def _start_live(self) -> None:
        self._live = Live(self, console=self.console, auto_refresh=False, transient=False,
                          redirect_stdout=False, redirect_stderr=False)
        self._live.start()

    def _done(self, rec: TurnRecord) -> None:
        self.pending = ""
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None
            if not self.console.is_terminal:  # Live leaves its last line open off a terminal
                self.console.print()
        if rec.interrupted:
            self.console.print(Text("  (interrupted)", style="yellow"))
        if self.show_metrics and self.kind != "announcement":
            self.console.print(Text("  ") + metrics_line(rec))

    def close(self) -> None:
        with self._lock:
            if self._live is not None:
                self._live.stop()
                self._live = None


def print_error(e: VoicecliError, console: Console | None = None) -> None:
    """The one line a user sees for a mistake: never wrapped, so scripts can grep it."""
    console = console or Console(stderr=True, highlight=False)
    console.print(Text.assemble(("error: ", "bold red"), e.one_line()), soft_wrap=True)


def print_warning(line: str, console: Console | None = None) -> None:
    """One line that does not stop anything (an unknown config key, a log that cannot be written)."""
    console = console or Console(stderr=True, highlight=False)
    console.print(Text.assemble(("warning: ", "bold yellow"), " ".join(line.split())), soft_wrap=True)
