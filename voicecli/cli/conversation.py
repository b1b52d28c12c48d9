"""The conversation commands: chat, say, talk, transcribe. Each option comes from ``config.Settings``."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from voicecli.app import talk as talk_app
from voicecli.app.chat import chat_loop
from voicecli.app.session import Session
from voicecli.app.transcribe import transcribe_files
from voicecli.cli.app import app, console_for, exit_after
from voicecli.cli.options import settings_command
from voicecli.config import Settings
from voicecli.errors import VoicecliError

PANEL = "Conversation"


@settings_command(app, "chat", rich_help_panel=PANEL)
def chat(
    settings: Settings,
    once: Annotated[str | None, typer.Option("--once", help="Do one turn with this text and exit.",
                                             show_default=False)] = None,
) -> None:
    """Type to the assistant; the reply is streamed, shown and spoken. [dim]/reset, /quit, /help[/]"""
    if once is not None and not once.strip():
        raise VoicecliError("--once was given an empty message", 'say something, e.g. --once "What time is it?"')
    console = console_for(settings.json)
    session = Session(settings, console)
    try:
        if once is not None:
            exit_after(session.turn(once))
        else:
            chat_loop(session, console)
    finally:
        session.close()


@settings_command(app, "say", rich_help_panel=PANEL)
def say(settings: Settings,
        text: Annotated[str, typer.Argument(help='What to say; "-" reads standard input.')]) -> None:
    """Speak text through the chunker and the voice."""
    if text == "-":
        text = sys.stdin.read()
    if not text.strip():
        raise VoicecliError("nothing to say: the text is empty", 'pass some text, e.g. voicecli say "Hello there."')
    if "\x00" in text:
        raise VoicecliError("the text to say contains a NUL character", "pass plain text")
    session = Session(settings, console_for(settings.json), need_llm=False)
    try:
        exit_after(session.say(text))
    finally:
        session.close()


@settings_command(app, "talk", rich_help_panel=PANEL)
def talk(settings: Settings) -> None:
    """Talk to the assistant: it listens, answers by voice, and listens again. [dim]Say "goodbye" or press Ctrl-C to stop.[/]"""
    talk_app.talk(settings, console_for(settings.json))


@settings_command(app, "transcribe", rich_help_panel=PANEL)
def transcribe(
    settings: Settings,
    files: Annotated[list[Path], typer.Argument(help="Audio files (WAV: any common rate, mono or stereo, "
                                                     "16-bit or float).", show_default=False)],
) -> None:
    """Speech to text for audio files (with --json: one object per file: file, text, duration_s, stt_ms)."""
    if transcribe_files(settings, files, Console(stderr=True, highlight=False)):
        raise typer.Exit(1)
