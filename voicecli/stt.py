"""Speech to text with faster-whisper, and a fast path for short utterances.

The library's ``WhisperModel.transcribe()`` always encodes a 30-second window: mel features are padded
to 3000 frames, and on this 2-core machine the tiny.en encoder spends ~410 ms on that window whatever
the utterance's length. CTranslate2's Whisper encoder accepts fewer frames, and its cost scales with
them (see ``/work/shared/notes/facts.md``). The fast path (``fast=True``, the default) therefore:

1. computes the log-mel features of the utterance followed by ``pad_s`` seconds of silence, rounded up
   to a whole second (a window sized to the audio, never more than ``FAST_MAX_S``);
2. encodes those frames only, with the model already loaded by faster-whisper (``model.model`` is the
   ``ctranslate2.models.Whisper``; ``model.feature_extractor`` and ``model.hf_tokenizer`` are reused);
3. decodes once, without timestamps, with the same beam size and token suppression as the library,
   but bounded: at most ``tokens_per_s`` tokens per second of audio plus a few, a mild
   ``repetition_penalty`` and ``no_repeat_ngram_size``. A window that ends soon after the speech is
   where Whisper, trained on 30 s windows, tends to loop ("What is X? What is X? ..."); the bound and
   the repeat penalties stop that without a temperature-fallback loop, so the latency stays bounded.

Audio longer than ``FAST_MAX_S`` goes to the library's ``transcribe()``, as does everything when
``fast=False``. ``scripts/bench_stt.py`` compares the two paths side by side (WER and latency).

Hallucination guard (both paths): Whisper writes words into silence and noise ("Thank you.", "you").
Before decoding, Silero VAD must find at least ~64 ms of speech in the audio, else the text is empty;
after decoding, a result the model itself calls no-speech (``no_speech_prob`` above 0.6 with a low
average log-probability, the library's own rule) is dropped too.
"""

from __future__ import annotations

import math
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voicecli.audio.signal import resample
from voicecli.audio.vad import has_speech
from voicecli.engine.types import Audio
from voicecli.errors import ModelMissing, VoicecliError
from voicecli.text.endofturn import looks_unfinished
from voicecli.text.wer import number_words

SAMPLE_RATE = 16000
FAST_MAX_S = 25.0  # longer audio takes the library's path (the window cannot exceed 30 s)
NO_SPEECH_THRESHOLD = 0.6  # the library's defaults for "this window has no speech"
LOG_PROB_THRESHOLD = -1.0
HYPOTHESES = 4  # readings kept from the beam (of beam_size): free, the beam search keeps them anyway
ALTERNATIVE_MARGIN = 0.1  # how close in mean log-probability per token a reading must be to count


@dataclass(frozen=True)
class SttResult:
    """A transcript and what it cost. ``path`` is ``"fast"``, ``"library"`` or ``"silence"`` (guarded)."""

    text: str
    duration_s: float
    stt_ms: float
    path: str = "fast"
    # other readings the fast path found almost as likely (mean log-probability per token within
    # ALTERNATIVE_MARGIN of the text's), most likely first: "Please turn off the lights in the..." next to
    # "Please turn off the lights in the room." says Whisper is unsure the last word was said at all
    alternatives: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, object]:
        return {"text": self.text, "duration_s": round(self.duration_s, 3), "stt_ms": round(self.stt_ms, 1)}


def check_model_dir(model_dir: str | os.PathLike[str]) -> Path:
    """The model directory, or ``ModelMissing`` naming what is wrong with it."""
    path = Path(model_dir).expanduser()
    hint = "run `voicecli fetch`, or pass --stt-model DIR (a CTranslate2 Whisper model directory)"
    if not path.exists():
        raise ModelMissing(f"STT model directory not found: {path}", hint)
    if not path.is_dir():
        raise ModelMissing(f"STT model must be a directory (with model.bin), not a file: {path}", hint)
    missing = [name for name in ("model.bin", "config.json") if not (path / name).is_file()]
    if missing:
        raise ModelMissing(f"STT model directory {path} has no {' or '.join(missing)}", hint)
    return path


class WhisperSTT:
    """faster-whisper on the CPU (int8), implementing the ``STT`` protocol. Thread-safe (one call at a time).

    ``language``: a language code, or None to detect it (multilingual models only; English-only
    models such as tiny.en accept only "en"). ``threads``: CTranslate2 intra-op threads (default: all
    cores, at most 4). The other options tune the fast path; see the module docstring.
    """

    def __init__(
        self,
        model_dir: str | os.PathLike[str],
        *,
        language: str | None = "en",
        fast: bool = True,
        beam_size: int = 5,
        threads: int | None = None,
        pad_s: float = 1.0,
        tokens_per_s: float = 6.0,
        repetition_penalty: float = 1.1,
        no_repeat_ngram_size: int = 3,
        guard: bool = True,
    ):
        path = check_model_dir(model_dir)
        try:
            from faster_whisper import WhisperModel
            from faster_whisper.tokenizer import Tokenizer
            from faster_whisper.transcribe import get_suppressed_tokens
        except ImportError as e:  # pragma: no cover - a broken installation
            raise VoicecliError(f"faster-whisper cannot be imported: {e}", "run `make install`") from None
        self.threads = threads or min(4, os.cpu_count() or 1)
        try:
            self.model = WhisperModel(str(path), device="cpu", compute_type="int8", cpu_threads=self.threads,
                                      local_files_only=True)
        except Exception as e:  # CTranslate2 raises RuntimeError/ValueError for a broken model
            first = (str(e).splitlines() or [type(e).__name__])[0][:160]
            raise VoicecliError(f"cannot load the STT model in {path}: {first}",
                                "point --stt-model at a CTranslate2 Whisper model, or run `voicecli fetch`") from None
        multilingual = self.model.model.is_multilingual
        if language in (None, "", "auto"):
            language = None if multilingual else "en"
        elif not multilingual and language != "en":
            raise VoicecliError(f"the STT model {path.name} understands English only, not {language!r}",
                                "use --language en, or a multilingual Whisper model with --stt-model")
        elif multilingual and language not in self.model.supported_languages:
            raise VoicecliError(f"unknown language code {language!r} for Whisper",
                                "use a code such as en, de, fr, es (see Whisper's language list)")
        self.path = path
        self.language = language
        self.fast = fast
        self.beam_size = beam_size
        self.pad_s = pad_s
        self.tokens_per_s = tokens_per_s
        self.repetition_penalty = repetition_penalty
        self.no_repeat_ngram_size = no_repeat_ngram_size
        self.guard = guard
        self._Tokenizer = Tokenizer
        self._tokenizer = Tokenizer(self.model.hf_tokenizer, multilingual, task="transcribe",
                                    language=language or "en")
        self._suppress = list(get_suppressed_tokens(self._tokenizer, [-1]))
        self._lock = threading.Lock()

    # --- the STT protocol ----------------------------------------------------------------------

    def transcribe(self, audio: Audio) -> str:
        return self.transcribe_result(audio).text

    def transcribe_result(self, audio: Audio, *, fast: bool | None = None) -> SttResult:
        """Transcribe one utterance (any rate). ``fast`` overrides the instance's choice for this call."""
        t0 = time.perf_counter()
        samples = resample(np.asarray(audio.samples, dtype=np.float32), audio.rate, SAMPLE_RATE)
        duration = len(samples) / SAMPLE_RATE
        use_fast = self.fast if fast is None else fast
        with self._lock:
            alternatives: tuple[str, ...] = ()
            if self.guard and not self._has_speech(samples):
                text, path = "", "silence"
            elif use_fast and duration <= FAST_MAX_S:
                (text, *alternatives), path = self._fast(samples), "fast"
            else:
                text, path = self.library_transcribe(samples, vad_filter=use_fast), "library"
        return SttResult(text, duration, (time.perf_counter() - t0) * 1000.0, path, tuple(alternatives))

    def warm_up(self) -> float:
        """Run the encoder and decoder once on a short signal; returns the milliseconds it took."""
        t0 = time.perf_counter()
        noise = np.random.default_rng(0).standard_normal(SAMPLE_RATE).astype(np.float32) * 0.01
        with self._lock:
            self._fast(noise)
        return (time.perf_counter() - t0) * 1000.0

    # --- the two paths --------------------------------------------------------------------------

    def library_transcribe(self, samples: np.ndarray, *, vad_filter: bool = False) -> str:
        """faster-whisper's own ``transcribe()`` with its defaults (16 kHz mono float32 input).

        ``vad_filter`` (used for long recordings on the fast setting) skips the silent stretches, where
        Whisper would otherwise write words into silence and spend a 30 s window on each.
        """
        segments, _ = self.model.transcribe(samples, language=self.language, beam_size=self.beam_size,
                                            vad_filter=vad_filter)
        return " ".join(s.text.strip() for s in segments).strip()

    def _fast(self, samples: np.ndarray) -> list[str]:
        """The transcript, then its ``alternatives`` (see ``SttResult``); [""] for no speech."""
        import ctranslate2

        duration = len(samples) / SAMPLE_RATE
        window_s = min(math.ceil(duration + self.pad_s), 30)
        padded = np.zeros(window_s * SAMPLE_RATE, dtype=np.float32)
        padded[: len(samples)] = samples[: len(padded)]
        extractor = self.model.feature_extractor
        frames = window_s * SAMPLE_RATE // extractor.hop_length
        features = extractor(padded)[:, :frames]
        encoded = self.model.model.encode(ctranslate2.StorageView.from_array(np.ascontiguousarray(features[None])))

        tokenizer = self._tokenizer
        if self.language is None:  # multilingual model, language to detect
            lang_token = self.model.model.detect_language(encoded)[0][0][0]
            tokenizer = self._Tokenizer(self.model.hf_tokenizer, True, task="transcribe",
                                        language=lang_token[2:-2])
        prompt = [*tokenizer.sot_sequence, tokenizer.no_timestamps]
        max_new = int(self.tokens_per_s * duration) + 8
        result = self.model.model.generate(
            encoded,
            [prompt],
            beam_size=self.beam_size,
            num_hypotheses=min(HYPOTHESES, self.beam_size),
            max_length=len(prompt) + max_new,
            repetition_penalty=self.repetition_penalty,
            no_repeat_ngram_size=self.no_repeat_ngram_size,
            suppress_blank=True,
            suppress_tokens=self._suppress,
            return_scores=True,
            return_no_speech_prob=True,
        )[0]
        tokens = result.sequences_ids[0]
        avg_logprob = result.scores[0] * len(tokens) / (len(tokens) + 1)  # length_penalty 1, as the library
        if result.no_speech_prob > NO_SPEECH_THRESHOLD and avg_logprob < LOG_PROB_THRESHOLD:
            return [""]
        readings = [drop_repeat(tokenizer.decode(ids).strip()) for ids, score in
                    zip(result.sequences_ids, result.scores) if result.scores[0] - score <= ALTERNATIVE_MARGIN]
        return [readings[0], *dict.fromkeys(r for r in readings[1:] if r != readings[0])]

    def _has_speech(self, samples: np.ndarray) -> bool:
        return has_speech(samples)


def drop_repeat(text: str) -> str:
    """Cut a transcript that starts over: "Tell me about the ocean? Tell me about" → the first part.

    A window that ends soon after the speech sometimes makes Whisper decode the utterance a second
    time (the library's ``transcribe()`` guards against it with its own repetition check). A tail
    that repeats the beginning, for at least half of it and two words or more, is dropped; so is an
    unfinished tail after a full stop or a comma that repeats the first two words or more ("Remind me
    to call my mother tomorrow morning. Remind me", "who wrote the novel Pride and Prejudice, who wrote
    The": 3 of the 120 barge-in transcripts of five ``scripts/bench_duplex.py`` runs, with echo and
    without). Numbers compare as words: "What is five minus one. What is 5 minus" (the turn-taking set).
    The last word of an unfinished tail may be cut short, and after four words or more the tail may be
    one word: "and I'd like to listen to some quiet music. And I", "I'd like to listen to some quiet
    music. I'd" (barge-ins over the echo, ``scripts/bench_duplex.py``). After two repeated words or more
    the last may be another word, when the tail stops where no sentence can end: "who wrote a novel
    pride in prejudice. Who wrote the" (a barge-in, the same benchmark); "Turn on the lights. Turn on
    the fan" ends a sentence, and is kept. Words compare without a plural or third-person "s" (``_stem``):
    "Remind me to call my mother tomorrow morning. Reminds me" (a barge-in, the same benchmark). An
    unfinished tail of three words or more may have one word of the start misheard when its last word
    is the start's again: "... quiet music. I will like" for "I would like ...", "who wrote the novel
    pride in prejudice, to wrote the" (barge-ins, the same benchmark). The price: a second phrase left
    open that differs from the start in one word is taken for Whisper starting over too ("Turn on the
    lights. Turn off the", said and never finished); a finished one is kept ("Turn off the fan.").
    """
    words = text.split()
    norm = [_stem(_as_words(w.lower().strip(".,!?;:'\""))) for w in words]
    open_end = words[-1][-1:] not in ".?!" if words else False  # the transcript stops mid-sentence
    for cut in range(2, len(words)):
        tail = norm[cut:]
        unfinished = open_end and words[cut - 1][-1:] in ".?!,"  # a tail after a stop or a comma, left open
        if len(tail) < (1 if unfinished and cut >= 4 else 2):
            continue
        misheard = sum(a != b for a, b in zip(norm[: len(tail) - 1], tail[:-1]))  # the start, said again
        if misheard > (1 if unfinished and len(tail) >= 3 else 0):
            continue
        started, said = norm[len(tail) - 1], tail[-1]  # the start's word there, and the tail's last
        said_again = started == said and (len(tail) * 2 >= cut or unfinished)
        if misheard and not said_again:
            continue
        cut_short = unfinished and bool(said) and started.startswith(said)
        left_open = unfinished and len(tail) >= 3 and looks_unfinished(" ".join(words[cut:]))  # another last word
        if said_again or cut_short or left_open:
            return " ".join(words[:cut])
    return text


def _stem(word: str) -> str:
    """``word`` without a final "s" when four letters or more remain ("reminds" → "remind"; "is", "its"
    and "was" stay as they are)."""
    return word[:-1] if len(word) >= 5 and word.endswith("s") else word


def _as_words(word: str) -> str:
    """A number written in digits as its words run together ("25" → "twentyfive"); any other word as is."""
    return number_words(int(word)).replace(" ", "") if word.isdigit() and len(word) <= 12 else word

