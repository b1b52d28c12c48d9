"""`voicecli talk`: listen → take turns → answer by voice → listen again, until goodbye or Ctrl-C.

This module assembles the parts from the settings: the input (microphone, with echo cancellation
when available, or ``--input`` files), the session, the end-of-turn judge, the conversation
recording; the loop itself is ``voicecli.app.loop``, its decisions ``voicecli.app.turns``.

Echo cancellation and barge-in: with the microphone, the speaker's output is the canceller's
reference and the assistant never hears itself, so the user may cut in (barge-in on by default).
Without a canceller (``--no-aec``, or the library missing: one warning line), the microphone is muted
while the assistant speaks, unless ``--barge-in`` is given (a headset).
"""

from __future__ import annotations

import collections
from typing import Any

from rich.console import Console

from voicecli.app.listen import FileInput, MicInput
from voicecli.app.loop import TalkLoop, judge_with
from voicecli.app.recording import ConversationRecorder, Timeline
from voicecli.app.session import Session
from voicecli.app.turns import TurnRules, TurnTaker
from voicecli.app.view import print_warning
from voicecli.audio import aec as echo
from voicecli.audio.files import check_writable
from voicecli.audio.mic import Microphone
from voicecli.audio.vad import Endpointer
from voicecli.config import Settings
from voicecli.errors import VoicecliError
from voicecli.llm.eot import LlamaEndOfTurn
from voicecli.llm.local import LlamaCppLLM
from voicecli.tts import PiperTTS


def rules_from(s: Settings) -> TurnRules:
    return TurnRules(commit_ms=s.turn_silence_ms, max_silence_ms=s.end_silence_ms,
                     semantic=s.turn_silence_ms < s.end_silence_ms)


def echo_canceller(s: Settings, console: Console) -> echo.EchoCanceller | None:
    """The canceller ``--aec`` asks for (default: when available); None means mute-while-speaking."""
    if s.aec is False:
        return None
    ok, line = echo.available()
    if not ok:
        print_warning(line, console)
        return None
    return echo.EchoCanceller()


def barge_in_default(s: Settings, aec: echo.EchoCanceller | None) -> bool:
    """``--barge-in`` as given; by default on exactly when the echo is cancelled."""
    return s.barge_in if s.barge_in is not None else aec is not None


def end_of_turn_scorer(s: Settings, chat: Any = None) -> Any | None:
    """The embedded chat model's end-of-turn score, when wanted and present: on ``chat``, the session's
    model, when that is the embedded model loaded locally (the score's prompt is then the reply's, whose
    evaluation it starts: ~50 ms sooner, ``voicecli.llm.eot``); else on a small instance of its own."""
    model = s.model("llm") if s.llm_model is None else None  # a big model of the user's would be slow here
    if s.eot_threshold <= 0 or model is None or not model.exists:
        return None
    if isinstance(chat, LlamaCppLLM) and chat.path == model.path:
        return LlamaEndOfTurn(chat=chat)
    return LlamaEndOfTurn(model.path)


def talk(settings: Settings, console: Console) -> None:
    """``voicecli talk``: the input, the session, the loop, and what to say when no turn was answered."""
    if settings.conversation_wav is not None:
        check_writable(settings.conversation_wav, "--conversation-wav")
    files = FileInput(settings.input, realtime=settings.realtime) if settings.input else None
    mic = aec = tap = None
    if files is not None:
        files.check()  # before any model loads
    else:
        mic = Microphone(settings.input_device)
        aec = echo_canceller(settings, console)
        tap = collections.deque() if aec is not None else None
    barge_in = barge_in_default(settings, aec)
    session = Session(settings, console, need_stt=True, tap=tap)
    if aec is not None and barge_in and isinstance(session.tts, PiperTTS):
        session.tts.trim_silence = False  # its pauses let a voice over the reply through (voicecli.tts)
    timeline = Timeline()  # restarted below, when the input starts: the conversation's zero
    recorder = None
    if settings.conversation_wav is not None:
        recorder = ConversationRecorder(settings.conversation_wav, timeline, session.sink.latency)
        session.bus.subscribe(recorder)
    scorer = end_of_turn_scorer(settings, session.engine.llm)
    if scorer is not None:
        scorer.warm_up(session.engine.history)  # the system prompt evaluated before the user speaks
    assert session.stt is not None
    loop = TalkLoop(session, session.stt, Endpointer(settings.vad_threshold, settings.min_speech_ms,
                                                     settings.end_silence_ms, settings.pre_roll_ms),
                    TurnTaker(rules_from(settings)), judge_with(scorer, settings.eot_threshold), barge_in=barge_in,
                    timeline=timeline, recorder=recorder, console=console,
                    on_reply=scorer.warm_up if scorer is not None else None, echo_guard=files is None)
    skipped: list[str] = []
    source = None
    timeline.restart()
    try:
        if files is None:
            assert mic is not None
            source = MicInput(mic, aec, tap).start()
            console.print("[dim]Listening… speak, then pause. Say “goodbye” or press Ctrl-C to stop.[/]")
            loop.listen(_mic_blocks(source, loop))
        else:
            for path in files.paths:
                base = timeline.now()
                samples = files.samples(path)
                if files.realtime:
                    before = sum(loop.counts.values())
                    loop.listen(files.blocks(samples), base)
                    loop.wait_idle()
                    found = sum(loop.counts.values()) > before
                else:
                    found = loop.answer_file(samples, base)
                if not found:
                    skipped.append(f"{path}: no speech found")
                if loop.finished:
                    break
    except KeyboardInterrupt:
        loop.stop()
    finally:
        loop.wait_idle()
        if isinstance(source, MicInput):
            source.close()
        session.close()
        if recorder is not None:
            recorder.close()
    for line in skipped:
        print_warning(line, console)
    if files is not None and loop.counts["turns"] == 0:
        raise VoicecliError("no turn was answered: no speech was found in the input",
                            "check the files contain speech (try `voicecli transcribe FILE`)")


def _mic_blocks(source: MicInput, loop: TalkLoop):
    """The microphone's blocks until goodbye (a timeout yields nothing and keeps the loop turning)."""
    while not loop.finished:
        block = source.read(0.1)
        if block is not None:
            yield block
        else:
            loop.poll()  # a reply that ended: listen for the next turn
