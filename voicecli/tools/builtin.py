"""The built-in tools: time, calculator, unit conversion, timers and personal notes. All offline.

Safety rules they keep: they never run code or shell commands (the calculator parses arithmetic,
see ``calc.py``), and the only file they write is ``notes.jsonl`` in the context's data directory
(``voicecli.config.data_dir()``, or ``$VOICECLI_DATA_DIR``). A failure the model should hear about
is a :class:`ToolError` with a sentence it can repeat.

Every argument is checked before anything happens: a timer with a NaN duration is refused, not
started and then reported as an error. At most ``MAX_PENDING_TIMERS`` timers wait at once. Notes
are private: the file is created 0600 in a directory created 0700 (see ``voicecli.tools.private``),
and tightened to that when found looser.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from voicecli.tools import calc, units
from voicecli.tools.private import append_private, private_dir, read_private
from voicecli.tools.registry import Constraints, ToolContext, ToolError

log = logging.getLogger(__name__)

NOTES_FILE = "notes.jsonl"
MAX_NOTE_CHARS = 2000
MAX_TIMER_S = 24 * 3600
MAX_PENDING_TIMERS = 20
MAX_LABEL_CHARS = 100
MAX_ZONE_CHARS = 64  # the longest IANA name is about 30


def _now(tz: ZoneInfo | None = None) -> datetime:
    """The current time (a seam for tests)."""
    return datetime.now(tz) if tz is not None else datetime.now().astimezone()


def get_time(timezone: str | None = None) -> str:
    """Get the current date and time, locally or in a given time zone.

    Args:
        timezone: an IANA time zone name such as Europe/Paris or America/New_York; omit it for local time.
    """
    zone = None
    if timezone:
        try:
            if len(timezone) > MAX_ZONE_CHARS:
                raise ValueError("too long")
            zone = ZoneInfo(timezone.strip())
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a directory of zones
            raise ToolError(
                f"unknown time zone '{timezone[:MAX_ZONE_CHARS]}'; use an IANA name such as Europe/Paris or America/New_York"
            ) from None
    now = _now(zone)
    offset = now.strftime("%z")
    where = timezone.strip() if timezone else (now.tzname() or "local time")
    return f"{now:%A %d %B %Y, %H:%M} ({where}, UTC{offset[:3]}:{offset[3:]})"


# Starts with a number, a sign or a bracket (never a stray dot: the 135M model wrote ".17 * 23"), then
# only what the calculator reads. The forced-call grammar honours it; check_arguments enforces it.
EXPRESSION = Constraints(pattern="^ *[+(0-9−-][+*/%^().0-9 ×÷xX·∗−–=?-]*$", max_length=200)


def calculate(expression: Annotated[str, EXPRESSION]) -> str:
    """Calculate an arithmetic expression exactly, e.g. 17 * 23 or (2 + 3) ^ 2 / 4.

    Args:
        expression: numbers with + - * / // % and ** or ^ for powers, and parentheses.
    """
    return calc.format_number(calc.evaluate(expression))


def convert_units(value: float, from_unit: str, to_unit: str) -> str:
    """Convert a value between units of length, mass, volume, speed, time or temperature.

    Args:
        value: the amount to convert.
        from_unit: the unit of the value, e.g. km, lb, °F, cup, mph, hours.
        to_unit: the unit wanted, of the same kind.
    """
    if not math.isfinite(value):
        raise ToolError("the value must be a finite number")
    result, src, dst = units.convert(value, from_unit, to_unit)
    if not math.isfinite(result):
        raise ToolError("the result is too large")
    shown = float(f"{result:.7g}")  # 7 significant digits: plenty to say aloud, no float noise
    return f"{calc.format_number(value)} {src} = {calc.format_number(shown)} {dst}"


def _duration(seconds: float) -> str:
    parts = []
    whole = round(seconds)
    for unit, size in (("hour", 3600), ("minute", 60), ("second", 1)):
        n, whole = divmod(whole, size)
        if n:
            parts.append(f"{n} {unit}{'s' if n != 1 else ''}")
    return " ".join(parts) or f"{seconds:g} seconds"


def set_timer(ctx: ToolContext, seconds: float = 0, minutes: float = 0, label: str = "") -> str:
    """Set a timer that speaks up when it is due.

    Args:
        seconds: the duration in seconds (added to minutes).
        minutes: the duration in minutes (added to seconds).
        label: what the timer is for, e.g. tea.
    """
    total = float(seconds) + 60.0 * float(minutes)
    if not math.isfinite(total) or total <= 0:
        raise ToolError("give the timer a positive duration in seconds or minutes")
    if total > MAX_TIMER_S:
        raise ToolError("timers can last at most 24 hours")
    label = " ".join(label.split())
    if len(label) > MAX_LABEL_CHARS:
        raise ToolError(f"the timer's label is too long (at most {MAX_LABEL_CHARS} characters)")
    what = f"{label} timer" if label else f"{_duration(total)} timer"
    reply = f"Timer set for {_duration(total)}{f' ({label})' if label else ''}; it rings at " \
            f"{_now() + timedelta(seconds=total):%H:%M:%S}."
    with _timers_lock:  # calls in one round run in parallel: count and start as one step
        ctx.timers[:] = [t for t in ctx.timers if t.is_alive()]
        if len(ctx.timers) >= MAX_PENDING_TIMERS:
            raise ToolError(f"{MAX_PENDING_TIMERS} timers are already waiting; that is the most there can be")
        timer = threading.Timer(total, ctx.announce, args=(f"Your {what} is done.",))
        timer.daemon = True  # a pending timer never keeps the program alive
        timer.start()
        ctx.timers.append(timer)
    return reply


_timers_lock = threading.Lock()


# --- notes -------------------------------------------------------------------------------------

_notes_lock = threading.Lock()  # parallel calls in one round append to the same file


def _notes_path(ctx: ToolContext) -> Path:
    return Path(ctx.data_dir) / NOTES_FILE


def _read_notes(ctx: ToolContext) -> list[dict[str, Any]]:
    path = _notes_path(ctx)
    text = read_private(path)
    if text is None:
        return []
    notes = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            note = json.loads(line)
            if isinstance(note, dict) and isinstance(note.get("text"), str):
                notes.append(note)
                continue
        except (ValueError, RecursionError):
            pass
        log.warning("%s line %d is not a note; skipped", path, n)
    return notes


def _format(notes: list[dict[str, Any]]) -> str:
    return "\n".join(f"#{n.get('id', '?')} ({str(n.get('created', ''))[:10]}): {n['text']}" for n in notes)


def add_note(ctx: ToolContext, text: str) -> str:
    """Save a personal note to remember something for later.

    Args:
        text: what to remember, in the user's words.
    """
    text = " ".join(text.split())
    if not text:
        raise ToolError("the note is empty")
    if len(text) > MAX_NOTE_CHARS:
        raise ToolError(f"the note is too long (at most {MAX_NOTE_CHARS} characters)")
    with _notes_lock:
        notes = _read_notes(ctx)
        note_id = max((n.get("id", 0) for n in notes if isinstance(n.get("id"), int)), default=0) + 1
        note = {"id": note_id, "text": text, "created": _now().isoformat(timespec="seconds")}
        path = _notes_path(ctx)
        private_dir(path.parent)
        append_private(path, json.dumps(note, ensure_ascii=False) + "\n")
    return f"Saved note #{note_id}."


def list_notes(ctx: ToolContext, limit: int = 10) -> str:
    """List the most recent personal notes.

    Args:
        limit: how many notes to list, newest last.
    """
    notes = _read_notes(ctx)
    if not notes:
        return "There are no notes yet."
    shown = notes[-max(1, limit) :]
    head = f"{len(notes)} notes" + (f", the last {len(shown)}" if len(shown) < len(notes) else "")
    return f"{head}:\n{_format(shown)}"


def search_notes(ctx: ToolContext, query: str) -> str:
    """Find personal notes that contain all the given words.

    Args:
        query: words to look for, in any order, ignoring case.
    """
    words = query.casefold().split()
    if not words:
        raise ToolError("give some words to search for")
    found = [n for n in _read_notes(ctx) if all(w in n["text"].casefold() for w in words)]
    if not found:
        return f"No notes match '{query}'."
    return f"{len(found)} matching notes:\n{_format(found)}"


BUILTIN_TOOLS = [get_time, calculate, convert_units, set_timer, add_note, list_notes, search_notes]
