#!/usr/bin/env python3
"""Generate the spoken turn-taking set (issue 12): complete questions, and utterances with a pause inside.

Two kinds of utterance, all 16 kHz mono 16-bit WAV:

- ``complete``: one question or request, spoken in one go ("What is the capital of France?").
- ``paused``: an unfinished phrase, a pause of 0.5-1.0 s, then the rest ("Set a timer for ... ten
  minutes please."). An endpointer that commits on a short silence takes the turn in that pause.

How a file is made, and why its timings are exact:

1. Each part is spoken separately by espeak-ng (several voices, 130-190 words per minute) or, for a
   few, by the embedded Piper voice, and resampled to 16 kHz. An unfinished part is spoken with a
   trailing comma, so espeak-ng gives it a continuing (not sentence-final) intonation, as a person
   pausing mid-sentence does; the comma is not part of the text in the manifest.
2. All parts of an utterance share one gain (peak 0.7), then each part is trimmed to its first and
   last sample above ``THRESHOLD`` (-46 dBFS): the synthesiser's own leading and trailing silence goes.
3. The file is ``LEAD_S`` of silence, part 1, exactly ``pause_s`` of silence, part 2, ``TAIL_S`` of
   silence (room for an endpointer to decide). Every boundary in the manifest is therefore known
   from the concatenation itself: ``speech_end_s`` is the last sample above the threshold of the last
   part, ``pause_start_s``/``pause_end_s`` bound the silence between the parts.

Deterministic: voices, rates and pauses come from fixed tables and a seeded generator, and espeak-ng
and Piper are deterministic, so a re-run writes the same files (for the same espeak-ng version).

``manifest.json``: ``{"sample_rate", "lead_s", "tail_s", "threshold", "files": [entry, ...]}``, an entry
being ``{"file", "kind", "text", "parts", "voice", "rate_wpm", "duration_s", "speech_start_s",
"speech_end_s", "pause_start_s", "pause_end_s", "pause_s"}`` (the pause fields are null for complete
ones; ``rate_wpm`` is null for Piper). ``make_utterance()`` makes one utterance in memory (the tests
use it to make a paused utterance on the fly).

Needs espeak-ng (Debian package), and the Piper voice for the ``piper`` lines (``make models``).
Usage: ``.venv/bin/python scripts/make_turn_set.py [--out out/turnset] [--no-piper]``
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from voicecli.audio.files import read_audio, write_wav  # noqa: E402
from voicecli.audio.signal import resample  # noqa: E402

RATE = 16000
LEAD_S, TAIL_S = 0.3, 1.5
PEAK = 0.7
THRESHOLD = 0.005  # -46 dBFS, ~37 dB below the peak: what counts as "still speaking"
PIPER_VOICE = ROOT / "models" / "tts" / "en_US-joe-medium.onnx"

# Short general-knowledge questions, arithmetic, timers and reminders: what SmolLM2-135M answers briefly.
COMPLETE = [
    "What is the capital of France?",
    "How many days are in a week?",
    "What is two plus two?",
    "Set a timer for five minutes.",
    "What color is the sky?",
    "Who wrote Romeo and Juliet?",
    "How many legs does a spider have?",
    "What is the largest planet in the solar system?",
    "What is ten times three?",
    "Remind me to call my sister tonight.",
    "What is the boiling point of water?",
    "How many minutes are in an hour?",
    "What is the capital of Japan?",
    "Tell me a fun fact about cats.",
    "What is the opposite of hot?",
    "Set an alarm for seven in the morning.",
    "What language do people speak in Brazil?",
    "How many continents are there?",
    "What is the square root of nine?",
    "Who painted the Mona Lisa?",
    "What is twelve divided by four?",
    "What animal says moo?",
    "Start a timer for twenty seconds.",
    "What is the tallest mountain in the world?",
    "How many hours are in a day?",
    "Add eggs to my shopping list.",
    "Why is the sea salty?",
    "What is five minus one?",
]

# An unfinished phrase (ending on a preposition, article, conjunction, auxiliary or filler), then the rest.
PAUSED = [
    ("Set a timer for", "ten minutes please."),
    ("Remind me to buy milk and", "bread tomorrow morning."),
    ("What is the capital of", "France?"),
    ("How many days are there in", "a leap year?"),
    ("What is seven plus", "eight?"),
    ("Can you tell me the", "population of Canada?"),
    ("I would like to know the", "height of Mount Everest."),
    ("Set an alarm for", "six thirty tomorrow."),
    ("What is the weather like in", "Paris today?"),
    ("Tell me a joke about", "dogs."),
    ("How do you say hello in", "Spanish?"),
    ("What is the difference between", "a frog and a toad?"),
    ("Add apples and", "oranges to my list."),
    ("What is the square root of", "sixty four?"),
    ("Remind me to call my mother at", "five o'clock."),
    ("What is the, um,", "biggest ocean on Earth?"),
    ("Please turn off the lights in the", "living room."),
    ("What is twelve times", "three?"),
    ("Who was the first person to walk on", "the moon?"),
    ("How far is it from London to", "Paris?"),
    ("Turn on the radio and then", "play some jazz."),
    ("Can you explain how", "rainbows are formed?"),
    ("What is the name of the", "longest river in Africa?"),
    ("Tell me about, uh,", "the history of Rome."),
    ("Convert ten miles to", "kilometers."),
    ("What time is it in", "Tokyo right now?"),
    ("My favourite colour is", "blue. What is yours?"),
    ("Who is the president of", "the United States?"),
]

VOICES = ["en-us", "en", "en-gb-x-rp", "en-us+f3", "en+m3", "en-gb", "en-us+f2", "en+f4", "en-gb-scotland"]
RATES_WPM = [130, 145, 160, 175, 190, 150, 170, 185, 140]
PIPER_EVERY = 7  # every 7th utterance of each kind is spoken by the Piper voice


def _espeak(text: str, voice: str, rate_wpm: int) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "part.wav"
        subprocess.run(["espeak-ng", "-v", voice, "-s", str(rate_wpm), "-w", str(path), text], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        audio = read_audio(path)
    return resample(audio.samples, audio.rate, RATE)


@lru_cache(maxsize=2)
def _piper(path: str):
    from voicecli.tts import PiperTTS

    return PiperTTS(path, sentence_pause_ms=0, gain=1.0)


def _speak(text: str, voice: str, rate_wpm: int | None) -> np.ndarray:
    if voice == "piper":
        tts = _piper(str(PIPER_VOICE))
        return resample(tts.synthesize(text), tts.sample_rate, RATE)
    return _espeak(text, voice, rate_wpm or 160)


def _span(samples: np.ndarray, threshold: float = THRESHOLD) -> tuple[int, int]:
    """First and one-past-last index of samples whose magnitude exceeds ``threshold``."""
    loud = np.flatnonzero(np.abs(samples) > threshold)
    if len(loud) == 0:
        raise ValueError("the synthesiser produced no audible speech")
    return int(loud[0]), int(loud[-1]) + 1


def make_utterance(
    parts: list[str] | tuple[str, ...],
    voice: str = "en-us",
    rate: int | None = 160,
    pause_s: float = 0.7,
) -> tuple[np.ndarray, int, dict[str, Any]]:
    """One utterance in memory: ``(float32 samples at 16 kHz, 16000, manifest entry without "file")``.

    ``parts``: one part for a complete utterance, two or more for one with pauses of ``pause_s``
    between them (the manifest's ``pause_*`` fields describe the first pause). ``voice``: an espeak-ng
    voice or ``"piper"``; ``rate``: espeak-ng words per minute.
    """
    parts = [p.strip() for p in parts]
    if not parts or not all(parts):
        raise ValueError("an utterance needs at least one non-empty part")
    spoken = [p if i == len(parts) - 1 or p[-1] in ",.?!" else p + "," for i, p in enumerate(parts)]
    raw = [_speak(text, voice, rate) for text in spoken]
    gain = PEAK / max(float(np.max(np.abs(r))) for r in raw)
    trimmed = []
    for r in raw:
        r = r * gain
        a, b = _span(r)
        trimmed.append(r[a:b])
    pause = np.zeros(int(round(pause_s * RATE)), dtype=np.float32)
    pieces: list[np.ndarray] = [np.zeros(int(round(LEAD_S * RATE)), dtype=np.float32)]
    bounds: list[tuple[int, int]] = []
    pos = len(pieces[0])
    for i, t in enumerate(trimmed):
        if i:
            pieces.append(pause)
            pos += len(pause)
        bounds.append((pos, pos + len(t)))
        pieces.append(t)
        pos += len(t)
    pieces.append(np.zeros(int(round(TAIL_S * RATE)), dtype=np.float32))
    samples = np.concatenate(pieces).astype(np.float32)
    # The boundaries come from the concatenation; the audio agrees with them by construction.
    assert _span(samples) == (bounds[0][0], bounds[-1][1])
    paused = len(parts) > 1
    entry: dict[str, Any] = {
        "kind": "paused" if paused else "complete",
        "text": " ".join(parts[:-1] + [_clean(parts[-1])]),
        "parts": [_clean(p) for p in parts],
        "voice": voice,
        "rate_wpm": None if voice == "piper" else rate,
        "duration_s": round(len(samples) / RATE, 6),
        "speech_start_s": round(bounds[0][0] / RATE, 6),
        "speech_end_s": round(bounds[-1][1] / RATE, 6),
        "pause_start_s": round(bounds[0][1] / RATE, 6) if paused else None,
        "pause_end_s": round(bounds[1][0] / RATE, 6) if paused else None,
        "pause_s": round(len(pause) / RATE, 6) if paused else None,
    }
    return samples, RATE, entry


def _clean(part: str) -> str:
    """The text as spoken, without the pause-marking comma at the end of an unfinished part."""
    return re.sub(r",\s*$", "", part.strip())


def plan(piper: bool = True, seed: int = 12) -> list[dict[str, Any]]:
    """The set's recipe: name, parts, voice, rate and pause of every utterance (deterministic)."""
    rng = np.random.default_rng(seed)
    recipe = []
    for kind, items in (("complete", [(q,) for q in COMPLETE]), ("paused", PAUSED)):
        for i, parts in enumerate(items):
            voice = VOICES[i % len(VOICES)]
            rate = RATES_WPM[(i * 4 + (kind == "paused")) % len(RATES_WPM)]
            if piper and i % PIPER_EVERY == PIPER_EVERY - 1:
                voice, rate = "piper", None
            pause = round(float(rng.uniform(0.5, 1.0)), 2) if kind == "paused" else 0.0
            recipe.append({"file": f"{kind}_{i + 1:02d}.wav", "parts": list(parts), "voice": voice,
                           "rate": rate, "pause_s": pause})
    return recipe


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "out" / "turnset")
    parser.add_argument("--no-piper", action="store_true", help="espeak-ng voices only")
    args = parser.parse_args()
    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is not installed: sudo apt-get install espeak-ng")
    use_piper = not args.no_piper
    if use_piper and not PIPER_VOICE.is_file():
        sys.exit(f"Piper voice not found at {PIPER_VOICE}: run `make models`, or pass --no-piper")
    args.out.mkdir(parents=True, exist_ok=True)
    files = []
    for item in plan(piper=use_piper):
        samples, rate, entry = make_utterance(item["parts"], item["voice"], item["rate"], item["pause_s"])
        write_wav(args.out / item["file"], samples, rate)
        files.append({"file": item["file"], **entry})
        pause = f"pause {entry['pause_s']:.2f} s" if entry["pause_s"] else ""
        print(f"{item['file']:16s} {item['voice']:15s} {str(entry['rate_wpm'] or '-'):>4s} "
              f"end {entry['speech_end_s']:5.2f} s {pause:14s} {entry['text']}")
    manifest = {"sample_rate": RATE, "lead_s": LEAD_S, "tail_s": TAIL_S, "threshold": THRESHOLD, "files": files}
    (args.out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    kinds = {k: sum(f["kind"] == k for f in files) for k in ("complete", "paused")}
    print(f"{kinds['complete']} complete, {kinds['paused']} paused utterances in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
