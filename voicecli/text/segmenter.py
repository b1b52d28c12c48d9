"""The chunking engine: finds words in a stream of text deltas, asks the boundary rules
(:mod:`voicecli.text.boundaries`) how strong the gap after each is, and cuts where a policy says.

:mod:`voicecli.text.chunking` describes what the chunks are (boundaries, latency, the no-loss rule,
``max_chars``) and holds the policies and the public API; this module is the machinery.
Cost: the engine remembers where it stopped scanning and looks at each character once (regular
expressions find the next word end), so chunking is linear in the length of the reply.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from voicecli.text.boundaries import (
    BRACKET_CLOSE,
    BRACKET_OPEN,
    CLOSERS,
    TIGHT,
    Context,
    Gap,
    decided_early,
    is_bullet,
    item_marker,
    resolve,
    resolve_word,
    word_gap,
)
from voicecli.text.policies import INITIAL, WEAK_END_WORDS, WEAK_STRIP, Policy

_NONE, _BOUND, _WORD, _CLAUSE, _SENTENCE, _LINE = Gap

_WORD_STOP = re.compile(f"[\\s{TIGHT}]")
_NON_SPACE = re.compile(r"\S")
_NESTING = re.compile(r"[\"()\[\]{}“”«»「」『』（）【】]")
_SOFT_BREAK = "/-_.,;:?&=+"
_NUMBERED = re.compile(r"\d{1,2}[.)]")


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
    """A possible sentence end waiting for the next non-space character, or the next word."""

    at: _Boundary
    rule: str
    cut: bool = False  # already cut (the policy cuts there anyway): decided only for the context
    waiting: bool = False  # the next character did not decide: the whole next word will


class StreamChunker:
    """The chunking engine, driven by text deltas: ``feed`` what arrives, ``flush`` at the end.

    ``policy`` decides at which boundaries to cut; ``max_chars`` bounds a chunk (``None``: no
    bound). After :meth:`flush` the chunker is ready for a new stream.
    """

    def __init__(self, name: str, policy: Policy, max_chars: int | None = 200):
        self.name = name
        self.policy = policy
        self.max_chars = max_chars
        self._observe: Callable[[int, Gap], None] | None = None  # see gap_kinds()
        self._avoid_weak_end = policy.avoid_weak_end
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
        self._marker: tuple[str, int] | None = None  # the list marker of the current line
        self._depth = 0  # open brackets and curly quotes
        self._open_sentences = 0  # open brackets that started a sentence (see _track_nesting)
        self._quote = False  # inside straight double quotes
        self._ctx = Context()
        self._pending: _Pending | None = None
        self._last: _Boundary | None = None  # the boundary before the whitespace being scanned
        self._prev: _Boundary | None = None  # the boundary after the last complete word
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
            if self._in_word and self._pending is not None and self._pending.waiting:
                self._resolve_waiting(self._base + len(self._buf), complete=False)
            if self._in_word and self.max_chars is not None:
                end = self._base + len(self._buf)
                if self._wstart_n + (end - self._wstart) - self._chunk_n > self.max_chars:
                    self._enforce_limit(end)
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
                if buf[i - base] not in TIGHT:
                    self._end_word(i, tight=False)
                    pos = i
                    continue
                # A tight terminator: a boundary right after it and its closers, unless a space
                # follows anyway (then the word simply ends at the space).
                j = i + 1
                while j < end and buf[j - base] in CLOSERS:
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
        if self._pending is not None and self._pending.waiting:
            self._resolve_waiting(at, complete=True)
        if self.max_chars is not None and self._wstart_n + (at - self._wstart) - self._chunk_n > self.max_chars:
            self._enforce_limit(at)
        word = self._buf[self._wstart - self._base : at - self._base]
        self._in_word = False
        ctx = self._ctx
        sentence_start = ctx.sentence_words == 0
        line_start = self._line_start
        if not line_start and self._marker is not None:
            line_start = self._item_starts(word)
        if not line_start and sentence_start and _NUMBERED.fullmatch(word):
            line_start = True  # "... last case. 1. This is one.": an item after a sentence
        if _NESTING.search(word):
            self._track_nesting(word, sentence_start)
        self._n = self._wstart_n + len(word)
        self._words += 1
        if word == ".":
            ctx.dots = (ctx.dots if ctx.prev == "." else int(ctx.prev.endswith("."))) + 1
        elif ctx.dots:
            ctx.dots = 0
        ctx.sentence_words += 1
        if sentence_start:
            ctx.first = word
        kind, rule = word_gap(word, line_start, self._depth > 0 or self._quote, ctx)
        ctx.prev = word
        if line_start:
            if self._marker is None:  # the line's first marker ("•" in "• 9. Item") sets the style
                marker = item_marker(word)
                if marker is not None and (marker[0].rstrip(".)")[-1] in "1•⁃" or marker[1] == 1):
                    self._marker = marker  # numbers from any value, letters from "a" ("J. K." is no list)
            self._line_start = is_bullet(word)  # "• 9. Item": the number is a marker too
        if tight and kind <= _WORD:
            kind = _NONE  # never a word cut inside unspaced text
        boundary = _Boundary(kind, at, self._n, self._words, tight)
        self._last = self._prev = boundary
        if rule is None:
            self._decide(boundary)
        elif self._wants(boundary):
            self._cut(boundary)  # a cut even if it is no sentence end: no need to wait
            self._pending = _Pending(boundary, rule, cut=True)
        else:
            self._pending = _Pending(boundary, rule)

    def _resolve_waiting(self, end: int, complete: bool) -> None:
        """Decide a possible end that waits for the word now arriving (up to ``end``), if it can be.

        Three events, taken in the order they happen in the text so that the outcome never depends
        on how the stream was cut: the word's first letters already decide it (see
        :func:`decided_early`); the chunk outgrows ``max_chars`` (a cut is needed now: the word is
        taken to continue the sentence); the word ends (it decides).
        """
        pending = self._pending
        assert pending is not None
        word = self._buf[self._wstart - self._base : end - self._base]
        over_at = None  # the word's length when the chunk first outgrows max_chars
        if self.max_chars is not None:
            room = self.max_chars - (self._wstart_n - self._chunk_n)
            if len(word) > room:
                over_at = max(room + 1, 0)
        early = next((n for n in range(1, len(word) + 1) if decided_early(pending.rule, word[:n])), None)
        if early is not None and (over_at is None or early <= over_at):
            self._settle(pending, resolve_word(pending.at.kind, pending.rule, word))
        elif over_at is not None:
            self._settle(pending, pending.at.kind)
        elif complete:
            self._settle(pending, resolve_word(pending.at.kind, pending.rule, word))

    def _item_starts(self, word: str) -> bool:
        """Is ``word`` the next item marker of this line ("2." after "1.")? Then the item before
        it ends: the gap before the marker becomes a sentence end."""
        marker = item_marker(word)
        assert self._marker is not None
        if marker is None or marker[0] != self._marker[0] or marker[1] != self._marker[1] + (marker[1] > 0):
            return False
        before = self._prev
        if before is not None and before.kind < _SENTENCE and before.end > self._chunk_start:
            if before in self._cands:
                self._cands.remove(before)
            before.kind = _SENTENCE
            self._decide(before)
        self._ctx.sentence_words = 0
        self._marker = marker
        return True

    def _track_nesting(self, word: str, sentence_start: bool) -> None:
        """Update bracket and quote depth. An opener as the last character of a word (":(") opens nothing.

        A round or square bracket that opens a sentence holds sentences, not an aside inside one
        ("(If you want that, do this. It works.)"): it is not counted, so sentence ends apply inside.
        """
        last = len(word) - 1
        for i, ch in enumerate(word):
            if ch == '"':
                if self._quote or i < last:
                    self._quote = not self._quote
            elif ch in BRACKET_OPEN:
                if i < last:
                    if sentence_start and i == 0 and ch in "([":
                        self._open_sentences += 1
                    else:
                        self._depth += 1
            elif ch in BRACKET_CLOSE:
                if self._depth:
                    self._depth -= 1
                elif self._open_sentences and ch in ")]":
                    self._open_sentences -= 1

    def _newline(self) -> None:
        """A newline in the whitespace after a word: a line boundary, and nesting starts afresh."""
        self._depth = 0
        self._open_sentences = 0
        self._quote = False
        self._line_start = True
        self._marker = None
        self._ctx.sentence_words = 0
        pending, self._pending = self._pending, None
        if pending is not None and not pending.cut:
            boundary = pending.at
        elif self._last is not None and self._chunk_start != self._last.end:
            boundary = self._last
            if self._cands and self._cands[-1] is boundary:
                self._cands.pop()
        else:
            return
        boundary.kind = _LINE
        if self._observe is not None:
            self._observe(boundary.words, _LINE)
        self._cut(boundary)

    def _decide_pending(self, nxt: str) -> None:
        pending = self._pending
        assert pending is not None
        kind = resolve(pending.at.kind, pending.rule, nxt)
        if kind is None:
            pending.waiting = True  # the whole next word decides (see _end_word)
        else:
            self._settle(pending, kind)

    def _settle(self, pending: _Pending, kind: Gap) -> None:
        self._pending = None
        if kind >= _SENTENCE:
            self._ctx.sentence_words = 0
        if pending.cut:
            return
        pending.at.kind = kind
        self._decide(pending.at)

    # Cutting.

    def _wants(self, b: _Boundary) -> bool:
        if b.kind == _LINE:
            return True
        if not self.policy.cut(b.kind, b.n - self._chunk_n, b.words - self._chunk_words, self._index):
            return False
        return not (b.kind == _WORD and self._avoid_weak_end and self._ends_weak(b))

    def _ends_weak(self, b: _Boundary) -> bool:
        """Does the chunk up to ``b`` end on a word that cannot end a phrase ("of", "is", "the")?"""
        tail = self._buf[max(self._chunk_start, b.end - 24) - self._base : b.end - self._base].split()
        if not tail:
            return False
        last = tail[-1].strip(WEAK_STRIP)
        return last.lower() in WEAK_END_WORDS or bool(INITIAL.fullmatch(last))  # "J. R. R." | "Tolkien"

    def _decide(self, b: _Boundary) -> None:
        if self._observe is not None:
            self._observe(b.words, b.kind)
        if b.kind >= _SENTENCE:
            self._ctx.sentence_words = 0
        if self._wants(b):
            self._cut(b)
        elif b.kind >= _BOUND or not b.tight:
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

    def _enforce_limit(self, end: int) -> None:
        """Keep the chunk within ``max_chars`` while a word runs to ``end``: cut at the chunk's best
        boundary (:meth:`_force_cut`), and a word longer than the limit into pieces."""
        assert self.max_chars is not None
        limit = self.max_chars
        if self._wstart_n + (end - self._wstart) - self._chunk_n <= limit:
            return
        self._force_cut(end)
        while (size := self._wstart_n + (end - self._wstart) - self._chunk_n) > limit:
            start = max(self._chunk_start, self._wstart)
            room = limit - (self._wstart_n - self._chunk_n if self._chunk_start < self._wstart else 0)
            if room < 1:
                room = limit
            piece = self._buf[start - self._base : start - self._base + room]
            soft = max(piece.rfind(c, room // 2) for c in _SOFT_BREAK)
            cut = start + (soft + 1 if soft >= 0 else room)
            self._cut_at(cut, self._wstart_n + (cut - self._wstart), self._words, tight=True)
            if size == self._wstart_n + (end - self._wstart) - self._chunk_n:
                break  # no progress (cannot happen; a guard against a loop)

    def _force_cut(self, end: int) -> None:
        """The chunk outgrew ``max_chars``: cut at its best boundary within the limit.

        The latest clause or sentence boundary, else the latest word boundary, else the latest
        boundary inside a unit, else the latest after a list marker or a lone symbol; if even the
        first word is too long, right after it. Then the boundaries after the cut are judged again,
        as boundaries of the new chunk.
        """
        assert self.max_chars is not None
        while self._cands:
            limit = self._chunk_n + self.max_chars
            fitting = [b for b in self._cands if b.n <= limit]
            if not fitting:
                fitting = self._cands[:1]
            best = None
            for floor in (_CLAUSE, _WORD, _BOUND):
                best = next((b for b in reversed(fitting) if b.kind >= floor), None)
                if best is not None:
                    break
            best = best or fitting[-1]
            rest = self._cands[self._cands.index(best) + 1 :]
            self._cut(best)
            for b in rest:
                self._decide(b)
            if self._in_word or end > self._wstart:
                size = self._wstart_n + (end - self._wstart) - self._chunk_n
            else:
                size = self._n - self._chunk_n
            if size <= self.max_chars:
                return

    def _take(self) -> list[str]:
        out, self._out = self._out, []
        keep = min(self._chunk_start, self._wstart) if self._in_word else self._chunk_start  # a word cut for max_chars is read whole
        if out and keep - self._base > 0:
            self._buf = self._buf[keep - self._base :]
            self._base = keep
        return out
