"""The chat's prompt (voicecli.app.chat.ask): Ctrl-C wakes it whichever thread the signal lands in.

A process-wide SIGINT may be taken by any thread that does not block it; in the chat that can be a
native worker of onnxruntime or Piper, where Python's handler only notes it. A prompt blocked in
``input()`` then waited for a line (``tests/test_cli_signals.py`` hung in 1 of 60 runs on a busy
machine). Here the signal is sent to a worker thread on purpose, with a terminal as the input.
"""

from __future__ import annotations

import io
import os
import pty
import signal
import sys
import threading
import time

import pytest
from rich.console import Console

from voicecli.app.chat import ask


@pytest.fixture
def keyboard(monkeypatch):
    """A terminal as the input: returns the fd that types into it."""
    master, slave = pty.openpty()
    terminal = os.fdopen(slave, "r")
    monkeypatch.setattr(sys, "stdin", terminal)
    yield master
    terminal.close()
    os.close(master)


def test_ctrl_c_in_another_thread_wakes_the_prompt(keyboard):
    worker_up, done = threading.Event(), threading.Event()
    worker = threading.Thread(target=lambda: (worker_up.set(), done.wait(10)), daemon=True)
    worker.start()
    worker_up.wait()
    typed = threading.Event()

    def press_ctrl_c_then_type():
        time.sleep(0.3)
        signal.pthread_kill(worker.ident, signal.SIGINT)  # taken by the worker, as a native thread may take it
        if not done.wait(3.0):  # the prompt did not wake: only a line would end its wait
            typed.set()
            os.write(keyboard, b"a line\n")

    threading.Thread(target=press_ctrl_c_then_type, daemon=True).start()
    try:
        with pytest.raises(KeyboardInterrupt):
            ask(Console(file=io.StringIO()), "you › ")
        assert not typed.is_set()  # woken by the signal, not by the line typed after it
    finally:
        done.set()


def test_a_line_typed_at_the_prompt_is_returned(keyboard):
    out = io.StringIO()
    os.write(keyboard, b"What time is it?\n")
    assert ask(Console(file=out), "you › ") == "What time is it?"
    assert "you ›" in out.getvalue()
