"""Chunking: cut a streamed LLM reply into pieces of text for the TTS, as early as they are sure.

    deltas ("The", " capital", " of", ...) ─▶ make_chunker(name).feed() ─▶ chunks ─▶ TTS

The chunker is the trade-off between time to first audio (small chunks) and natural speech (whole
clauses and sentences). One engine, :class:`StreamChunker`, finds the boundaries in the text; a
small *policy* per strategy decides at which of them to cut:

``word``      every word, as soon as it is complete ("Par" + "is" is one chunk "Paris").
``sentence``  every sentence, as soon as its end is certain.
``phrase``    clause ends (``, ; :``) and sentence ends once ``min_chars`` (20) have accumulated.
``adaptive``  a short first chunk (its first clause, or its first ``first_max_words`` words), then
              a clause, then whole sentences: audio starts almost at once, and the speech that
              follows is cut where a speaker would pause.

``seed-sentence`` and ``seed-phrase`` are the naive splitters most projects start with
(``". "``, ``"! "``, ``"? "``; punctuation + space after 20 characters), kept as baselines for the
benchmark.

Boundaries
----------
A boundary lies in whitespace, never inside a word, so numbers ("3.14", "$29.95", "10:30",
"555-1234"), versions, web addresses and file names are never cut. Two exceptions: terminators of
scripts written without a space after them (CJK ``。！？``, the danda ``।``, Arabic ``؟``...) end a
sentence right after the mark, unless a closing quote or bracket follows it and text goes on right
after that (「こんにちは。」と言った: the sentence goes on); and a word longer than ``max_chars`` is
split (see below).

Each boundary has a kind (:class:`Gap`): ``NONE`` (after a list marker "1." or "-", a lone
symbol), ``BOUND`` (inside a unit: after a title or an initial, a number before its unit, inside
brackets or quotes), ``WORD``, ``CLAUSE``, ``SENTENCE``, or ``LINE`` (the whitespace holds a
newline: the end of a list item, heading or paragraph, a cut for every strategy, so a chunk never
spans two lines and the speech cleanup sees each markdown line on its own). An item marker inside a
line, one step after the line's own ("1. The first 2. The second"), makes the gap before it a
sentence end.

The rules that decide the kind, and the abbreviation knowledge behind them, are in
:mod:`voicecli.text.boundaries`: one set for every strategy. ``word`` cuts at every ``BOUND`` gap
and above; ``adaptive``'s first chunk, ``phrase`` and ``sentence`` never cut at a ``BOUND`` gap, and
``max_chars`` does so only when nothing else fits.

Latency and determinism
-----------------------
A possible sentence end is only certain once the first character of the next word is known, so the
chunker waits for it: the chunk is emitted by the ``feed`` call that delivers that character (or a
newline, or :meth:`flush`). After an abbreviation or an initialism before a capitalised word
("U.S. Army" / "U.S. Then"), and before an item marker inside a line, it waits for the whole next
word. Every other chunk is emitted by the ``feed`` call that delivers the
whitespace after its last word. LLM tokens carry their leading space (" Then"), so the wait costs
nothing in practice. Every decision depends only on the text, never on how it was cut into deltas,
so the chunks are the same whatever the cuts.

Chunk text and the no-loss rule
-------------------------------
A chunk is the text between two cuts with its whitespace normalised (runs of spaces and newlines
become one space, ends stripped). Hence the chunks joined with single spaces equal
``" ".join(text.split())``, except at a tight boundary (after ``。`` and the like, or inside a word
cut for ``max_chars``), where the two chunks join with no space at all. No chunk is empty or whitespace only.

``max_chars`` (default 200, ``None`` for no limit) bounds a chunk: once a chunk would grow past it,
it is cut at its last clause or sentence boundary within the limit, else at its last word
boundary, else inside a unit (``BOUND``), else after a marker. A single word longer than the limit
(a long address, text without spaces) is cut into pieces of at most ``max_chars`` characters, each
after the last ``/ - _ . , ; : ? & = +`` in its second half if there is one; such pieces join with
no space between them.

The engine that applies all this is :class:`voicecli.text.segmenter.StreamChunker`; the rules are
in :mod:`voicecli.text.boundaries`. Chunking is linear in the length of the reply.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voicecli.errors import VoicecliError
from voicecli.text.boundaries import Gap, boundary_kind  # noqa: F401 (part of this module's API)
from voicecli.text.segmenter import WEAK_END_WORDS, Policy, StreamChunker, gap_kinds  # noqa: F401 (API)

if TYPE_CHECKING:  # the protocol lives with the other stage interfaces (which import numpy)
    from voicecli.engine.types import Chunker

STRATEGIES: tuple[str, ...] = ("word", "sentence", "phrase", "adaptive")
"""The strategies a user chooses from (``--chunking``), from smallest to most natural chunks."""

ALL_STRATEGIES: tuple[str, ...] = STRATEGIES + ("seed-sentence", "seed-phrase")
"""All strategies, including the naive baselines the benchmark compares against."""

DESCRIPTIONS: dict[str, str] = {
    "word": "every word as soon as it is complete",
    "sentence": "every sentence as soon as its end is certain",
    "phrase": "clause and sentence ends, once min_chars have accumulated",
    "adaptive": "a short first chunk, then a clause, then whole sentences",
    "seed-sentence": 'baseline: split at ". ", "! ", "? " only',
    "seed-phrase": "baseline: split at punctuation + space once 20 characters have accumulated",
}


# Plain names for the hot paths (an enum attribute lookup per word is measurable).
_NONE, _BOUND, _WORD, _CLAUSE, _SENTENCE, _LINE = Gap


# --- Policies: at which boundaries a strategy cuts ----------------------------------------------
#
# A policy must be monotone in the kind (if it cuts at a weaker boundary, it cuts at a stronger one
# with the same length): the engine relies on it to cut before a possible sentence end is resolved.


@dataclass(frozen=True)
class WordPolicy:
    def cut(self, kind: Gap, chars: int, words: int, index: int) -> bool:
        return kind >= _BOUND


@dataclass(frozen=True)
class SentencePolicy:
    def cut(self, kind: Gap, chars: int, words: int, index: int) -> bool:
        return kind >= _SENTENCE


@dataclass(frozen=True)
class PhrasePolicy:
    min_chars: int = 20

    def cut(self, kind: Gap, chars: int, words: int, index: int) -> bool:
        return kind >= _CLAUSE and chars >= self.min_chars


@dataclass(frozen=True)
class AdaptivePolicy:
    """Small first, then bigger: the first chunk buys playback time to synthesise the next ones.

    Piper synthesises a chunk in about 3 ms per character and it plays for about 65 ms per
    character, so a first chunk of a few words is ready in well under 100 ms and plays for over half
    a second, while the next (longer) chunk is generated and synthesised.

    * chunk 1: ends at its first clause or sentence boundary once it has ``first_min_chars``
      characters, or at the word boundary after ``first_max_words`` words;
    * the next ``clause_chunks`` chunks: end at a sentence end, or at a clause boundary once they
      have ``clause_min_chars`` characters (a shorter clause, "for example,", sounds choppy);
    * then whole sentences.

    A chunk cut at a plain word boundary never ends on a function word ("The capital of France is" |
    "Paris." sounds like "Francis" because Piper ends each chunk with a falling tone): the cut moves
    to the next word that can carry the end of a phrase.
    """

    first_min_chars: int = 3
    first_max_words: int = 3  # measured by `voicecli bench`: 5 gave 1.7x sentence TTFA, 3 gives >2x
    clause_chunks: int = 1
    clause_min_chars: int = 20

    avoid_weak_end: bool = True

    def cut(self, kind: Gap, chars: int, words: int, index: int) -> bool:
        if index == 0:
            return (kind >= _CLAUSE and chars >= self.first_min_chars) or (
                kind >= _WORD and words >= self.first_max_words
            )
        if index <= self.clause_chunks:
            return kind >= _SENTENCE or (kind >= _CLAUSE and chars >= self.clause_min_chars)
        return kind >= _SENTENCE


# --- The naive baselines ----------------------------------------------------------------------------


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


# --- Construction and stream wrappers ----------------------------------------------------------------

_DEFAULTS: dict[str, dict[str, int | None]] = {
    "word": {"max_chars": 200},
    "sentence": {"max_chars": 200},
    "phrase": {"max_chars": 200, "min_chars": 20},
    "adaptive": {
        "max_chars": 200,
        "first_min_chars": AdaptivePolicy.first_min_chars,
        "first_max_words": AdaptivePolicy.first_max_words,
        "clause_chunks": AdaptivePolicy.clause_chunks,
        "clause_min_chars": AdaptivePolicy.clause_min_chars,
    },
    "seed-sentence": {},
    "seed-phrase": {"min_chars": 20},
}


def default_options(name: str) -> dict[str, int | None]:
    """The options a strategy takes, with their defaults (for help texts and the benchmark)."""
    return dict(_DEFAULTS[_check_name(name)])


def _check_name(name: str) -> str:
    key = str(name).strip().lower()
    if key not in _DEFAULTS:
        raise VoicecliError(
            f"unknown chunking strategy {name!r}",
            f"use one of {', '.join(STRATEGIES)} (or {', '.join(ALL_STRATEGIES[len(STRATEGIES):])} for comparisons)",
        )
    return key


def _check_option(name: str, key: str, value: Any) -> int | None:
    if key == "max_chars" and value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < (1 if key == "max_chars" else 0):
        least = 1 if key == "max_chars" else 0
        raise VoicecliError(
            f"chunking option {key}={value!r} for {name!r} is not a whole number >= {least}",
            f"give {key} a number like {_DEFAULTS[name][key]}",
        )
    return value


def make_chunker(name: str, **options: Any) -> StreamChunker | SeedChunker:
    """A fresh chunker for strategy ``name`` (see :data:`ALL_STRATEGIES`).

    Options (all whole numbers; strings of digits are accepted, as they come from the command line
    or the config file): ``max_chars`` for every real strategy (``None`` for no bound),
    ``min_chars`` for ``phrase`` and ``seed-phrase``, ``first_min_chars``, ``first_max_words``,
    ``clause_chunks`` and ``clause_min_chars`` for ``adaptive``. An unknown strategy or option, or a
    bad value, raises :class:`VoicecliError`.
    """
    key = _check_name(name)
    allowed = _DEFAULTS[key]
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        valid = ", ".join(allowed) or "none"
        raise VoicecliError(
            f"unknown option {unknown[0]!r} for the {key!r} chunking strategy",
            f"its options are: {valid}",
        )
    opts = {k: _check_option(key, k, options.get(k, v)) for k, v in allowed.items()}
    if key == "seed-sentence":
        return SeedChunker(key, ".!?")
    if key == "seed-phrase":
        return SeedChunker(key, ".!?,;:", min_chars=opts["min_chars"] or 0)
    max_chars = opts.pop("max_chars")
    policy: Policy
    if key == "word":
        policy = WordPolicy()
    elif key == "sentence":
        policy = SentencePolicy()
    elif key == "phrase":
        policy = PhrasePolicy(**opts)
    else:
        policy = AdaptivePolicy(**opts)
    return StreamChunker(key, policy, max_chars)


def _chunker(chunker: Chunker | str) -> Chunker:
    return make_chunker(chunker) if isinstance(chunker, str) else chunker


def chunk_stream(deltas: Iterable[str], chunker: Chunker | str) -> Iterator[str]:
    """Chunks of a stream of text deltas, each yielded as soon as it is complete.

    ``chunker`` is a chunker (its stream ends with this one: it is flushed) or a strategy name.
    """
    chunker = _chunker(chunker)
    for delta in deltas:
        yield from chunker.feed(delta)
    yield from chunker.flush()


async def achunk_stream(deltas: AsyncIterable[str], chunker: Chunker | str) -> AsyncIterator[str]:
    """The asynchronous twin of :func:`chunk_stream`, over the same chunker core."""
    chunker = _chunker(chunker)
    async for delta in deltas:
        for chunk in chunker.feed(delta):
            yield chunk
    for chunk in chunker.flush():
        yield chunk
