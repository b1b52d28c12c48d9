"""`voicecli transcribe`: speech to text for audio files; a bad file is reported and the batch goes on."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from voicecli.app.session import emit_json, make_stt
from voicecli.app.view import print_error
from voicecli.audio.files import read_audio
from voicecli.config import Settings
from voicecli.errors import VoicecliError


def transcribe_files(settings: Settings, files: Sequence[Path], err: Console) -> int:
    """Print each file's transcript (or its JSON record); returns how many files failed."""
    settings.model("stt").require()
    with err.status("Loading the speech model…", spinner="dots"):
        stt = make_stt(settings)
    failed = 0
    for f in files:
        try:
            audio = read_audio(f)
        except VoicecliError as e:
            failed += 1
            print_error(e, err)
            continue
        res = stt.transcribe_result(audio)
        if settings.json:
            emit_json({"file": str(f), "text": res.text, "duration_s": round(res.duration_s, 3),
                       "stt_ms": round(res.stt_ms, 1)})
        else:
            print((f"{f}: " if len(files) > 1 else "") + (res.text or "(no speech)"), flush=True)
    return failed
