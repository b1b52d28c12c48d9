"""Echo cancellation in the talk loop: when it is used, when the raw microphone is, and the fallbacks."""

from __future__ import annotations

import collections
import io

import numpy as np
from rich.console import Console

from voicecli.app import doctor
from voicecli.app import talk as talk_app
from voicecli.app.listen import MicInput
from voicecli.audio import aec as echo
from voicecli.audio.aec import EchoPath
from voicecli.config import Settings

RATE = 16000


def speechlike(seconds: float, seed: int) -> np.ndarray:
    """Noise shaped in bursts, like syllables: enough to correlate, nothing to transcribe."""
    rng = np.random.default_rng(seed)
    n = int(seconds * RATE)
    envelope = (np.sin(np.arange(n) / RATE * 2 * np.pi * 4) > 0).astype(np.float32)
    return (rng.standard_normal(n).astype(np.float32) * 0.1 * envelope).astype(np.float32)


def test_the_echo_path_is_found_when_the_microphone_hears_the_speaker():
    played = speechlike(4.0, 1)
    delay = int(0.06 * RATE)
    mic = np.concatenate([np.zeros(delay, np.float32), played[:-delay]]) * 0.5 + speechlike(4.0, 2) * 0.05
    path = EchoPath(RATE)
    for i in range(0, len(played), 480):
        path.add(played[i:i + 480], mic[i:i + 480])
    assert path.echo and path.coupling is not None and path.coupling > 0.3


def test_no_echo_path_with_a_headset_after_two_windows():
    played, mic = speechlike(4.0, 1), speechlike(4.0, 3) * 0.2  # the user, not the speaker
    path = EchoPath(RATE)
    decided = [path.add(played[i:i + 480], mic[i:i + 480]) for i in range(0, len(played), 480)]
    assert decided[0] is True  # it starts by assuming an echo (safe on speakers)
    assert path.echo is False and path.coupling < 0.12


class FakeMic:
    def __init__(self, blocks):
        self.blocks = collections.deque(blocks)

    def read(self, timeout=None):
        return self.blocks.popleft() if self.blocks else None

    def start(self):
        return self

    def close(self):
        pass


class LoudCanceller:
    """Stands for AEC3 damping everything while the speaker plays."""

    def __init__(self):
        self.references = 0

    def reference(self, samples, rate):
        self.references += 1

    def process(self, block):
        self.paired = (block, np.zeros_like(block))  # what it was given: the microphone, the reference
        return block * 0.001


def test_the_raw_microphone_is_passed_on_once_the_speaker_has_been_quiet_for_the_echo_tail():
    block = np.full(480, 0.3, np.float32)
    tap = collections.deque()
    source = MicInput(FakeMic([block] * 40), LoudCanceller(), tap, echo_tail_s=0.4)
    out = []
    for i in range(40):
        tap.append((np.full(480, 0.2 if i < 10 else 0.0, np.float32), RATE))  # plays for 300 ms, then silence
        out.append(source.read())
    assert all(float(b.samples.max()) < 0.01 for b in out[:10])  # while it plays: cancelled
    assert out[-1].samples is out[-1].raw  # 0.4 s after it stopped: the microphone as is
    assert all(float(b.raw.max()) == np.float32(0.3) for b in out)  # the recording keeps what was heard


def test_without_a_canceller_library_talk_warns_and_mutes_while_speaking(monkeypatch):
    monkeypatch.setattr(echo, "available", lambda: (False, "echo cancellation unavailable: cannot import x"))
    out = io.StringIO()
    assert talk_app.echo_canceller(Settings.load(command="talk"), Console(file=out, width=200)) is None
    assert "echo cancellation unavailable" in out.getvalue() and out.getvalue().count("\n") == 1
    check = doctor.check_echo_cancellation(Settings.load(command="talk"))
    assert check.status == "warn" and "pip install" in check.fix


def test_no_aec_is_todays_behaviour_and_aec_turns_barge_in_on():
    assert talk_app.echo_canceller(Settings.load({"aec": False}, command="talk"), Console(file=io.StringIO())) is None
    with_aec = talk_app.echo_canceller(Settings.load(command="talk"), Console(file=io.StringIO()))
    assert isinstance(with_aec, echo.EchoCanceller)
    assert talk_app.barge_in_default(Settings.load(command="talk"), with_aec) is True
    assert talk_app.barge_in_default(Settings.load(command="talk"), None) is False
    assert talk_app.barge_in_default(Settings.load({"barge_in": True}, command="talk"), None) is True
    assert doctor.check_echo_cancellation(Settings.load({"aec": False})).detail.startswith("off")
