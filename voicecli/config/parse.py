"""How an option is declared, and the one parsing rule per type every layer goes through.

Booleans accept 1/true/yes/on and 0/false/no/off (anything else is an error); numbers must be finite
and in range; text may not contain NUL; a choice must be one of its choices. Errors are one line
naming where the bad value came from (the flag, the variable, the config file) and how to fix it.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicecli.errors import VoicecliError


@dataclass(frozen=True)
class Option:
    """How one setting appears: on the command line, in the environment, in the config file."""

    help: str
    commands: frozenset[str]
    panel: str | None = None
    flag: str | None = None  # default: "--" + key with dashes ("--x/--no-x" for a boolean defaulting to True)
    short: str | None = None
    choices: tuple[str, ...] | None = None
    low: float | None = None  # numbers: inclusive bounds ...
    high: float | None = None
    exclusive: bool = False  # ... or exclusive ones
    unit: str = ""  # said in range errors: "milliseconds", "seconds"
    per_run: bool = False  # a flag only: no env variable, no config key
    example: str = ""  # a good value, for hints


def env_name(key: str) -> str:
    return f"VOICECLI_{key.upper()}"


def flag_name(key: str, opt: Option) -> str:
    return (opt.flag or "--" + key.replace("_", "-")).split("/")[0]


def parse_bool(value: Any) -> bool:
    """The one boolean rule: 1/true/yes/on and 0/false/no/off, any case; anything else is an error."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError("is not a yes/no value (use 1/true/yes/on or 0/false/no/off)")


def _where(key: str, opt: Option, raw: Any, source: str) -> str:
    if source == "flag":
        return f"{flag_name(key, opt)} {raw}"
    if source.startswith("env "):
        return f"{env_name(key)}={raw}"
    return f"{key} = {raw!r} in {source.removeprefix('config ')}"


def parse(key: str, kind: str, opt: Option, raw: Any, source: str) -> Any:
    """``raw`` (a flag's, a variable's or the config file's value) as the option's type, or a one-line error."""
    try:
        return _convert(kind, opt, raw, source)
    except ValueError as e:
        fix = {"flag": f"e.g. {flag_name(key, opt)} {opt.example}".rstrip(),
               "env": f"fix or unset {env_name(key)}"}.get(source.split()[0], f"fix {key} in the config file")
        if opt.choices:
            fix = f"use one of {', '.join(opt.choices)}"
        raise VoicecliError(f"{_where(key, opt, raw, source)}: {e}", fix) from None


def _convert(kind: str, opt: Option, raw: Any, source: str) -> Any:
    if kind.startswith("bool"):
        return parse_bool(raw)
    if kind.startswith(("float", "int")):
        return _number(kind, opt, raw)
    if kind.startswith("list"):
        items = raw
        if isinstance(raw, str):
            items = [p for p in raw.split(os.pathsep if source.startswith("env") else "\n") if p.strip()]
        if not isinstance(items, (list, tuple)) or not all(isinstance(p, (str, Path)) for p in items):
            raise ValueError("must be a list of paths")
        return [Path(str(p)).expanduser() for p in items]
    if not isinstance(raw, (str, Path)):
        raise ValueError("must be text (a quoted string in the config file)")
    text = str(raw)
    if "\x00" in text:
        raise ValueError("contains a NUL character")
    if kind.startswith("Path"):
        return Path(text).expanduser()
    if opt.choices:
        text = text.strip().lower()
        if text not in opt.choices:
            raise ValueError(f"is not one of {', '.join(opt.choices)}")
    return text


def _number(kind: str, opt: Option, raw: Any) -> float | int:
    integer = kind.startswith("int")
    if isinstance(raw, bool):
        raise ValueError("must be a number")
    try:
        value = float(raw) if not isinstance(raw, (int, float)) else raw
    except (TypeError, ValueError):
        raise ValueError("must be a number") from None
    if not math.isfinite(value):
        raise ValueError("must be a finite number")
    if integer:
        if float(value) != int(value):
            raise ValueError("must be a whole number")
        value = int(value)
    lo, hi = opt.low, opt.high
    below = lo is not None and (value <= lo if opt.exclusive else value < lo)
    above = hi is not None and (value >= hi if opt.exclusive else value > hi)
    if below or above:
        unit = f" {opt.unit}" if opt.unit else ""
        between = "strictly between" if opt.exclusive else "between"
        raise ValueError(f"must be {between} {_num(lo)} and {_num(hi)}{unit}")
    return value if integer else float(value)


def _num(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"
