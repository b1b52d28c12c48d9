"""What ``voicecli bench`` does, with plain arguments: record traces, or compare strategies on them.

* ``record``: record fresh traces from the live model over ``prompts`` (default: the bundled set)
  into that file, and stop.
* ``live``: benchmark the live model over ``prompts``, with the engine overhead.
* otherwise: replay ``traces`` (default: the bundled recordings) at ``speed``.

The table and verdict go to ``console`` (stdout by default), the progress bar to stderr. Mistakes are
``VoicecliError``s: no Typer here.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from voicecli.bench.plot import plot_timelines
from voicecli.bench.report import prepare_output, render_table, verdict, write_json
from voicecli.bench.runner import DEFAULT_STRATEGIES, LiveSource, ReplaySource, check_strategies, run_bench
from voicecli.bench.stats import BenchResult
from voicecli.bench.traces import (
    DEFAULT_TRACES,
    RECORD_MAX_TOKENS,
    load_llm,
    load_prompts,
    load_voice,
    record_traces,
)
from voicecli.config import Settings
from voicecli.errors import VoicecliError
from voicecli.llm.replay import load_traces


def bench_main(settings: Settings, strategies: Sequence[str] | None = None, runs: int = 3,
               traces: str | Path | None = None, json_path: str | Path | None = None,
               plot_path: str | Path | None = None, live: bool = False, record: str | Path | None = None,
               prompts: str | Path | None = None, *, warmup: int = 1,
               chunk_options: dict[str, dict[str, Any]] | None = None, console: Console | None = None
               ) -> BenchResult | None:
    """Run the benchmark the arguments ask for; returns the result (``None`` after ``record``)."""
    console = console or Console()
    strategies = check_strategies(list(strategies) if strategies else list(DEFAULT_STRATEGIES))
    if runs < 1:
        raise VoicecliError(f"--runs {runs}: needs at least one run", "use --runs 1 or more")
    if record is not None and (live or traces is not None):
        raise VoicecliError("--record cannot be combined with --live or --traces", "record first, then bench the file with --traces")
    if live and traces is not None:
        raise VoicecliError("--live and --traces exclude each other", "drop one of them")
    if prompts is not None and not (live or record is not None):
        raise VoicecliError("--prompts is for --live and --record", "replay recorded traces with --traces FILE.jsonl")
    if plot_path is not None:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            raise VoicecliError("--plot needs matplotlib", "pip install 'voicecli[plot]'") from None
    json_out = prepare_output(json_path, "--json file")
    plot_out = prepare_output(plot_path, "--plot file")
    prompt_list = load_prompts(prompts) if (live or record is not None) else []
    trace_list = load_traces(traces if traces is not None else DEFAULT_TRACES) if not (live or record is not None) else []

    progress_ui = Progress(TextColumn("[progress.description]{task.description}"), BarColumn(), MofNCompleteColumn(),
                           TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    with progress_ui:
        task = progress_ui.add_task("loading models", total=None)

        def progress(done: int, total: int, what: str) -> None:
            progress_ui.update(task, completed=done, total=total, description=what)

        if record is not None:
            path = prepare_output(record, "--record file")
            assert path is not None
            llm = load_llm(settings.model("llm").require(), max_tokens=RECORD_MAX_TOKENS)
            recorded = record_traces(prompt_list, path, llm, progress=progress)
            console.print(f"recorded {len(recorded)} responses to {path}; compare strategies on them with "
                          f"`voicecli bench --traces {path}`")
            return None
        tts = load_voice(settings.model("tts").require())
        if live:
            llm = load_llm(settings.model("llm").require(), max_tokens=RECORD_MAX_TOKENS)
            source: LiveSource | ReplaySource = LiveSource(prompt_list, llm, tts)
        else:
            source = ReplaySource(trace_list, settings.speed)
        result = run_bench(source, strategies, runs, warmup, tts=tts, progress=progress, chunk_options=chunk_options)

    report(result, console, json_out, plot_out)
    return result


def report(result: BenchResult, console: Console, json_out: Path | None, plot_out: Path | None) -> None:
    console.print(render_table(result, console.width))
    console.print(f"[bold]{verdict(result)}[/bold]")
    if result.live:
        ov = result.overhead()
        if ov is None:
            console.print("engine overhead: no turn matched its raw stream, so none could be measured")
        else:
            console.print(f"engine overhead: median {ov['overhead_ms']:+.0f} ms ({ov['overhead_pct']:+.1f}%) over the "
                          f"raw parts ({ov['raw_ms']:.0f} ms: llama.cpp to the first chunk's text + Piper on that "
                          f"chunk), {ov['samples']} turns" + (f", {result.unmatched} unmatched" if result.unmatched else ""))
    if json_out is not None:
        write_json(result, json_out)
        console.print(f"wrote {json_out}")
    if plot_out is not None:
        ti = result.representative_trace()
        plot_timelines(result.timelines(ti), plot_out, prompt=result.prompts[ti] if result.prompts else None)
        console.print(f"wrote {plot_out}")
