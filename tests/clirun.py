"""Running ``voicecli`` from tests, the way a user does, and reading what it printed.

- ``voicecli(*args)``: the real program in a subprocess (``python -m voicecli``): exit status,
  stdout, stderr and the absence of tracebacks are what a user sees.
- ``spawn(*args, tty=False)``: the same, still running (for signals, or typing into ``chat``); with
  ``tty=True`` its stdin/stdout/stderr are a pseudo-terminal, so Ctrl-C is the terminal's own
  (the line discipline turns "\\x03" into SIGINT for the foreground process group).
- ``invoke(*args)``: in-process through Typer's ``CliRunner`` (fast; errors are not turned into one
  line there, so use it for what succeeds: help, listings).

The conversation log is off (``VOICECLI_NO_LOG=1``) unless a test asks for it with ``log=True``: a
test that wants the log also isolates the data directory (the ``isolated_env`` fixture).

``tests/test_cli_coverage.py`` reads the arguments of the calls to these three functions (and any
``["-m", "voicecli", ...]`` list) from the tests' source, to prove every command and flag is invoked:
write the command and its flags as literal strings at the call (or in a list assigned in the same
test), not built from variables.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import re
import select
import signal
import subprocess
import sys
import termios
import time
from pathlib import Path
from typing import Any

from typer.testing import CliRunner

ANSI = re.compile(r"\x1b(\[[0-9;?]*[ -/]*[@-~]|\][^\x07]*\x07|[@-Z\\-_])")
ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "tests" / "data" / "speech"


def environ(env: dict[str, str] | None = None, *, log: bool = False) -> dict[str, str]:
    full = {**os.environ, "COLUMNS": "200", **(env or {})}
    if not log:
        full.setdefault("VOICECLI_NO_LOG", "1")
    return full


def voicecli(*args: str, env: dict[str, str] | None = None, stdin: str | None = None, timeout: float = 240,
             cwd: str | os.PathLike[str] | None = None, log: bool = False) -> subprocess.CompletedProcess[str]:
    """``voicecli ARGS...`` to the end; its output as text."""
    return subprocess.run([sys.executable, "-m", "voicecli", *args], capture_output=True, text=True,
                          timeout=timeout, env=environ(env, log=log), input=stdin, cwd=cwd)


def _controlling_tty() -> None:  # in the child, before exec: a new session whose terminal is stdin
    os.setsid()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Spawned:
    """A running ``voicecli``: with a pipe or a pseudo-terminal for its input and output."""

    def __init__(self, args: tuple[str, ...], env: dict[str, str], tty: bool, cwd: Any, stdout_pipe: bool = False):
        self.tty = tty
        cmd = [sys.executable, "-m", "voicecli", *args]
        if tty:
            self.master, slave = pty.openpty()
            out = subprocess.PIPE if stdout_pipe else slave
            self.proc = subprocess.Popen(cmd, stdin=slave, stdout=out, stderr=slave, env=env, cwd=cwd,
                                         preexec_fn=_controlling_tty, close_fds=True, text=stdout_pipe)
            os.close(slave)
        else:
            self.master = -1
            self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True, env=env, cwd=cwd)
        self.raw = ""  # what the program wrote to the terminal (tty mode)
        self.output = ""  # the same as text: colours and cursor movements taken out, line ends as "\n"

    # --- tty mode -------------------------------------------------------------------------------
    def type(self, text: str) -> None:
        os.write(self.master, text.encode())

    def read_until(self, needle: str, timeout: float = 120.0) -> str:
        """Read the terminal until ``needle`` appears after what was already consumed; returns the new text."""
        start = len(self.output)
        deadline = time.monotonic() + timeout
        while needle not in self.output[start:]:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"{needle!r} never appeared; the terminal showed:\n{self.output[-3000:]}")
            ready, _, _ = select.select([self.master], [], [], min(left, 0.2))
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:  # the child closed the terminal
                    data = b""
                if not data:
                    if self.proc.poll() is not None:
                        raise AssertionError(f"exited ({self.proc.returncode}) before {needle!r}:\n{self.output[-3000:]}")
                    continue
                self._add(data)
        return self.output[start:]

    def _add(self, data: bytes) -> None:
        self.raw += data.decode(errors="replace")
        self.output = ANSI.sub("", self.raw).replace("\r\n", "\n").replace("\r", "")

    def drain(self, timeout: float = 60.0) -> int:
        """Read the terminal until the program exits; returns its exit status."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready, _, _ = select.select([self.master], [], [], 0.2)
            if ready:
                try:
                    data = os.read(self.master, 65536)
                except OSError:
                    data = b""
                self._add(data)
                if not data and self.proc.poll() is not None:
                    break
            elif self.proc.poll() is not None:
                break
        return self.wait(max(1.0, deadline - time.monotonic()))

    # --- both ------------------------------------------------------------------------------------
    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)

    def wait(self, timeout: float = 60.0) -> int:
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"voicecli did not exit within {timeout:.0f} s:\n{self.output[-3000:]}") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self.master >= 0:
            os.close(self.master)
            self.master = -1


def spawn(*args: str, env: dict[str, str] | None = None, tty: bool = False, log: bool = False,
          cwd: str | os.PathLike[str] | None = None, stdout_pipe: bool = False) -> Spawned:
    """``voicecli ARGS...`` started and left running (``close()`` it in a ``finally``).

    ``tty=True, stdout_pipe=True``: a terminal for the input and the live view (stderr with ``--json``),
    a pipe for stdout, so the JSON records are never interleaved with the view's redrawing.
    """
    return Spawned(args, environ(env, log=log), tty, cwd, stdout_pipe)


def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None):
    """``voicecli ARGS...`` in this process (Typer's test runner); stdout and stderr kept apart."""
    from voicecli.cli import app

    return CliRunner().invoke(app, list(args), env={"COLUMNS": "200", **(env or {})}, input=input)


def records(proc: subprocess.CompletedProcess[str]) -> list[dict[str, Any]]:
    """The JSON lines on stdout (``--json``)."""
    return [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]


def assert_one_line_error(proc: subprocess.CompletedProcess[str], *needles: str) -> str:
    """A user mistake: a non-zero exit, one ``error:`` line on stderr naming ``needles``, no traceback."""
    assert proc.returncode != 0, (proc.returncode, proc.stderr)
    lines = [line for line in proc.stderr.strip().splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("error:"), lines[0]
    assert "Traceback" not in proc.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def mentions(text: str | None, *words: str) -> bool:
    """Does ``text`` contain each of ``words`` (case-insensitive)? For content checks on model replies."""
    low = (text or "").lower()
    return all(w.lower() in low for w in words)
