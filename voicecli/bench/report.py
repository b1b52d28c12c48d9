"""The benchmark's output: the table (medians, p90s dimmed, the best of each column in green), the
one-line verdict, the ``--json`` rows."""

from __future__ import annotations

import json
import math
from pathlib import Path

from rich import box
from rich.table import Table

from voicecli.bench.stats import BenchResult, Metric
from voicecli.errors import VoicecliError


def verdict(result: BenchResult) -> str:
    """One line: the default strategy (adaptive) against the sentence baseline, or fastest against slowest."""
    rows = [r for r in result.rows if r.get("ttfa_ms") is not None]
    if not rows:
        return "no strategy produced audio"
    names = [r["strategy"] for r in rows]
    focus = result.row("adaptive") if "adaptive" in names else min(rows, key=lambda r: r["ttfa_ms"])
    others = [r for r in rows if r is not focus]
    if not others:
        return f"{focus['strategy']}: median first audio {focus['ttfa_ms']:.0f} ms, {_n(focus['underruns'])} underruns"
    base = result.row("sentence") if "sentence" in names and focus["strategy"] != "sentence" else max(
        others, key=lambda r: r["ttfa_ms"])
    ratio = base["ttfa_ms"] / focus["ttfa_ms"] if focus["ttfa_ms"] > 0 else math.inf
    speed = f"{ratio:.1f}x sooner" if ratio >= 1 else f"{1 / ratio:.1f}x later"
    line = (f"{focus['strategy']}: first audio {speed} than {base['strategy']} "
            f"({focus['ttfa_ms']:.0f} vs {base['ttfa_ms']:.0f} ms median), "
            f"{_n(focus['underruns'])} underruns (vs {_n(base['underruns'])})")
    if focus.get("boundary_quality") is not None:
        line += f", {focus['boundary_quality'] * 100:.0f}% of chunks end at a natural pause"
    return line


def _n(x: float | None) -> str:
    return "-" if x is None else f"{x:g}"


def _cell(m: Metric, value: float | None) -> str:
    if value is None:
        return "-"
    if m.percent:
        return f"{value * 100:.0f}%"
    if m.key in ("chunks", "tts_calls", "underruns"):
        return f"{value:g}"
    return f"{value:.0f}"


_NARROW_HIDDEN = ("tts_calls", "longest_gap_ms", "raw_ms")


def render_table(result: BenchResult, width: int = 200):
    """A Rich table: median (and p90, dimmed) per strategy; the best median of each column in bold green.

    For a terminal narrower than 150 columns the p90s are left out, and below 120 also the columns
    that repeat another (TTS calls, longest gap, raw parts) and the vertical rules; ``--json`` has all.
    """
    p90 = width >= 150
    narrow = width < 120
    metrics = [m for m in result.metrics if not (narrow and m.key in _NARROW_HIDDEN)]
    mode = "live model" if result.live else f"{len(result.prompts)} recorded traces"
    caption = ("median [dim]p90[/dim]" if p90 else "median (all p90s in --json)")
    caption += (" over traces × runs; times in ms; chars: mean chunk length; synth: total synthesis; gap: silence "
                "after the first audio; tail: last token to end of speech; silence: the longest one, from the request to "
                "the end of the reply (no holding phrases in the bench); natural: chunks ending at a sentence, "
                "clause or line end; best per column in [bold green]green[/bold green] (lowest; highest for natural)")
    if result.live:
        caption += "; raw parts: llama.cpp to the first chunk's text + Piper on it alone; overhead: TTFA minus raw parts"
    table = Table(title=f"Chunking strategies · {mode} · {result.runs} run(s)", title_justify="left",
                  caption=caption, caption_justify="left", header_style="bold",
                  box=box.SIMPLE_HEAD if narrow else box.HEAVY_HEAD, show_edge=not narrow,
                  padding=(0, 0) if narrow else (0, 1))
    table.add_column("strategy", style="cyan", no_wrap=True)
    for m in metrics:
        table.add_column(m.label, justify="right")
    best: dict[str, float] = {}
    for m in metrics:
        vals = [r[m.key] for r in result.rows if r.get(m.key) is not None]
        if m.key == "overhead_pct" or m.key == "overhead_ms":
            vals = [abs(v) for v in vals]
        if vals and m.better:
            best[m.key] = max(vals) if m.better == "higher" else min(vals)
    seeds_started = False
    for r in result.rows:
        cells = []
        for m in metrics:
            v = r.get(m.key)
            text = _cell(m, v)
            tail = r.get(m.key + "_p90")
            if p90 and tail is not None and _cell(m, tail) != text:
                text += f" [dim]{_cell(m, tail)}[/dim]"
            cmp = abs(v) if v is not None and m.key.startswith("overhead") else v
            if cmp is not None and len(result.rows) > 1 and cmp == best.get(m.key):
                text = f"[bold green]{text}[/bold green]"
            cells.append(text)
        is_seed = r["strategy"].startswith("seed-")
        if is_seed and not seeds_started and r is not result.rows[0]:
            table.add_section()
        seeds_started = seeds_started or is_seed
        table.add_row(r["strategy"], *cells, style="dim" if is_seed else None)
    return table


def write_json(result: BenchResult, path: str | Path) -> None:
    Path(path).write_text(json.dumps(result.json_rows(), indent=2) + "\n", encoding="utf-8")


def prepare_output(path: str | Path | None, what: str) -> Path | None:
    """Create the folder of an output file (``out/`` on a fresh clone) and fail early if it cannot be written."""
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        raise VoicecliError(f"{what} {path} is a folder", "give a file name")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a", encoding="utf-8"):
            pass
    except OSError as e:
        raise VoicecliError(f"cannot write {what} {path}: {e.strerror or e}", "choose a writable path") from None
    return path


