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
A boundary lies only in whitespace, never inside a word, so numbers ("3.14", "$29.95", "10:30",
"555-1234"), versions, web addresses and file names are never cut. The one exception is full-width
punctuation (``。！？`` end a sentence, ``，、；：`` a clause): CJK text has no spaces, so the boundary
is right after the mark, unless a closing quote or bracket follows it and text goes on right after
that (「こんにちは。」と言った: the sentence goes on).

Each boundary has a kind (:class:`Gap`): ``NONE`` (after a list marker "1." or "-", a lone
symbol: never a cut), ``WORD``, ``CLAUSE``, ``SENTENCE``, or ``LINE`` (the whitespace holds a
newline: the end of a list item, heading or paragraph, a cut for every strategy, so a chunk never
spans two lines and the speech cleanup sees each markdown line on its own).

A terminator (``. ! ? …`` repeated or not, possibly followed by a closing quote or bracket) is a
sentence end unless:

* the word is an abbreviation that never ends a sentence: a title ("Dr.", "Mr.", "St."), "e.g.",
  "i.e.", "vs."; a single capital letter (an initial, "J. R. R. Tolkien"); "No.", "Fig.", "p."
  followed by a number;
* the next word starts with a lowercase letter ("etc. and", "a.m. tomorrow", "wait... what",
  ``"Why?" she asked``): what follows is the same sentence;
* it sits inside brackets or quotes that are still open ("(see Fig. 3. It shows ...)").

So "in 1980. Then" ends a sentence, "U.S. government" does not, "at 5 p.m. Then" does.

Latency and determinism
-----------------------
A possible sentence end is only certain once the first character of the next word is known, so the
chunker waits for it: the chunk is emitted by the ``feed`` call that delivers that character (or a
newline, or :meth:`flush`). Every other chunk is emitted by the ``feed`` call that delivers the
whitespace after its last word. LLM tokens carry their leading space (" Then"), so the wait costs
nothing in practice. Every decision depends only on the text, never on how it was cut into deltas,
so the chunks are the same whatever the cuts.

Chunk text and the no-loss rule
-------------------------------
A chunk is the text between two cuts with its whitespace normalised (runs of spaces and newlines
become one space, ends stripped). Hence the chunks joined with single spaces equal
``" ".join(text.split())``, except at a full-width boundary with no space after it, where the two
chunks join with no space at all. No chunk is empty or whitespace only.

``max_chars`` (default 200, ``None`` for no limit) bounds a chunk: once a chunk would grow past it,
it is cut at its last clause or sentence boundary within the limit, else at its last word
boundary; a single word longer than the limit becomes a chunk of its own (never cut mid-word).

Cost: the engine remembers where it stopped scanning and looks at each character once (regular
expressions find the next word end), so chunking is linear in the length of the reply.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator
from dataclasses import dataclass
from enum import IntEnum
from typing import TYPE_CHECKING, Any, Protocol

from voicecli.errors import VoicecliError

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


class Gap(IntEnum):
    """How strong a boundary between two words is; a policy cuts at strong enough ones."""

    NONE = 0
    WORD = 1
    CLAUSE = 2
    SENTENCE = 3
    LINE = 4


# Plain names for the hot paths (an enum attribute lookup per word is measurable).
_NONE, _WORD, _CLAUSE, _SENTENCE, _LINE = Gap


# --- Boundary rules -----------------------------------------------------------------------------

# Never end a sentence: they come before a name or continue the sentence.
_NEVER_END = frozenset(
    "mr mrs ms dr prof st mt sen rep gov gen col capt lt sgt rev hon fr messrs "
    "vs v e.g i.e cf viz approx ca esp incl dept".split()
)
# Not a sentence end before a number ("No. 5", "Fig. 3", "pp. 10-12", "Jan. 5").
_BEFORE_NUMBER = frozenset(
    "no nos fig figs vol ch chap p pp sec eq art op tab ref "
    "jan feb mar apr jun jul aug sep sept oct nov dec".split()
)

_TERMINATORS = ".!?…"
_FW_SENTENCE = "。！？"
_FW_CLAUSE = "，、；："
# Stripped from the end of a word before looking at its punctuation: closing quotes and brackets,
# and markdown emphasis ("**Note:**", "*Paris*.").
_CLOSERS = "\"'”’)]}»」』）】*_`~"
_OPENERS = "\"'“‘([{«「『（【*_`~"
_BRACKET_OPEN = "([{“«「『（【"
_BRACKET_CLOSE = ")]}”»」』）】"

_FULL_WIDTH = _FW_SENTENCE + _FW_CLAUSE
_WORD_STOP = re.compile(r"[\s。！？，、；：]")
_NON_SPACE = re.compile(r"\S")
_ALNUM = re.compile(r"[^\W_]")
_NESTING = re.compile(r"[\"()\[\]{}“”«»「」『』（）【】]")
# Markers that start a list item or heading; the word after them belongs with them.
_LINE_MARKER = re.compile(r"\d{1,3}[.)]|[a-zA-Z][.)]|[-*+•>]+|#{1,6}")

_MAYBE_END = "end?"  # a sentence end unless a lowercase letter follows
_MAYBE_NUMBER = "num?"  # "No." and the like: not an end before a digit, else as _MAYBE_END


def _weak(word: str) -> Gap:
    """The gap after a word that ends no clause: a word boundary, unless the word is a lone symbol."""
    return _WORD if _ALNUM.search(word) else _NONE


def _word_gap(word: str, line_start: bool, nested: bool) -> tuple[Gap, str | None]:
    """The kind of the gap after ``word``, from the word alone.

    Returns ``(kind, None)`` when the word decides it, or ``(fallback, rule)`` when the next
    character decides between ``fallback`` and a sentence end (see :func:`_resolve`).
    """
    if line_start and _LINE_MARKER.fullmatch(word):
        return _NONE, None
    core = word.rstrip(_CLOSERS)
    if not core:
        return _NONE, None
    last = core[-1]
    if last in _FW_SENTENCE:
        return (_WORD if nested else _SENTENCE), None
    if last in ",;:" or last in _FW_CLAUSE:
        return (_WORD if nested else _CLAUSE), None
    if last not in _TERMINATORS:
        return _weak(word), None
    if nested:
        return _weak(word), None
    stem = core.rstrip(_TERMINATORS)
    if len(core) - len(stem) == 1 and last == ".":
        stem = stem.lstrip(_OPENERS)
        key = stem.lower()
        if key in _NEVER_END or (len(stem) == 1 and stem.isupper() and stem != "I"):
            return _WORD, None
        if key in _BEFORE_NUMBER:
            return _WORD, _MAYBE_NUMBER
    return _weak(word), _MAYBE_END


def _resolve(fallback: Gap, rule: str, nxt: str) -> Gap:
    """Decide a possible sentence end from the next non-space character ("" at the end of the stream)."""
    if not nxt:
        return _SENTENCE
    if rule == _MAYBE_NUMBER and nxt.isdigit():
        return fallback
    return fallback if nxt.islower() else _SENTENCE


def boundary_kind(chunk: str) -> str:
    """At what kind of boundary ``chunk`` ends, judged from its last characters.

    ``"sentence"`` (ends in ``. ! ? …`` or ``。！？``, before any closing quote or bracket),
    ``"clause"`` (``, ; :`` or full-width ``，、；：``) or ``"word"``. A list item without final
    punctuation counts as ``"word"``.
    """
    core = chunk.rstrip().rstrip(_CLOSERS)
    if not core:
        return "word"
    last = core[-1]
    if last in _TERMINATORS or last in _FW_SENTENCE:
        return "sentence"
    if last in ",;:" or last in _FW_CLAUSE:
        return "clause"
    return "word"


# --- Policies: at which boundaries a strategy cuts ----------------------------------------------
#
# A policy must be monotone in the kind (if it cuts at a weaker boundary, it cuts at a stronger one
# with the same length): the engine relies on it to cut before a possible sentence end is resolved.


class Policy(Protocol):
    def cut(self, kind: Gap, chars: int, words: int, index: int) -> bool:
        """Cut here? ``chars``/``words``: the chunk's size if cut here; ``index``: chunks emitted so far."""
        ...


@dataclass(frozen=True)
class WordPolicy:
    def cut(self, kind: Gap, chars: int, words: int, index: int) -> bool:
        return kind >= _WORD


# Articles, prepositions, conjunctions, auxiliaries, pronouns and determiners: a spoken phrase does not
# end on them, so a cut forced at a word boundary moves past them.
WEAK_END_WORDS = frozenset("""
a an the this that these those my your his her its our their some any no every each
of to in on at by for with from into onto about as than like over under after before between through
and or but nor so yet if because while when where who whom whose which what how why
is are was were be been being am do does did have has had will would shall should can could may might must
i you he she it we they me him us them not very just also more most
""".split())
_INITIAL = re.compile(r"[A-Z]\.")
_WEAK_STRIP = "\"'“”‘’()[]{}"


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


# --- The engine -----------------------------------------------------------------------------------


@dataclass(slots=True)
class _Boundary:
    """A decided boundary inside the current chunk: where it is and how strong."""

    kind: Gap
    end: int  # absolute index in the stream of the end of the word before it
    n: int  # normalised length of the stream up to ``end``
    words: int  # words in the stream up to ``end``
    tight: bool  # no whitespace after it (full-width punctuation)


@dataclass(slots=True)
class _Pending:
    """A possible sentence end waiting for the next non-space character."""

    at: _Boundary
    rule: str


class StreamChunker:
    """The chunking engine, driven by text deltas: ``feed`` what arrives, ``flush`` at the end.

    ``policy`` decides at which boundaries to cut; ``max_chars`` bounds a chunk (``None``: no
    bound). After :meth:`flush` the chunker is ready for a new stream.
    """

    def __init__(self, name: str, policy: Policy, max_chars: int | None = 200):
        self.name = name
        self.policy = policy
        self.max_chars = max_chars
        self._reset()

    def _reset(self) -> None:
        self._buf = ""  # the stream from ``_base`` on (what is not yet emitted)
        self._base = 0
        self._pos = 0  # absolute index: everything before it has been scanned
        self._in_word = False
        self._wstart = 0  # absolute index where the current word starts
        self._wstart_n = 0  # its normalised position
        self._n = 0  # normalised length of the stream up to the end of the last word
        self._words = 0
        self._line_start = True
        self._depth = 0  # open brackets and curly quotes
        self._quote = False  # inside straight double quotes
        self._pending: _Pending | None = None
        self._last: _Boundary | None = None  # the boundary before the whitespace being scanned
        self._chunk_start = 0  # absolute index where the current chunk starts
        self._chunk_n = 0
        self._chunk_words = 0
        self._index = 0  # chunks emitted in this stream
        self._cands: list[_Boundary] = []
        self._out: list[str] = []

    # The public API.

    def feed(self, text: str) -> list[str]:
        """Add a delta of the stream; return the chunks it completes (often none)."""
        if text:
            self._buf += text
            self._scan()
            if self._in_word and self.max_chars is not None:
                end = self._base + len(self._buf)
                if self._wstart_n + (end - self._wstart) - self._chunk_n > self.max_chars:
                    self._force_cut()
        return self._take()

    def flush(self) -> list[str]:
        """End of the stream: return the remaining chunks and get ready for a new stream."""
        end = self._base + len(self._buf)
        if self._in_word:
            self._end_word(end, tight=False)
        if self._pending is not None:
            self._decide_pending("")
        self._cut_at(end, self._n, self._words, tight=False)
        out = self._take()
        self._reset()
        return out

    # Scanning.

    def _scan(self) -> None:
        buf, base = self._buf, self._base
        end = base + len(buf)
        pos = self._pos
        while pos < end:
            if self._in_word:
                m = _WORD_STOP.search(buf, pos - base)
                if m is None:
                    pos = end
                    break
                i = m.start() + base
                if buf[i - base] not in _FULL_WIDTH:
                    self._end_word(i, tight=False)
                    pos = i
                    continue
                # Full-width punctuation: a boundary right after it and its closers, unless a
                # space follows anyway (then the word simply ends at the space).
                j = i + 1
                while j < end and buf[j - base] in _CLOSERS:
                    j += 1
                if j == end:  # the next character decides: wait for it
                    pos = i
                    break
                if j > i + 1 or buf[j - base].isspace():
                    # A space follows anyway (the word ends there), or text goes on right after a
                    # closing quote or bracket (「こんにちは。」と言った): the sentence goes on.
                    pos = j
                    continue
                self._end_word(j, tight=True)
                self._start_word(j, tight=True)
                pos = j
            else:
                m = _NON_SPACE.search(buf, pos - base)
                stop = m.start() + base if m else end
                if buf.find("\n", pos - base, stop - base) != -1:
                    self._newline()
                if m is None:
                    pos = end
                    break
                if self._pending is not None:
                    self._decide_pending(m.group())
                self._start_word(stop, tight=False)
                pos = stop
        self._pos = pos

    def _start_word(self, at: int, tight: bool) -> None:
        self._in_word = True
        self._wstart = at
        self._wstart_n = self._n if (tight or self._words == 0) else self._n + 1
        self._last = None

    def _end_word(self, at: int, tight: bool) -> None:
        """The word from ``_wstart`` to ``at`` is complete; ``tight``: text follows with no space."""
        word = self._buf[self._wstart - self._base : at - self._base]
        self._in_word = False
        if _NESTING.search(word):
            self._track_nesting(word)
        self._n = self._wstart_n + len(word)
        self._words += 1
        if self.max_chars is not None and self._n - self._chunk_n > self.max_chars:
            self._force_cut()
        kind, rule = _word_gap(word, self._line_start, self._depth > 0 or self._quote)
        self._line_start = False
        if tight and kind == _WORD:
            kind = _NONE  # never a word cut inside unspaced text
        boundary = _Boundary(kind, at, self._n, self._words, tight)
        self._last = boundary
        if rule is None:
            self._decide(boundary)
        elif self._wants(boundary):
            self._cut(boundary)  # a cut even if it is no sentence end: no need to wait
        else:
            self._pending = _Pending(boundary, rule)

    def _track_nesting(self, word: str) -> None:
        """Update bracket and quote depth. An opener as the last character of a word (":(") opens nothing."""
        last = len(word) - 1
        for i, ch in enumerate(word):
            if ch == '"':
                if self._quote or i < last:
                    self._quote = not self._quote
            elif ch in _BRACKET_OPEN:
                if i < last:
                    self._depth += 1
            elif ch in _BRACKET_CLOSE:
                if self._depth:
                    self._depth -= 1

    def _newline(self) -> None:
        """A newline in the whitespace after a word: a line boundary, and nesting starts afresh."""
        self._depth = 0
        self._quote = False
        self._line_start = True
        if self._pending is not None:
            boundary = self._pending.at
            self._pending = None
        elif self._last is not None and self._chunk_start != self._last.end:
            boundary = self._last
            if self._cands and self._cands[-1] is boundary:
                self._cands.pop()
        else:
            return
        boundary.kind = _LINE
        self._cut(boundary)

    def _decide_pending(self, nxt: str) -> None:
        pending, self._pending = self._pending, None
        assert pending is not None
        boundary = pending.at
        boundary.kind = _resolve(boundary.kind, pending.rule, nxt)
        self._decide(boundary)

    # Cutting.

    def _wants(self, b: _Boundary) -> bool:
        if b.kind == _LINE:
            return True
        if not self.policy.cut(b.kind, b.n - self._chunk_n, b.words - self._chunk_words, self._index):
            return False
        return not (b.kind == _WORD and getattr(self.policy, "avoid_weak_end", False) and self._ends_weak(b))

    def _ends_weak(self, b: _Boundary) -> bool:
        """Does the chunk up to ``b`` end on a word that cannot end a phrase ("of", "is", "the")?"""
        tail = self._buf[max(self._chunk_start, b.end - 24) - self._base : b.end - self._base].split()
        if not tail:
            return False
        last = tail[-1].strip(_WEAK_STRIP)
        return last.lower() in WEAK_END_WORDS or bool(_INITIAL.fullmatch(last))  # "J. R. R." | "Tolkien"

    def _decide(self, b: _Boundary) -> None:
        if self._wants(b):
            self._cut(b)
        elif b.kind >= _WORD or not b.tight:
            self._cands.append(b)  # a NONE boundary is a last resort for max_chars

    def _cut(self, b: _Boundary) -> None:
        self._cut_at(b.end, b.n, b.words, b.tight)

    def _cut_at(self, end: int, n: int, words: int, tight: bool) -> None:
        chunk = " ".join(self._buf[self._chunk_start - self._base : end - self._base].split())
        if chunk:
            self._out.append(chunk)
            self._index += 1
        self._chunk_start = end
        self._chunk_n = n if tight else n + 1
        self._chunk_words = words
        self._cands = []

    def _force_cut(self) -> None:
        """The chunk outgrew ``max_chars``: cut at its best boundary within the limit.

        The latest clause or sentence boundary, else the latest word boundary, else the latest
        boundary after a list marker or a lone symbol; if even the first word is too long, right
        after it. Then the boundaries after the cut are judged again, as
        boundaries of the new chunk.
        """
        assert self.max_chars is not None
        while self._cands:
            limit = self._chunk_n + self.max_chars
            fitting = [b for b in self._cands if b.n <= limit]
            if not fitting:
                fitting = self._cands[:1]
            best = next((b for b in reversed(fitting) if b.kind >= _CLAUSE), None)
            best = best or next((b for b in reversed(fitting) if b.kind >= _WORD), fitting[-1])
            rest = self._cands[self._cands.index(best) + 1 :]
            self._cut(best)
            for b in rest:
                self._decide(b)
            if self._in_word:
                end = self._base + len(self._buf)
                size = self._wstart_n + (end - self._wstart) - self._chunk_n
            else:
                size = self._n - self._chunk_n
            if size <= self.max_chars:
                return

    def _take(self) -> list[str]:
        out, self._out = self._out, []
        if out and self._chunk_start - self._base > 0:
            self._buf = self._buf[self._chunk_start - self._base :]
            self._base = self._chunk_start
        return out


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
