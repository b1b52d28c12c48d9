"""``voicecli bench --plot``: one reply's timeline per chunking strategy, in one PNG.

One horizontal lane per strategy, time in milliseconds since the LLM request on the x axis:

* a grey line at the bottom of the lane: the LLM generating (first to last token), crossed by a
  black tick where each chunk was ready for the TTS;
* orange bars (lower row): each chunk's synthesis;
* blue bars (upper row, alternating shades so neighbours stay apart): each chunk playing on the
  playback clock; a bold black mark and label at the first audio (TTFA);
* red hatched spans in the playback row: silence after the first audio while more was coming
  (underruns), labelled with their length where there is room; the lane's label sums them.

Speech lasts far longer than generation (a 1.5 s reply speaks for 10 s or more), and every gap
opens while chunks are still being made, so the view ends shortly after the last synthesis; the end
of speech is written at the right edge.

matplotlib is imported here only (the ``plot`` extra; ``main`` imports this module when asked to plot); the figure is drawn without pyplot, so no
display or global state is involved.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voicecli.engine.metrics import TurnRecord as Timeline

_PLAY = ("#3b75af", "#86b4dc")
_SYNTH = "#f0a030"
_GAP = "#d62728"
_LLM = "#9a9a9a"


def _gaps(timeline: Timeline) -> list[tuple[float, float]]:
    """Silences between consecutive chunks' playback, after the first audio."""
    played = [c for c in timeline.chunks if c.play_start_ms is not None and c.play_end_ms is not None]
    out = []
    for prev, cur in zip(played, played[1:]):
        if cur.play_start_ms > prev.play_end_ms + 0.5:  # type: ignore[operator]
            out.append((prev.play_end_ms, cur.play_start_ms))
    return out  # type: ignore[return-value]


def plot_timelines(timelines: Mapping[str, Timeline], path: str | Path, *, prompt: str | None = None) -> Path:
    """Draw one lane per strategy (in the mapping's order) and save a PNG to ``path``."""
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    names = list(timelines)
    busy = [x for t in timelines.values() for c in t.chunks for x in (c.ready_ms, c.synth_end_ms)
            if x is not None] + [t.llm_ms for t in timelines.values() if t.llm_ms is not None]
    # Gaps can only open while chunks are still being made, so the view ends a little after the last
    # synthesis; what is left is plain playback, summarised at the right edge.
    end = max(busy + [1.0]) * 1.18
    fig = Figure(figsize=(12, 1.1 * max(len(names), 1) + 1.6), dpi=110)
    ax = fig.add_subplot(1, 1, 1)
    for lane, name in enumerate(names):
        t = timelines[name]
        y = len(names) - 1 - lane  # first strategy on top
        if t.ttft_ms is not None and t.llm_ms is not None:
            ax.plot([t.ttft_ms, t.llm_ms], [y - 0.36, y - 0.36], color=_LLM, lw=3, solid_capstyle="butt")
        for c in t.chunks:
            ax.plot([c.ready_ms, c.ready_ms], [y - 0.44, y - 0.28], color="black", lw=1.0)
            if c.synth_start_ms is not None and c.synth_end_ms is not None:
                ax.broken_barh([(c.synth_start_ms, max(c.synth_end_ms - c.synth_start_ms, 0.5))], (y - 0.24, 0.18),
                               facecolors=_SYNTH, edgecolor="white", linewidth=0.3)
            if c.play_start_ms is not None and c.play_end_ms is not None:
                ax.broken_barh([(c.play_start_ms, c.play_end_ms - c.play_start_ms)], (y - 0.02, 0.32),
                               facecolors=_PLAY[c.index % 2], edgecolor="white", linewidth=0.5)
        for a, b in _gaps(t):
            ax.broken_barh([(a, b - a)], (y - 0.02, 0.32), facecolors="white", edgecolor=_GAP, hatch="////", linewidth=1.0)
            if b - a >= 0.05 * end:  # room for a label inside; the lane's summary counts them all
                ax.text((a + b) / 2, y + 0.14, f"{b - a:.0f} ms", ha="center", va="center", fontsize=7, color=_GAP,
                        fontweight="bold", bbox=dict(facecolor="white", edgecolor="none", pad=0.5))
        first = t.first_spoken
        if first is not None and first.play_start_ms is not None:
            ax.plot([first.play_start_ms] * 2, [y - 0.06, y + 0.32], color="black", lw=2.2)
            ax.text(first.play_start_ms, y + 0.32, f" TTFA {first.play_start_ms:.0f} ms", fontsize=8, va="bottom")
        speech_end = max((c.play_end_ms for c in t.chunks if c.play_end_ms is not None), default=None)
        if speech_end is not None and speech_end > end:
            ax.text(end, y + 0.14, f"speech ends at {speech_end / 1000:.1f} s →", fontsize=8, ha="right",
                    va="center", color="white", fontweight="bold")
    labels = []
    for name in names:
        gaps = _gaps(timelines[name])
        summary = f"{len(gaps)} gap{'s' if len(gaps) != 1 else ''}, {sum(b - a for a, b in gaps):.0f} ms" if gaps else "no gaps"
        labels.append(f"{name}\n{summary}")
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(list(reversed(labels)), fontsize=10)
    ax.set_ylim(-0.6, len(names) - 0.35)
    ax.set_xlim(0, end * 1.02)
    ax.set_xlabel("ms since the LLM request (the view ends after the last synthesis; playback goes on)")
    ax.grid(axis="x", color="#e6e6e6", lw=0.6)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    title = "One reply through each chunking strategy"
    if prompt:
        short = prompt if len(prompt) <= 80 else prompt[:77] + "..."
        title += f': "{short}"'
    ax.set_title(title, loc="left", fontsize=11)
    handles = [
        Line2D([], [], color=_LLM, lw=2, label="LLM generating"),
        Line2D([], [], color="black", lw=0.9, label="chunk ready"),
        Patch(facecolor=_SYNTH, label="synthesis"),
        Patch(facecolor=_PLAY[0], label="playback (alternating chunks)"),
        Patch(facecolor="none", edgecolor=_GAP, hatch="////", label="gap (underrun), ms"),
    ]
    height = fig.get_figheight()
    fig.legend(handles=handles, loc="lower center", ncol=5, frameon=False, fontsize=9)
    fig.tight_layout(rect=(0, 0.4 / height, 1, 1))
    path = Path(path)
    fig.savefig(path, format="png")
    return path
