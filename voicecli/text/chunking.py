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
from voicecli.text.boundaries import CLOSERS, TIGHT, Gap, boundary_kind  # noqa: F401 (part of this module's API)
from voicecli.text.policies import (  # noqa: F401 (part of this module's API)
    WEAK_END_WORDS,
    AdaptivePolicy,
    PhrasePolicy,
    Policy,
    SentencePolicy,
    WordPolicy,
)
from voicecli.text.segmenter import StreamChunker

if TYPE_CHECKING:  # the protocol lives with the other stage interfaces (which import numpy)
    from voicecli.engine.types import Chunker

STRATEGIES: tuple[str, ...] = ("word", "sentence", "phrase", "adaptive")
"""The strategies a user chooses from (``--chunking``), from smallest to most natural chunks."""

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
}


def default_options(name: str) -> dict[str, int | None]:
    """The options a strategy takes, with their defaults (for help texts and the benchmark)."""
    return dict(_DEFAULTS[_check_name(name)])


def _check_name(name: str) -> str:
    key = str(name).strip().lower()
    if key not in _DEFAULTS:
        raise VoicecliError(
            f"unknown chunking strategy {name!r}",
            f"use one of {', '.join(STRATEGIES)}",
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


def make_chunker(name: str, **options: Any) -> StreamChunker:
    """A fresh chunker for strategy ``name`` (see :data:`STRATEGIES`).

    Options (all whole numbers; strings of digits are accepted, as they come from the command line
    or the config file): ``max_chars`` for every real strategy (``None`` for no bound),
    ``min_chars`` for ``phrase``, ``first_min_chars``, ``first_max_words``,
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


@dataclass(frozen=True)
class _NoCut:
    avoid_weak_end = False

    def cut(self, kind: Gap, chars: int, words: int, index: int) -> bool:
        return False


def gap_kinds(text: str) -> list[Gap]:
    """The kind of the gap after each word of ``text`` (split on whitespace), as every strategy sees
    it: for tests and diagnostics. The gap after the last word is the end of the stream."""
    kinds: dict[int, Gap] = {}
    engine = StreamChunker("gaps", _NoCut(), max_chars=None)
    engine._observe = kinds.__setitem__  # a boundary decided again (an item marker after it) overrides
    engine.feed(text)
    engine.flush()
    return [kinds.get(i, Gap.LINE) for i in range(1, engine_words(text) + 1)]


def engine_words(text: str) -> int:
    """How many words the engine sees in ``text``: whitespace-separated, and split after tight marks."""
    return len(re.findall(f"[^\\s{TIGHT}]*[{TIGHT}]+[{CLOSERS}]*(?=\\S)|\\S+", text))
