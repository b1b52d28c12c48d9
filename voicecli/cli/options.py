"""Typer options made from the settings declarations: each option is declared once, in ``config.Settings``.

``@settings_command(app, "talk")`` adds to a command every option ``talk`` takes (its flag, help
text, panel and short name come from the declaration) and calls the function with one resolved
``settings: Settings`` instead of a parameter per option. Adding a conversation option is one field
in ``Settings`` and one place that uses it.

Flags are declared without defaults (``None`` = not given), so ``Settings.load`` can tell a flag
from the layers below it; the help shows the real default and the environment variable.
"""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer

from voicecli.app.view import print_warning
from voicecli.config import Option, Settings, env_name, options_for


def _annotation(key: str, opt: Option, kind: str) -> Any:
    if kind.startswith("bool"):
        py: Any = bool
    elif kind.startswith("float"):
        py = float
    elif kind.startswith("int"):
        py = int
    elif kind.startswith("list"):
        py = list[Path]
    elif kind.startswith("Path"):
        py = Path
    else:
        py = str
    names = [opt.flag or "--" + key.replace("_", "-")]
    if kind.startswith("bool") and opt.flag is None and _default(key):
        names = [f"--{key.replace('_', '-')}/--no-{key.replace('_', '-')}"]
    if opt.short:
        names.append(opt.short)
    metavar = "PATH" if kind.startswith(("list", "Path")) else None
    return Annotated[py | None, typer.Option(*names, help=_help(key, opt, kind), rich_help_panel=opt.panel,
                                             show_default=False, metavar=metavar)]


def _default(key: str) -> Any:
    return getattr(Settings(), key)


def _help(key: str, opt: Option, kind: str) -> str:
    text = opt.help
    default = _default(key)
    if opt.choices:
        text += f" One of: {', '.join(opt.choices)}."
    if default not in (None, [], False) and not kind.startswith("bool"):
        text += f" [dim]\\[default: {default}][/dim]"
    if not opt.per_run:
        text += f" [dim]\\[env {env_name(key)}; config {key}][/dim]"
    return text


def settings_command(app: typer.Typer, name: str, **command_kw: Any) -> Callable[[Callable[..., Any]], Any]:
    """Register ``fn`` as command ``name`` with every option the settings declare for it.

    ``fn`` takes ``settings`` (keyword) plus its own parameters (arguments, options of its own).
    """
    declared = options_for(name)

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        hints = typing.get_type_hints(fn, include_extras=True)  # the annotations as objects, not strings
        own = [p.replace(annotation=hints.get(p.name, p.annotation))
               for p in inspect.signature(fn).parameters.values() if p.name != "settings"]
        extra = [inspect.Parameter(key, inspect.Parameter.KEYWORD_ONLY, default=None,
                                   annotation=_annotation(key, opt, kind)) for key, opt, kind in declared]
        keys = {key for key, _, _ in declared}

        @functools.wraps(fn)
        def run(**kwargs: Any) -> Any:
            flags = {k: kwargs.pop(k) for k in list(kwargs) if k in keys}
            return fn(settings=load_settings(flags, name), **kwargs)

        run.__signature__ = inspect.Signature(own + extra)  # type: ignore[attr-defined]
        run.__annotations__ = {p.name: p.annotation for p in own + extra}
        return app.command(name, **command_kw)(run)

    return decorate


def load_settings(flags: dict[str, Any], command: str) -> Settings:
    return Settings.load(flags, command=command, warn=print_warning)
