"""`voicecli chat`: type to the assistant; the reply is streamed, shown and spoken.

Ctrl-C during a reply stops the reply and the chat goes on; Ctrl-C (or end of input) at the prompt
leaves; SIGTERM leaves after the reply under way is logged.
"""

from __future__ import annotations

from rich.console import Console

from voicecli.app import signals
from voicecli.app.session import Session

HELP = "/reset  forget the conversation · /quit  leave · Ctrl-C  stop the reply"


def chat_loop(session: Session, console: Console) -> None:
    console.print("[dim]Type a message; /reset starts over, /quit leaves. Ctrl-C stops the reply.[/]")
    while not signals.terminating.is_set():
        try:
            line = console.input("[bold cyan]you ›[/] ")
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
