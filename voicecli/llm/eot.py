"""The language-model end-of-turn score: how likely the chat model thinks the user's turn is over.

A chat model ends every user turn with its template's end-of-turn token (``<|im_end|>`` in ChatML,
SmolLM2's template). Rendered up to and including the user's words but *without* that token, the
conversation asks the model one question in one forward pass: what comes next, more words or the end
of the turn? After "What is the capital of France" the end is likely; after "What is the capital of"
it is not. Learned turn detectors in peers are exactly such a small model, fine-tuned; the embedded
SmolLM2-135M, not fine-tuned, already separates the two (numbers in the measurement report).

Decisions, and why (numbers from ``scripts/measure_turn_signals.py`` on the spoken turn-taking set):

- **On the chat model's own instance, when the chat model is the embedded one** (``chat=``; how
  ``voicecli talk`` runs by default): the score's prompt is the conversation window the next reply is
  given (``Engine.prompt_so_far``, rendered as the chat model is given it) followed by the user's
  words, so evaluating it is the first part of the reply's own prompt evaluation, and llama-cpp-python
  reuses that prefix when the reply starts (``tests/test_eot.py`` checks the sharing). On eight
  questions after one exchange (``scripts/measure_shared_score.py``, 2 cores, medians of two runs):
  the score 79-80 → 50-58 ms, then the reply's first token 46-53 → 25-31 ms. The score takes the
  chat model's lock, waiting at most the caller's ``wait_s`` for it (``voicecli.app.loop.judge_with``:
  0.15 s over a reply still being written, then the grammar decides alone; 1 s otherwise, for a
  discarded start or the prefetch to let go, then the words are not taken as a whole turn).
  Over a reply already written, the score replaces the reply's tokens in the cache; they are
  evaluated again with the next turn's history (in the prefetch, while the user listens). One
  instance also means one background warm-up after each reply instead of two.
- **Else its own small ``llama_cpp.Llama``** (``n_ctx`` 512, ``logits_all`` False; a server or a
  replayed model answers the user): the GGUF is memory-mapped, so a second instance of the same file
  shares its weights in the page cache; it adds ~40 MB of private memory (KV cache, compute buffers).
  Load ~0.15-0.25 s. The model path is a plain argument (backends never read config).
- **One thread on its own instance** (on the chat's, the chat's threads: its prompt evaluation was
  going to run there next anyway): on a quiet 2-core machine 2 threads are ~1.8x faster (a new 5-15-word
  transcript: 27 ms vs 49 ms for ``sentence_end``), but when anything else runs (the STT, the chat
  model, Piper, another process) llama.cpp's 2 threads stall: p90 went to 0.25-4 s, while 1 thread
  stayed at 65-100 ms. In the talk loop this score always runs next to other work.
- **The template renders the prompt**: the conversation plus a user message ending in a sentinel is
  rendered with the GGUF's own chat template; the prompt is what comes before the sentinel and the
  end-of-turn marker is what the template writes right after it, so another chat model works unchanged.
- **Punctuation is removed, then allowed back at the end**: Whisper punctuates fragments ("Set a timer
  for.") and marks a pause inside an utterance with "?" or "," ("What is the square root of? 64."),
  and the model trusts punctuation (p(end) after the raw transcript: ROC AUC 0.78 on the set's
  transcripts), so the words are scored bare. Right after bare words the model almost never ends the
  turn (it wants a full stop first), so p(end) alone is weak (AUC 0.88). Two scores work:
  ``sentence_end`` = p(end) + p(. ? !) next (one step) and ``closed`` = p(end) + sum over t in . ? !
  of p(t) * p(end | t) (three more one-token steps from the cached prefix: ~+35 ms on 1 thread).
  Both reach AUC 0.90 (transcripts) and ~1.00 (written text); with ``looks_unfinished`` as a veto,
  ``closed`` is the one with a threshold (0.05) that let no paused utterance of the set commit while
  16 of 28 complete questions still committed at once, so it is the default (``lookahead=True``;
  live, the threshold is now 0.08: ``voicecli.text.endofturn``).
- **Context, on its own instance: the system prompt and the last exchange only** (``context_messages``
  2; on the chat's, the whole window the reply is given, already in its cache): what the
  assistant just said is what makes a short answer complete: "Ten minutes" scores 0.0001 alone and
  0.57 after "Sure. For how many minutes?". Older turns add cost (a 500-token prompt takes ~1 s to
  evaluate cold on 2 cores), and a window sliding with every turn would change the cached prefix
  anyway, so the cost stays flat however long the conversation; ``warm_up(history)`` after each reply
  evaluates the new prefix while the user listens. If even that does not fit ``n_ctx``, the oldest
  messages go first, then the system prompt, then the start of the user's words.
- **KV cache reuse**: llama-cpp-python's ``eval`` evaluates from ``n_tokens`` on and drops the cache
  beyond it; we set ``n_tokens`` to the prefix shared with the previous call, so a growing transcript
  or a repeated history costs only its new tokens.
"""

from __future__ import annotations

import contextlib
import os
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voicecli.errors import ModelMissing, VoicecliError
from voicecli.llm.base import quiet_stderr

if TYPE_CHECKING:
    from voicecli.llm.local import LlamaCppLLM

SENTINEL = "\u2063EOT\u2063"  # invisible separator: never in a transcript
CLOSERS = (".", "?", "!")
_PUNCT = re.compile(r"[^\w\s']|(?<!\w)'|'(?!\w)")


def bare(text: str) -> str:
    """The words without punctuation (apostrophes inside words kept), first letter upper-case:
    "convert 10 miles to? Kilometers." -> "Convert 10 miles to Kilometers"."""
    words = " ".join(_PUNCT.sub(" ", text.replace("’", "'")).split())
    return words[:1].upper() + words[1:]


class LlamaEndOfTurn:
    """``EndOfTurnScorer`` on a small llama.cpp model. Thread-safe (one call at a time)."""

    def __init__(self, model_path: str | os.PathLike[str] | None = None, *, n_ctx: int = 512, n_threads: int = 1,
                 lookahead: bool = True, context_messages: int | None = 2, verbose: bool = False,
                 chat: LlamaCppLLM | None = None):
        """Its own small instance of ``model_path``; or, with ``chat``, the chat model's own instance (see
        the module docstring: the score then evaluates the next reply's prompt, and ``context_messages``
        is the whole window the chat is given)."""
        self._messages = None
        if chat is not None:
            self.llm, self._lock, self._messages = chat.llm, chat.lock, chat.prompt_messages
            path, n_ctx, context_messages = chat.path, chat.context_tokens, None
        else:
            path = Path(model_path or "")
            self.llm = self._load(path, n_ctx, n_threads, verbose)
            self._lock = threading.Lock()
        self.shared = chat is not None
        from llama_cpp.llama_chat_format import Jinja2ChatFormatter

        template = self.llm.metadata.get("tokenizer.chat_template") or ""
        if not template:
            raise VoicecliError(f"{path.name} has no chat template, so it has no end-of-turn token",
                                "use a chat (instruct) model for the end-of-turn score")
        vocab = self.llm._model
        self._format = Jinja2ChatFormatter(
            template,
            eos_token=vocab.token_get_text(self.llm.token_eos()),
            bos_token=vocab.token_get_text(self.llm.token_bos()),
            add_generation_prompt=False,
        )
        self.path = path
        self.n_ctx = n_ctx
        self.n_vocab = self.llm.n_vocab()
        self.end_marker = self._end_marker()
        ids = self._tokenize(self.end_marker)
        self.end_id = ids[0] if len(ids) == 1 else self.llm.token_eos()
        self.closer_ids = sorted({t for c in CLOSERS for t in self._tokenize(c)[:1]})
        self.lookahead = lookahead
        self.context_messages = context_messages

    @staticmethod
    def _load(path: Path, n_ctx: int, n_threads: int, verbose: bool) -> Any:
        if not path.is_file():
            raise ModelMissing(f"end-of-turn model not found: {path}", "run `make models` or pass a .gguf path")
        from llama_cpp import Llama

        try:
            with contextlib.nullcontext() if verbose else quiet_stderr():
                return Llama(model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, n_threads_batch=n_threads,
                             logits_all=False, verbose=verbose)
        except (ValueError, RuntimeError) as e:
            raise VoicecliError(f"cannot load the GGUF model {path}: {str(e).splitlines()[0][:160]}",
                                "check that the file is a complete GGUF model (re-run `make models`)") from None

    # --- rendering --------------------------------------------------------------------------------

    def _tokenize(self, text: str, *, add_bos: bool = False) -> list[int]:
        return self.llm.tokenize(text.encode("utf-8"), add_bos=add_bos, special=True)

    def _render(self, history: list[dict], text: str) -> tuple[str, str]:
        """(the prompt up to and including ``text``, what the template writes after the user's words)."""
        messages: list[dict[str, Any]] = [
            {"role": m["role"], "content": m["content"]}
            for m in history
            if m.get("role") in ("system", "user", "assistant") and isinstance(m.get("content"), str)
        ]
        messages.append({"role": "user", "content": text + SENTINEL})
        rendered = self._format(messages=messages).prompt
        cut = rendered.rindex(SENTINEL)
        return rendered[:cut], rendered[cut + len(SENTINEL):]

    def _end_marker(self) -> str:
        after = self._render([], "Hi")[1]
        marker = after.split("\n", 1)[0].strip() or after.strip()
        if not marker:
            raise VoicecliError(f"cannot find the end-of-turn token in {self.path.name}'s chat template",
                                "use a chat (instruct) model for the end-of-turn score")
        return marker

    def prompt_tokens(self, text: str, history: list[dict]) -> list[int]:
        """The tokens to evaluate: the system prompt, the last ``context_messages`` of the conversation
        and the user's words, trimmed to fit the context (oldest messages first, then the words' start)."""
        if self._messages is not None:  # as the chat model is given them: the prefix is its next prompt's
            history = self._messages(history)
        system = [m for m in history if m.get("role") == "system"][:1]
        recent = [m for m in history if m.get("role") != "system"]
        if self.context_messages is not None:
            recent = recent[len(recent) - self.context_messages:] if self.context_messages > 0 else []
        limit = self.n_ctx - 4  # room for a closing punctuation mark

        def fit(drop: int) -> list[int] | None:
            tokens = self._tokenize(self._render(system + recent[drop:], text)[0], add_bos=True)
            return tokens if len(tokens) <= limit else None

        while True:
            if (tokens := fit(0)) is not None:
                return tokens
            if (tokens := fit(len(recent))) is not None:
                lo, hi = 0, len(recent)  # fit(lo) fails, fit(hi) fits: find the fewest messages to drop
                while hi - lo > 1:
                    mid = (lo + hi) // 2
                    lo, hi = (lo, mid) if fit(mid) is not None else (mid, hi)
                return fit(hi) or tokens
            if system:
                system = []
            else:  # the words alone are too long: keep their end, which decides the turn
                words = text.split()
                text = " ".join(words[len(words) // 4:]) if len(words) > 3 else text[len(text) // 4:]

    # --- evaluation -------------------------------------------------------------------------------

    def _eval(self, tokens: list[int]) -> np.ndarray:
        """Log-probabilities of the next token after ``tokens``, reusing the cached common prefix."""
        llm = self.llm
        cached = llm.input_ids[: llm.n_tokens]
        n = 0
        limit = min(len(cached), len(tokens) - 1)  # always evaluate at least the last token
        while n < limit and cached[n] == tokens[n]:
            n += 1
        llm.n_tokens = n
        llm.eval(tokens[n:])
        logits = np.ctypeslib.as_array(llm._ctx.get_logits_ith(-1), shape=(self.n_vocab,)).astype(np.float64)
        top = logits.max()
        return logits - (top + np.log(np.exp(logits - top).sum()))

    def probabilities(self, text: str, history: list[dict] | None = None) -> dict[str, float]:
        """Every variant measured (``scripts/measure_turn_signals.py``): ``raw`` p(end) after ``text`` as
        given; ``bare`` p(end) after its words without punctuation; ``closer`` the probability that a
        closing mark (. ? !) comes next; ``sentence_end`` ``bare`` + ``closer`` (the score without
        look-ahead); ``closed`` ``bare`` plus the chance of ending after one closing mark (the score
        with look-ahead, the default)."""
        history = history or []
        with self._lock:
            out = {"raw": float(np.exp(self._eval(self.prompt_tokens(text.strip(), history))[self.end_id]))}
            out.update(self._closed(bare(text), history))
        return out

    def _closed(self, words: str, history: list[dict], lookahead: bool = True,
                enough: float | None = None) -> dict[str, float]:
        """The scores of ``probabilities``. ``enough``: the look-ahead stops as soon as it is known on which
        side of ``enough`` "closed" falls (the likeliest closing mark first; what is left of their mass
        bounds what is left to add), and "closed" is then that partial sum, on the same side."""
        tokens = self.prompt_tokens(words, history)
        logp = self._eval(tokens)
        p_end = float(np.exp(logp[self.end_id]))
        closer = float(np.exp(logp[self.closer_ids]).sum())
        out = {"bare": p_end, "closer": closer, "sentence_end": min(1.0, p_end + closer)}
        if lookahead:
            total, left = p_end, closer
            for t in sorted(self.closer_ids, key=lambda t: -logp[t]):
                if enough is not None and (total >= enough or total + left < enough):
                    break
                p_t = float(np.exp(logp[t]))
                total += p_t * float(np.exp(self._eval([*tokens, t])[self.end_id]))
                left -= p_t
            out["closed"] = min(1.0, total)
        return out

    def probability(self, text: str, history: list[dict], wait_s: float | None = None,
                    enough: float | None = None) -> float | None:
        """P(the user's turn is over after ``text``): ``sentence_end``, or ``closed`` with ``lookahead``.

        ``enough``: only whether the score reaches it is wanted (a threshold); the look-ahead stops once
        that is known, and the value returned is then a bound on the same side of it. On the turn-taking
        set's readings the likeliest closing mark alone decides most: one look-ahead step instead of three.

        None when shared with the chat model and that stays busy longer than ``wait_s`` (None: as long as
        it takes): a reply still being generated, a discarded start letting go, the prefetch of the next
        prompt. The caller decides what no score means (``voicecli.app.loop.judge_with``)."""
        words = bare(text)
        if not words:
            return 0.0
        if not self._lock.acquire(timeout=wait_s if self.shared and wait_s is not None else -1):
            return None
        try:
            return self._closed(words, history, self.lookahead, enough)["closed" if self.lookahead else "sentence_end"]
        finally:
            self._lock.release()

    def warm_up(self, history: list[dict]) -> None:
        """Evaluate the conversation so far, so the next call evaluates only the user's words. Shared with
        the chat model, nothing to do: the engine's prefetch evaluates that same prefix."""
        if not self.shared:
            self.probability("Hi", history)
