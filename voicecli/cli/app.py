"""The Typer app, and the one place errors become one line and an exit status.

Every user mistake surfaces as a ``VoicecliError``: one line on stderr saying what is wrong and how to
fix it, a non-zero exit, no traceback unless ``--debug`` (or ``VOICECLI_DEBUG=1``). Ctrl-C exits 130,
SIGTERM 143, each after the turn under way has stopped and been logged.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import Annotated

import typer
from rich.console import Console

from voicecli import __version__
from voicecli.app import signals
from voicecli.app.offline import enforce_offline_env
from voicecli.app.view import print_error
from voicecli.config import debug_from_env
from voicecli.engine.turn import TurnResult
from voicecli.errors import VoicecliError

app = typer.Typer(
    name="voicecli",
    help="A local voice assistant for the terminal: it listens, thinks and speaks on your machine, "
         "and shows where every millisecond went.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
    context_settings={"help_option_names": ["-h", "--help"]},
)

DEBUG = {"on": False}
# Threads that run native code (Piper's onnxruntime, llama.cpp): the process must not end under them.
NATIVE_WORKERS = ("voicecli-speaker", "voicecli-feedback", "voicecli-prefetch")


def console_for(json_mode: bool) -> Console:
    """The human view: stderr when stdout carries JSON."""
    return Console(stderr=json_mode, highlight=False)


def exit_after(result: TurnResult) -> None:
    """A command that did one turn: exit 1 if it failed, 130/143 if it was stopped by a signal."""
    if result.record.interrupted and (signals.terminating.is_set() or result.record.error is None):
        raise typer.Exit(signals.exit_status())
    if result.error is not None:
        raise typer.Exit(result.error.exit_code)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"voicecli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", "-V", callback=_version, is_eager=True,
                                          help="Show the version and exit.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks \\[env VOICECLI_DEBUG=1].")] = False,
) -> None:
    if debug:
        DEBUG["on"] = True


def main() -> None:
    enforce_offline_env()
    signals.install()
    DEBUG["on"] = debug_from_env()
    try:
        code = app(standalone_mode=False)
    except VoicecliError as e:
        if DEBUG["on"]:
            raise
        print_error(e)
        code = e.exit_code
    except typer.TyperException as e:  # a usage error (an unknown option, a bad value): typer's own message
        if hasattr(e, "show"):
            e.show()
        else:  # pragma: no cover
            print(f"Error: {e.format_message()}", file=sys.stderr)
        code = e.exit_code
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C or SIGTERM, after the turn under way was logged
        code = signals.exit_status()
    let_native_work_finish()
    sys.exit(signals.exit_status() if signals.terminating.is_set() else code or 0)


def let_native_work_finish(timeout_s: float = 10.0) -> None:
    """Wait until no thread of ours is inside onnxruntime or llama.cpp before the interpreter shuts down.

    A daemon thread still in a native call when Python finalizes is torn down with a forced unwind
    through C++ frames: "terminate called without an active exception", exit 134. The stages join
    their threads on close, but before Python 3.13 a signal that lands in ``Thread.join()`` can mark
    a thread stopped while it still runs (``is_alive()`` then lies), so this looks at what
    ``threading.enumerate()`` still holds: a thread leaves it only when its ``run()`` has returned.
    A second Ctrl-C while waiting ends the wait.
    """
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline:
            if not any(t.name in NATIVE_WORKERS for t in threading.enumerate()):
                return
            time.sleep(0.01)
    except KeyboardInterrupt:
        pass
