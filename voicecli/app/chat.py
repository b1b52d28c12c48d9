"""`voicecli chat`: type to the assistant; the reply is streamed, shown and spoken.

Ctrl-C during a reply stops the reply and the chat goes on; Ctrl-C (or end of input) at the prompt
leaves; SIGTERM leaves after the reply under way is logged.

At a terminal the prompt waits in ``select`` on the input and on a signal wake-up pipe, and reads the
line only once it is there. Ctrl-C at the prompt left the chat waiting in ``input()`` in 1 of 60 runs
of ``tests/test_cli_signals.py`` on a busy machine (a fault dump showed the main thread there, after
the ^C): most likely the process-wide SIGINT landed in another thread (onnxruntime and Piper keep
native ones), where Python's handler only notes it, and a main thread blocked in ``input()`` never
wakes to raise ``KeyboardInterrupt``. The handler writes to the wake-up pipe from whichever thread
it runs in; 90 runs of that scenario under load with this prompt: no wait.
"""

from __future__ import annotations

import os
import select
import signal
import sys

from rich.console import Console

from voicecli.app import signals
from voicecli.app.session import Session

HELP = "/reset  forget the conversation · /quit  leave · Ctrl-C  stop the reply"


def chat_loop(session: Session, console: Console) -> None:
    console.print("[dim]Type a message; /reset starts over, /quit leaves. Ctrl-C stops the reply.[/]")
    while not signals.terminating.is_set():
        try:
            line = ask(console, "[bold cyan]you ›[/] ")
        except (EOFError, KeyboardInterrupt):
            console.print()
            return
        text = line.strip()
        if not text:
            continue
        if text in ("/quit", "/exit", "/q"):
            return
        if text == "/reset":
            session.engine.reset()
            console.print("[dim]Conversation cleared.[/]")
        elif text == "/help":
            console.print(f"[dim]{HELP}[/]")
        elif text.startswith("/"):
            console.print(f"[yellow]Unknown command {text.split()[0]}; try /help.[/]")
        else:
            session.turn(text)  # a failure is one line and the conversation goes on


def ask(console: Console, prompt: str) -> str:
    """``console.input(prompt)``, woken by a signal whichever thread it lands in (see the module docstring)."""
    if not sys.stdin.isatty():
        return console.input(prompt)
    console.print(prompt, end="")
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    before = signal.set_wakeup_fd(wake_w, warn_on_full_buffer=False)
    try:
        while True:
            ready, _, _ = select.select([sys.stdin, wake_r], [], [])
            if sys.stdin in ready:
                return input()
            os.read(wake_r, 512)  # a signal was noted in some thread: its handler runs here, in the main thread
    finally:
        signal.set_wakeup_fd(before)
        os.close(wake_r)
        os.close(wake_w)
