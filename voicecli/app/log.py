"""The conversation log: JSON Lines, appended as the conversation happens.

An observer of the event bus. The user's words are written when the turn starts and the full turn
record (assistant text, what was actually spoken, metrics, tool calls) when it ends, each line
flushed at once, so a crash loses nothing already said. Default place:
``<user data dir>/conversations.jsonl``; ``--log FILE`` / ``VOICECLI_LOG`` to change it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from voicecli.config import data_dir
from voicecli.engine.events import Event
from voicecli.errors import VoicecliError


def default_log_path() -> Path:
    return data_dir() / "conversations.jsonl"


class ConversationLog:
    def __init__(self, path: str | Path | None = None, session: str | None = None):
        self.path = Path(path) if path else default_log_path()
        self.session = session or time.strftime("%Y%m%dT%H%M%S")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._f = self.path.open("a", encoding="utf-8")
        except OSError as e:
            raise VoicecliError(f"cannot write the conversation log {self.path}: {e.strerror}",
                                "pass --log FILE with a writable path, or --no-log") from None

    def write(self, entry: dict[str, Any]) -> None:
        entry = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "session": self.session, **entry}
        self._f.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._f.flush()
        os.fsync(self._f.fileno())

    def __call__(self, ev: Event) -> None:
        if ev.kind == "turn_start":
            self.write({"type": "user", "text": ev.get("user")})
        elif ev.kind == "turn_done":
            self.write({"type": "turn", **ev["record"]})

    def close(self) -> None:
        self._f.close()
