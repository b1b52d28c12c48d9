"""SIGTERM handled like Ctrl-C: the turn under way stops, what was spoken is logged, the program ends.

The handler raises ``Terminated`` (a ``KeyboardInterrupt``) in the main thread, so every place that
already stops cleanly on Ctrl-C stops cleanly on SIGTERM; ``terminating`` tells the loops not to wait
for the next turn, and the CLI to exit with 143 instead of 130.
"""

from __future__ import annotations

import signal
import threading

terminating = threading.Event()


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the main thread is."""


def _on_sigterm(signum: int, frame: object) -> None:
    terminating.set()
    raise Terminated()


def install() -> None:
    """Handle SIGTERM (call from the main thread, before any work starts)."""
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _on_sigterm)


def exit_status() -> int:
    """The status for a program stopped by a signal: 143 after SIGTERM, 130 after Ctrl-C."""
    return 143 if terminating.is_set() else 130
