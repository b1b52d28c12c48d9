"""`voicecli talk`: listen → endpoint → transcribe → answer by voice → listen again.

The loop's decisions, each its own small function: a transcript that is empty is skipped; one that
matches what the assistant just said is its own echo, ignored; "goodbye" ends the conversation with
a farewell; anything else is a turn. Where the utterances come from (files, the microphone, with
mute-while-speaking or barge-in) is ``voicecli.app.listen``'s business.

The conversation ends on Ctrl-C, at the end of the input files, or when the user says goodbye.
"""

from __future__ import annotations

import re
import threading

from rich.console import Console

from voicecli.app.listen import FileSource, MicSource, Utterance
from voicecli.app.session import Session
from voicecli.audio.mic import Microphone
from voicecli.audio.vad import Endpointer
from voicecli.config import Settings
from voicecli.engine.types import Heard
from voicecli.errors import VoicecliError
from voicecli.stt import WhisperSTT
from voicecli.text.wer import normalize, wer

GOODBYE = re.compile(r"^\W*(ok(ay)?\W+)?((good\s?bye|bye|see you( later)?|that'?s all|stop listening|exit|quit)\W*)+"
                     r"(\W+(now|for now|thanks?|thank you))*\W*$", re.IGNORECASE)
FAREWELL = "Goodbye."


def is_goodbye(text: str) -> bool:
    return bool(GOODBYE.match(text.strip()))


def is_echo(transcript: str, last_spoken: str, max_wer: float = 0.4) -> bool:
    """Did the microphone just hear the assistant? True when the transcript matches (part of) what it said."""
    heard, said = normalize(transcript), normalize(last_spoken)
    if not heard or not said:
        return False
    if " ".join(heard) in " ".join(said):
        return True
    # compare with the stretch of the reply of the same length that fits best
    n = len(heard)
    best = min(wer(" ".join(said[i:i + n]), " ".join(heard)) for i in range(max(1, len(said) - n + 1)))
    return best <= max_wer


def make_source(s: Settings) -> FileSource | MicSource:
    """The utterances the settings ask for: ``--input`` files (checked before any model loads) or the microphone."""
    endpointer = Endpointer(s.vad_threshold, s.min_speech_ms, s.end_silence_ms, s.pre_roll_ms)
    if s.input:
        source = FileSource(s.input, endpointer, realtime=s.realtime)
        source.check()
        return source
    return MicSource(Microphone(s.input_device), endpointer, barge_in=s.barge_in)


def run_talk(session: Session, stt: WhisperSTT, source: FileSource | MicSource, console: Console | None = None
             ) -> dict[str, int]:
    """The conversation loop; returns counts for the summary."""
    counts = {"turns": 0, "empty": 0, "echo": 0}
    last_spoken = ""
    mic = source if isinstance(source, MicSource) else None
    for utt in source:
        text, heard = _transcribe(stt, utt)
        if not text:
            counts["empty"] += 1
            _note(console, f"({utt.source}: heard nothing I could transcribe)")
            continue
        if last_spoken and is_echo(text, last_spoken):
            counts["echo"] += 1
            _note(console, f"(ignored my own echo: “{text}”)")
            continue
        if console is not None:
            console.print(f"[bold cyan]you ›[/] {text}")
        stop = threading.Event()
        if mic is not None:
            mic.speaking_turn(stop)
        try:
            counts["turns"] += 1
            if is_goodbye(text):
                session.say(FAREWELL, heard=heard, stop=stop)
                break
            last_spoken = session.turn(text, heard=heard, stop=stop).record.spoken
        finally:
            if mic is not None:
                mic.listening()
    return counts


def _transcribe(stt: WhisperSTT, utt: Utterance) -> tuple[str, Heard]:
    result = stt.transcribe_result(utt.audio)
    text = result.text.strip()
    return text, Heard(text, utt.end_t, result.stt_ms)


def _note(console: Console | None, text: str) -> None:
    if console is not None:
        console.print(f"[dim]{text}[/]")


def talk(settings: Settings, console: Console) -> None:
    """``voicecli talk``: the source, the session, the loop, and what to say when no turn was answered."""
    source = make_source(settings)
    session = Session(settings, console, need_stt=True)
    counts = None
    try:
        if isinstance(source, MicSource):
            source.start()
            console.print("[dim]Listening… speak, then pause. Say “goodbye” or press Ctrl-C to stop.[/]")
        assert session.stt is not None
        counts = run_talk(session, session.stt, source, console)
    except KeyboardInterrupt:
        pass
    finally:
        if isinstance(source, MicSource):
            source.close()
        session.close()
    if isinstance(source, FileSource):
        for line in source.skipped:
            console.print(f"[yellow]warning:[/] {line}")
        if counts is not None and counts["turns"] == 0:
            raise VoicecliError("no turn was answered: no speech was found in the input",
                                "check the files contain speech (try `voicecli transcribe FILE`)")
