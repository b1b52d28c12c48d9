"""The conversation log: JSON Lines, appended as the conversation happens.

An observer of the event bus. The user's words are written when the turn starts and the full turn
record (assistant text, what was actually spoken, metrics, tool calls) when it ends, each line
flushed and synced at once, so a crash loses nothing already said; an announcement (a timer) gets a
line of its own. Default place: ``<user data dir>/conversations.jsonl``; ``--log FILE`` /
``VOICECLI_LOG`` to change it.

Privacy: the log holds what the user said, so it is created 0600 inside a 0700 directory (and
tightened when found looser). A write that fails (a full disk) is reported once, in one line, and
the conversation goes on.
"""

from __future__ import annotations

import json
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voicecli.config import data_dir
from voicecli.engine.events import Event, TurnConfirmed, TurnDone, TurnStarted
from voicecli.engine.metrics import clean
from voicecli.errors import VoicecliError


def default_log_path() -> Path:
    return data_dir() / "conversations.jsonl"


def private_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) 0700; tighten it if this program made it looser."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) & 0o077 and path == data_dir():
        path.chmod(0o700)
    return path


def open_private(path: Path, mode: str = "a"):
    """Open a file for appending, created 0600, tightened to 0600 when found looser."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
        os.fchmod(fd, 0o600)
    return os.fdopen(fd, mode, encoding="utf-8")


class ConversationLog:
    def __init__(self, path: str | Path | None = None, session: str | None = None,
                 on_error: Callable[[str], None] | None = None):
        self.path = Path(path) if path else default_log_path()
        self.session = session or time.strftime("%Y%m%dT%H%M%S")
        self.on_error = on_error
        self.failed = False
        self._pending_user: str | None = None
        if self.path.exists() and not self.path.is_file():
            raise VoicecliError(f"cannot write the conversation log {self.path}: not a regular file",
                                "pass --log FILE with a file path, or --no-log")
        try:
            private_dir(self.path.parent)
            self._f = open_private(self.path)
        except OSError as e:
            raise VoicecliError(f"cannot write the conversation log {self.path}: {e.strerror}",
                                "pass --log FILE with a writable path, or --no-log") from None

    def write(self, entry: dict[str, Any]) -> None:
        if self.failed:
            return
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "session": self.session, **entry}
        try:
            self._f.write(json.dumps(clean(entry), ensure_ascii=False, allow_nan=False) + "\n")
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError as e:
            self.failed = True
            if self.on_error is not None:
                self.on_error(f"cannot write the conversation log {self.path} ({e.strerror}); "
                              "the conversation goes on without it")

    def __call__(self, ev: Event) -> None:
        match ev:
            case TurnStarted(kind="announcement"):
                pass
            case TurnStarted(kind="speculative"):  # written when confirmed: a discarded start leaves no trace
                self._pending_user = ev.user
            case TurnConfirmed():
                self.write({"type": "user", "text": self._pending_user})
            case TurnDone(kind="discarded"):
                pass
            case TurnStarted():
                self.write({"type": "user", "text": ev.user})
            case TurnDone(kind="announcement"):
                rec = ev.record
                self.write({"type": "announcement", "text": rec.response, "ttfa_ms": rec.ttfa_ms,
                            "audio_ms": rec.audio_total_ms, "interrupted": rec.interrupted})
            case TurnDone():
                self.write({"type": "turn", **ev.record.as_dict()})

    def close(self) -> None:
        try:
            self._f.close()
        except OSError:
            pass
