"""A private PulseAudio server for the end-to-end audio tests: a virtual microphone and speaker.

This machine has no sound card (facts.md, "Audio without hardware"), so the tests build one:

    pacat → [null sink mic_feed] → mic_feed.monitor → [remap source "mic"]  → voicecli's microphone
    voicecli's speaker → [null sink "speaker"] → speaker.monitor → parec      → the test's recording

voicecli reaches them through PortAudio's ALSA ``pulse``/``default`` devices (libasound2-plugins),
which find the server through ``PULSE_SERVER``. ``PulseServer.env`` holds the variables a child
process needs.

Decisions:
- The daemon runs in the foreground (``--daemonize=no``) as our own child, with its runtime, state
  and config paths under a temporary directory: nothing is shared with a desktop session or another
  test run, and teardown knows exactly which process to end.
- Every child (daemon, keepers, players, recorders) gets ``PR_SET_PDEATHSIG``: if the test process
  dies without tearing down (SIGKILL, a crash), the kernel ends them too. All children are started
  from the main thread (the signal fires when the *thread* that forked exits).
- Idle null sinks run in 2-second blocks, so the first stream would start ~2 s late. A silent
  "keeper" stream at 20 ms latency plays into each sink for the whole session (50 ms gave
  underruns), and ``start()`` waits ~2.5 s for the sinks to settle.
- Audio goes in and out as raw 16 kHz mono s16le through ``pacat``/``parec``: the test knows the
  exact samples it injects and when it started them, and the recorder timestamps what it receives,
  so silence and sound can be placed on the test's clock (``time.perf_counter()``).
- Clients get ``autospawn = no``: a client that cannot reach the server fails instead of starting
  some other PulseAudio behind the test's back.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np

RATE = 16000
_RAW = ["--raw", "--format=s16le", f"--rate={RATE}", "--channels=1"]
KEEPER_LATENCY_MS = 20
SETTLE_S = 2.5


class PulseUnavailable(RuntimeError):
    """PulseAudio is not installed or would not start (the message says why, for a skip reason)."""


def die_with_parent() -> None:  # runs in the child between fork and exec
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def end_process(proc: subprocess.Popen | None, timeout: float = 3.0) -> None:
    """Terminate one process we started, then kill it if it does not go."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout)


def to_pcm16(samples: np.ndarray) -> bytes:
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype("<i2").tobytes()


def frame_levels(samples: np.ndarray, frame: int = RATE // 50) -> np.ndarray:
    """RMS level in dBFS of each ``frame``-sample frame (20 ms by default); -120 for digital silence."""
    n = len(samples) // frame
    if n == 0:
        return np.zeros(0)
    rms = np.sqrt(np.mean(np.square(samples[: n * frame].reshape(n, frame), dtype=np.float64), axis=1))
    return np.maximum(-120.0, 20.0 * np.log10(np.maximum(rms, 1e-6)))


class Recorder:
    """``parec`` on a source; a thread collects the samples with the time each block arrived."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self._lock = threading.Lock()
        self._blocks: list[bytes] = []
        self._arrivals: list[tuple[int, float]] = []  # (samples received so far, perf_counter())
        self._received = 0
        self._thread = threading.Thread(target=self._read, name="pulse-recorder", daemon=True)
        self._thread.start()

    def _read(self) -> None:
        fd = self.proc.stdout.fileno()
        pending = b""
        while True:
            data = os.read(fd, 1280)  # 40 ms
            if not data:
                return
            now = time.perf_counter()
            data, pending = pending + data, b""
            if len(data) % 2:
                data, pending = data[:-1], data[-1:]
            with self._lock:
                self._blocks.append(data)
                self._received += len(data) // 2
                self._arrivals.append((self._received, now))

    def samples(self) -> np.ndarray:
        """Everything recorded so far, float32 mono at ``RATE``."""
        with self._lock:
            raw = b"".join(self._blocks)
        return np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0

    def time_of(self, index: int) -> float:
        """The ``perf_counter()`` time at which sample ``index`` was captured (from block arrivals)."""
        with self._lock:
            arrivals = list(self._arrivals)
        for received, t in arrivals:
            if received > index:
                return t - (received - index) / RATE
        if not arrivals:
            raise ValueError("nothing recorded yet")
        received, t = arrivals[-1]
        return t + (index - received) / RATE

    def index_at(self, t: float) -> int:
        """The sample index captured at ``perf_counter()`` time ``t`` (the inverse of ``time_of``)."""
        with self._lock:
            arrivals = list(self._arrivals)
        for received, at in arrivals:
            if at >= t:
                return max(0, received - int((at - t) * RATE))
        if not arrivals:
            return 0
        received, at = arrivals[-1]
        return received + int((t - at) * RATE)

    def wait_for_sound(self, timeout: float, *, threshold_db: float = -40.0, after: int = 0) -> float | None:
        """Wait until a 20 ms frame at or after sample ``after`` is louder than ``threshold_db``.

        Returns the ``perf_counter()`` time of that frame, or None on timeout.
        """
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            levels = frame_levels(self.samples()[after:])
            loud = np.flatnonzero(levels > threshold_db)
            if len(loud):
                return self.time_of(after + int(loud[0]) * (RATE // 50))
            time.sleep(0.05)
        return None

    def stop(self) -> np.ndarray:
        end_process(self.proc)
        self._thread.join(2.0)
        return self.samples()


class PulseServer:
    """A private PulseAudio daemon with the sinks ``speaker`` and ``mic_feed`` and the source ``mic``."""

    def __init__(self, root: str | os.PathLike[str] | None = None):
        self._own_root = root is None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="voicecli-pulse-"))
        self.socket = self.root / "native"
        self.log = self.root / "pulseaudio.log"
        self.daemon: subprocess.Popen | None = None
        self.keepers: list[subprocess.Popen] = []
        self._children: list[subprocess.Popen] = []  # players and recorders
        self._tmp = 0

    # --- environment ------------------------------------------------------------------------

    @property
    def env(self) -> dict[str, str]:
        """What a client process needs to use this server (add it to ``os.environ``)."""
        return {"PULSE_SERVER": f"unix:{self.socket}", "XDG_RUNTIME_DIR": str(self.root),
                "PULSE_CLIENTCONFIG": str(self.root / "client.conf")}

    def _environ(self) -> dict[str, str]:
        private = {"HOME": str(self.root), "PULSE_RUNTIME_PATH": str(self.root / "runtime"),
                   "PULSE_STATE_PATH": str(self.root / "state"), "XDG_CONFIG_HOME": str(self.root / "config")}
        return {**os.environ, **private, **self.env}

    def _spawn(self, args: list[str], **kw) -> subprocess.Popen:
        return subprocess.Popen(args, env=self._environ(), preexec_fn=die_with_parent, **kw)

    # --- life cycle ---------------------------------------------------------------------------

    def start(self, timeout: float = 10.0) -> PulseServer:
        """Start the daemon, load the virtual devices, start the keepers. Raises ``PulseUnavailable``.

        On any failure, everything started so far is ended again (and the temporary files removed).
        """
        try:
            self._start(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self, timeout: float) -> None:
        for tool in ("pulseaudio", "pacat", "parec", "pactl"):
            if shutil.which(tool) is None:
                raise PulseUnavailable(f"{tool} is not installed (Debian: pulseaudio, pulseaudio-utils)")
        (self.root / "client.conf").write_text("autospawn = no\n")
        script = self.root / "voicecli-test.pa"
        script.write_text(
            f"load-module module-native-protocol-unix auth-anonymous=1 socket={self.socket}\n"
            f"load-module module-null-sink sink_name=speaker rate={RATE} channels=1\n"
            f"load-module module-null-sink sink_name=mic_feed rate={RATE} channels=1\n"
            "load-module module-remap-source master=mic_feed.monitor source_name=mic\n"
            "set-default-sink speaker\n"
            "set-default-source mic\n"
        )
        with self.log.open("wb") as log:
            self.daemon = self._spawn(
                ["pulseaudio", "-n", "-F", str(script), "--daemonize=no", "--exit-idle-time=-1",
                 "--use-pid-file=no", "--system=no", "--log-target=stderr"],
                stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready(timeout)
        for sink in ("speaker", "mic_feed"):
            self.keepers.append(self._spawn(
                ["pacat", "--playback", f"--device={sink}", f"--latency-msec={KEEPER_LATENCY_MS}", *_RAW,
                 "/dev/zero"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        time.sleep(SETTLE_S)
        if any(k.poll() is not None for k in self.keepers):
            raise PulseUnavailable("a keeper stream (pacat) exited at once: " + self.log_tail())

    def _wait_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.daemon.poll() is not None:
                raise PulseUnavailable(f"pulseaudio exited with status {self.daemon.returncode}: {self.log_tail()}")
            if self.socket.exists():
                probe = subprocess.run(["pactl", "list", "short", "sources"], env=self._environ(),
                                       capture_output=True, text=True, timeout=5)
                if probe.returncode == 0 and "\tmic\t" in probe.stdout:
                    return
            time.sleep(0.1)
        raise PulseUnavailable(f"pulseaudio did not come up within {timeout:.0f} s: {self.log_tail()}")

    def log_tail(self, lines: int = 5) -> str:
        try:
            text = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            return "(no log)"
        errors = [line for line in text if line.startswith("E:")] or text
        return " | ".join(errors[-lines:]) or "(empty log)"

    def stop(self) -> None:
        """End every process this server started (players, recorders, keepers, daemon); remove its files."""
        for proc in [*self._children, *self.keepers]:
            end_process(proc)
        self._children.clear()
        self.keepers.clear()
        end_process(self.daemon, timeout=5.0)
        self.daemon = None
        if self._own_root:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PulseServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- audio in and out ---------------------------------------------------------------------

    def echo_path(self, latency_ms: int = 60, volume: str = "70%") -> None:
        """Let the microphone hear the speaker, as on a laptop: ``speaker.monitor`` looped into ``mic_feed``
        ``latency_ms`` later, and the microphone feed at ``volume`` (what is injected too)."""
        env = self._environ()
        subprocess.run(["pactl", "load-module", "module-loopback", "source=speaker.monitor", "sink=mic_feed",
                        f"latency_msec={latency_ms}"], env=env, check=True, capture_output=True, timeout=10)
        subprocess.run(["pactl", "set-sink-volume", "mic_feed", volume], env=env, check=True, capture_output=True,
                       timeout=10)

    def play_into_mic(self, samples: np.ndarray) -> tuple[subprocess.Popen, float]:
        """Start playing 16 kHz mono float samples into the virtual microphone (``mic_feed``).

        Returns the ``pacat`` process (``wait()`` for the end) and the ``perf_counter()`` time it was
        started: the first sample reaches the microphone a few tens of milliseconds later.
        """
        self._tmp += 1
        raw = self.root / f"inject-{self._tmp}.raw"
        raw.write_bytes(to_pcm16(samples))
        t0 = time.perf_counter()
        proc = self._spawn(["pacat", "--playback", "--device=mic_feed", f"--latency-msec={KEEPER_LATENCY_MS}",
                            *_RAW, str(raw)], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._children.append(proc)
        return proc, t0

    def record_speaker(self) -> Recorder:
        """Start recording what is played on the virtual speaker (``speaker.monitor``)."""
        proc = self._spawn(["parec", "--device=speaker.monitor", f"--latency-msec={KEEPER_LATENCY_MS}", *_RAW],
                           stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        self._children.append(proc)
        return Recorder(proc)


@contextlib.contextmanager
def serving(*, echo: bool = False) -> Iterator[PulseServer]:
    """A private server for a group of tests, stopped after them; ``echo``: its microphone hears its
    speaker (60 ms later, at 70%), as on a laptop. A skip naming why when it cannot start (in CI, where
    skips fail, a failure)."""
    import pytest

    server = PulseServer()
    try:
        server.start()
        if echo:
            server.echo_path(latency_ms=60, volume="70%")
    except PulseUnavailable as e:
        pytest.skip(f"no virtual audio devices: {e}")
    try:
        yield server
    finally:
        server.stop()
