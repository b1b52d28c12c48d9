#!/usr/bin/env python3
"""Generate the spoken test set in ``tests/data/speech/`` (re-runnable; overwrites the set).

Each utterance is something a user would say to an assistant, 2-6 s long, spoken by espeak-ng (several
voices, variants and speeds) or by the Piper ``joe`` voice (a more natural one), then:

1. padded with 0.3 s of silence before and 0.5 s after, like an utterance cut out by the endpointer
   (pre-roll + end-of-speech silence);
2. for some files, mixed with quiet white noise (fixed seed), so the set is not all studio-clean;
3. converted by sox to the file's sample rate (8 to 48 kHz), channel count (some stereo, the second
   channel quieter so a naive "take channel 0" would differ from a mix-down) and encoding
   (16-bit PCM or 32-bit float).

``references.json`` maps each file name to the text that was spoken. ``question.wav`` (the Piper voice
asking "What is the capital of France?") is also the spoken question of ``make demo``.

Needs: espeak-ng and sox (Debian packages), and for the Piper lines the embedded voice
(``make models``). Usage: ``.venv/bin/python scripts/make_speech_set.py [--out DIR]``.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecli.audio.files import read_audio, write_wav  # noqa: E402

LEAD_S, TAIL_S = 0.3, 0.5


@dataclass(frozen=True)
class Utterance:
    name: str
    text: str
    voice: str  # an espeak-ng voice such as "en-us+f3", or "piper"
    speed: int = 160  # espeak-ng words per minute (ignored for piper)
    rate: int = 16000
    channels: int = 1
    encoding: str = "pcm16"  # or "float"
    noise_db: float | None = None  # white noise level in dBFS, None for none


UTTERANCES: list[Utterance] = [
    Utterance("question.wav", "What is the capital of France?", "piper", rate=16000),
    Utterance("weather_london.wav", "What is the weather like in London today?", "en-us", 160, 16000),
    Utterance("timer.wav", "Set a timer for ten minutes.", "en-gb", 140, 8000),
    Utterance("joke.wav", "Can you tell me a joke about computers?", "en+f3", 175, 22050, channels=2),
    Utterance("remind_mother.wav", "Remind me to call my mother tomorrow morning.", "en+m7", 150, 44100,
              noise_db=-50),
    Utterance("moon.wav", "How far is the moon from the earth?", "en-us+f2", 190, 48000),
    Utterance("lights.wav", "Please turn off the lights in the kitchen.", "en-gb-x-rp", 130, 16000,
              encoding="float"),
    Utterance("tokyo_time.wav", "What time is it in Tokyo right now?", "piper", rate=44100),
    Utterance("ocean.wav", "Tell me something interesting about the ocean.", "piper", rate=22050, channels=2),
    Utterance("music.wav", "I would like to listen to some quiet music.", "en+f4", 165, 8000, channels=2,
              encoding="float"),
    Utterance("christmas.wav", "How many days are there until Christmas?", "en-us", 200, 8000, noise_db=-45),
    Utterance("rainbow.wav", "Explain how a rainbow is formed.", "en-gb-scotland", 150, 22050),
    Utterance("shopping.wav", "Add milk and eggs to my shopping list.", "en+m3", 170, 16000),
    Utterance("novel.wav", "Who wrote the novel Pride and Prejudice?", "piper", rate=16000, noise_db=-48),
    Utterance("spanish.wav", "How do you say good morning in Spanish?", "en-us+f3", 145, 48000),
    Utterance("recipe.wav", "Find me a simple recipe for pancakes.", "en-gb", 180, 16000, encoding="float"),
]


def espeak(text: str, voice: str, speed: int, path: Path) -> None:
    subprocess.run(["espeak-ng", "-v", voice, "-s", str(speed), "-w", str(path), text], check=True)


def convert(src: Path, dst: Path, u: Utterance) -> None:
    """sox: resample, set channels (second channel at 60 %) and encoding."""
    enc = ["-e", "floating-point", "-b", "32"] if u.encoding == "float" else ["-e", "signed-integer", "-b", "16"]
    effects = ["remix", "1", "1v0.6"] if u.channels == 2 else []
    subprocess.run(["sox", str(src), "-r", str(u.rate), *enc, str(dst), *effects, "rate", "-v", str(u.rate)],
                   check=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "tests" / "data" / "speech")
    parser.add_argument("--voice", type=Path, default=ROOT / "models" / "tts" / "en_US-joe-medium.onnx")
    args = parser.parse_args()
    for tool in ("espeak-ng", "sox"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed: sudo apt-get install espeak-ng sox")

    piper = None
    if any(u.voice == "piper" for u in UTTERANCES):
        from voicecli.tts import PiperTTS

        piper = PiperTTS(args.voice, sentence_pause_ms=0)

    args.out.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(5)
    references: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for u in UTTERANCES:
            raw = Path(tmp) / f"raw_{u.name}"
            if u.voice == "piper":
                write_wav(raw, piper.synthesize(u.text), piper.sample_rate)
            else:
                espeak(u.text, u.voice, u.speed, raw)
            audio = read_audio(raw)
            samples, rate = audio.samples, audio.rate  # 22.05 kHz from both espeak-ng and Piper
            peak = float(np.max(np.abs(samples))) or 1.0
            samples = samples * (0.7 / peak)
            samples = np.concatenate([np.zeros(int(LEAD_S * rate)), samples, np.zeros(int(TAIL_S * rate))])
            if u.noise_db is not None:
                samples = samples + rng.standard_normal(len(samples)) * 10 ** (u.noise_db / 20)
            mid = Path(tmp) / f"mid_{u.name}"
            write_wav(mid, samples.astype(np.float32), rate)
            convert(mid, args.out / u.name, u)
            references[u.name] = u.text
            got = read_audio(args.out / u.name)
            print(f"{u.name:24s} {u.voice:16s} {u.rate:6d} Hz {u.channels}ch {u.encoding:6s} {got.seconds:4.1f} s")
    (args.out / "references.json").write_text(json.dumps(references, indent=2) + "\n", encoding="utf-8")
    total = sum(p.stat().st_size for p in args.out.glob("*.wav"))
    print(f"{len(references)} utterances, {total / 1e6:.2f} MB in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
