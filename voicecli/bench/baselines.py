"""The naive splitters most projects start with, kept as the benchmark's reference rows.

``seed-sentence`` cuts at ``". "``, ``"! "``, ``"? "``; ``seed-phrase`` also at ``", "``, ``"; "``,
``": "`` once 20 characters have accumulated. No abbreviation, number or markdown rules: they show
what the real strategies (``voicecli.text.chunking``) are worth. Not offered to users.
"""

from __future__ import annotations

import re
from typing import Any

from voicecli.engine.types import Chunker
from voicecli.errors import VoicecliError
from voicecli.text.chunking import STRATEGIES, make_chunker

BASELINES: dict[str, tuple[str, int]] = {"seed-sentence": (".!?", 0), "seed-phrase": (".!?,;:", 20)}
ALL_STRATEGIES: tuple[str, ...] = STRATEGIES + tuple(BASELINES)
"""The user's strategies and the baselines: what ``voicecli bench`` compares by default."""


class SeedChunker:
    """A naive splitter: cut after punctuation followed by whitespace, once ``min_chars`` have accumulated.

    ``seed-sentence`` cuts at ``". "``, ``"! "``, ``"? "``; ``seed-phrase`` also at ``", "``,
    ``"; "``, ``": "`` once 20 characters have accumulated. No abbreviation, number or markdown
    rules: these are the baselines the benchmark measures the real strategies against.
    """

    def __init__(self, name: str, marks: str, min_chars: int = 0):
        self.name = name
        self.min_chars = min_chars
        self._boundary = re.compile(f"[{re.escape(marks)}](?=\\s)")
        self._buf = ""
        self._pos = 0  # where to look for the next boundary

    def feed(self, text: str) -> list[str]:
        self._buf += text
        out: list[str] = []
        start = 0
        for m in self._boundary.finditer(self._buf, self._pos):
            if m.end() - start >= self.min_chars:
                chunk = " ".join(self._buf[start : m.end()].split())
                if chunk:
                    out.append(chunk)
                start = m.end()
        # A mark as the last character is judged when the next one arrives.
        self._pos = max(len(self._buf) - 1 - start, 0)
        self._buf = self._buf[start:]
        return out

    def flush(self) -> list[str]:
        chunk = " ".join(self._buf.split())
        self._buf, self._pos = "", 0
        return [chunk] if chunk else []


def make_bench_chunker(name: str, **options: Any) -> Chunker:
    """A chunker for any strategy the benchmark knows: the four real ones, or a baseline."""
    key = str(name).strip().lower()
    if key not in BASELINES:
        try:
            return make_chunker(name, **options)
        except VoicecliError as e:
            if "unknown chunking strategy" in e.message:
                raise VoicecliError(e.message, f"use one of {', '.join(ALL_STRATEGIES)}") from None
            raise
    marks, default_min = BASELINES[key]
    unknown = sorted(set(options) - {"min_chars"} if key == "seed-phrase" else set(options))
    if unknown:
        raise VoicecliError(f"unknown option {unknown[0]!r} for the {key!r} chunking strategy",
                            "its options are: min_chars" if key == "seed-phrase" else "it takes none")
    min_chars = options.get("min_chars", default_min)
    if isinstance(min_chars, bool) or not isinstance(min_chars, int) or min_chars < 0:
        raise VoicecliError(f"chunking option min_chars={min_chars!r} for {key!r} is not a whole number >= 0",
                            "give min_chars a number like 20")
    return SeedChunker(key, marks, min_chars)
