"""``voicecli bench``: its own options (what to compare, how often, where to write), plus the shared
model and replay-speed settings."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from voicecli.bench.main import bench_main
from voicecli.cli.app import app
from voicecli.cli.options import settings_command
from voicecli.config import Settings


@settings_command(app, "bench", rich_help_panel="Benchmarks")
def bench(
    settings: Settings,
    strategies: Annotated[str | None, typer.Option(
        "--strategies", "-s", help="Comma-separated strategies (default: all four plus the seed-sentence/"
        "seed-phrase references).", show_default=False)] = None,
    runs: Annotated[int, typer.Option("--runs", "-n", help="Measured runs (after a short warm-up on the longest trace).")] = 3,
    traces: Annotated[Path | None, typer.Option("--traces", help="Trace file to replay (default: the bundled recordings).",
                                                show_default=False)] = None,
    json_file: Annotated[Path | None, typer.Option("--json", help="Write one row per strategy to this JSON file.",
                                                   show_default=False)] = None,
    plot: Annotated[Path | None, typer.Option("--plot", help="Write a timeline per strategy to this PNG.",
                                              show_default=False)] = None,
    live: Annotated[bool, typer.Option("--live", help="Run the prompts against the live model (end-to-end numbers).")] = False,
    record: Annotated[Path | None, typer.Option("--record", help="Record fresh traces from the live model into this file.",
                                                show_default=False)] = None,
    prompts: Annotated[Path | None, typer.Option("--prompts", help="Prompt file, one per line (for --live/--record).",
                                                 show_default=False)] = None,
) -> None:
    """Compare chunking strategies on identical token streams: who gets audio out first, without gaps."""
    names = [x.strip() for x in strategies.split(",") if x.strip()] if strategies else None
    bench_main(settings, names, runs, traces, json_file, plot, live, record, prompts)
