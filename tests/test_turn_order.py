"""The order of a turn's events where the order *is* the feature (no wall-clock bounds).

"Audio first": on a small machine the LLM and the voice compete for the same cores, so once the first
speakable chunk is ready, generation pauses until its audio is synthesised. In events: no token is
taken from the model between the first ``ChunkReady`` and the first ``SynthesisDone``; generation
goes on after it. The model here has every token ready at once (replayed at speed 0) and the voice
takes a while, so without the pause every token would arrive in that window.
"""

from __future__ import annotations

from voicecli.audio.sinks import NullSink
from voicecli.engine.events import ChunkReady, EventBus, Recorder, SynthesisDone, Token
from voicecli.engine.turn import Engine, EngineConfig
from voicecli.llm.replay import ReplayLLM
from voicecli.tts import ToneTTS

REPLY = "Sure, the capital of France is Paris. It sits on the Seine, in the north of the country."


def run_turn(**config) -> Recorder:
    tts = ToneTTS(sample_rate=16000, ms_per_char=10.0, synth_s_per_char=0.01)  # "Sure," takes 50 ms
    bus = EventBus()
    events = bus.subscribe(Recorder())
    llm = ReplayLLM.scripted(REPLY, speed=0.0)
    engine = Engine(llm, tts, NullSink(tts.sample_rate), bus, EngineConfig(chunking="adaptive", **config))
    try:
        assert engine.turn("Where is Paris?").record.response == REPLY
    finally:
        engine.close()
    return events


def window(events: Recorder) -> tuple[list[Token], list[Token]]:
    """Tokens taken while the first chunk was being synthesised, and after its audio was ready."""
    ready = next(e for e in events.of(ChunkReady) if e.index == 0)
    audio = next(e for e in events.of(SynthesisDone) if e.index == 0)
    assert ready.t <= audio.t
    tokens = events.of(Token)
    return [t for t in tokens if ready.t < t.t < audio.t], [t for t in tokens if t.t >= audio.t]


def test_generation_waits_for_the_first_audio():
    during, after = window(run_turn())
    assert during == [], [t.text for t in during]
    assert after, "generation never went on after the first audio"


def test_without_audio_first_the_tokens_keep_coming():
    # the same turn with the pause switched off: the check above is not vacuous
    during, _ = window(run_turn(first_audio_first=False))
    assert during, "no token arrived while the first chunk was synthesised"
