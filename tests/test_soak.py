"""A 500-turn conversation: memory stays flat after warm-up, and the time to first audio does not drift.

The whole session as ``voicecli chat`` builds it (``app.session.Session``: the engine and its speaker
thread, the chunker, the metrics, the live view, the conversation log written and synced per line),
with a replayed reply at speed 0 (``--llm replay:``) and a tone voice instead of Piper, so 500
turns take seconds. Memory is the process's resident size (it sees native allocations too), read
after 50 turns of warm-up and after the last; it must stay within 5%. A growing history is
expected (two short messages a turn) and is well inside that.

The figures (TTFA at turn 2 and turn 500, memory at both points) are printed with ``-s``. A run with
the real Piper voice is ``python tests/test_soak.py --piper`` (about two minutes).
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

from rich.console import Console

from voicecli.app import session as session_module
from voicecli.app.session import Session
from voicecli.config import Settings
from voicecli.tts import ToneTTS

TURNS, WARM_UP = 500, 50
REPLY = [{"t_ms": 5, "text": "Sure,"}, {"t_ms": 10, "text": " it is ten o'clock."}]


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 1e6


def soak(tmp: Path, turns: int = TURNS) -> dict:
    trace = tmp / "reply.jsonl"
    trace.write_text(json.dumps({"voicecli_trace": 1, "prompt": None, "deltas": REPLY}) + "\n")
    settings = Settings.load({"llm": f"replay:{trace}", "speed": 0.0, "no_audio": True, "no_tools": True,
                              "log": tmp / "conversations.jsonl"}, command="chat")
    view = open(os.devnull, "w")  # a terminal keeps nothing; a StringIO would hold 500 turns of view
    session = Session(settings, Console(file=view, width=100, force_terminal=False))
    ttfa: list[float] = []
    memory: dict[int, float] = {}
    t0 = time.monotonic()
    try:
        for i in range(1, turns + 1):
            result = session.turn(f"What time is it? (question {i})")
            assert result.error is None and result.record.spoken == "Sure, it is ten o'clock.", result.record
            ttfa.append(result.record.ttfa_ms)
            if i in (WARM_UP, turns):
                memory[i] = rss_mb()
    finally:
        session.close()
        view.close()
    log_lines = len((tmp / "conversations.jsonl").read_text().splitlines())
    return {"seconds": time.monotonic() - t0, "ttfa": ttfa, "memory": memory, "log_lines": log_lines,
            "history": len(session.engine.history)}


def report(result: dict) -> str:
    ttfa, mem = result["ttfa"], result["memory"]
    first, last = mem[WARM_UP], mem[TURNS]
    return (f"{TURNS} turns in {result['seconds']:.1f} s; TTFA turn 2 {ttfa[1]:.1f} ms, turn {TURNS} {ttfa[-1]:.1f} ms, "
            f"median {statistics.median(ttfa):.1f} ms (first 50: {statistics.median(ttfa[:50]):.1f}, last 50: "
            f"{statistics.median(ttfa[-50:]):.1f}); RSS after {WARM_UP} turns {first:.1f} MB, after {TURNS} "
            f"{last:.1f} MB ({(last - first) / first * 100:+.2f}%)")


def test_500_turns_keep_memory_flat_and_first_audio_steady(tmp_path, monkeypatch, isolated_env):
    monkeypatch.setattr(session_module, "make_tts", lambda settings: ToneTTS(sample_rate=22050, ms_per_char=40.0))
    result = soak(tmp_path)
    print("\nsoak (tone voice): " + report(result))
    first, last = result["memory"][WARM_UP], result["memory"][TURNS]
    assert last <= first * 1.05, report(result)
    assert result["log_lines"] == 2 * TURNS and result["history"] == 1 + 2 * TURNS  # nothing lost, nothing extra
    # first audio does not drift with the conversation's length (a generous factor: a shared machine)
    assert statistics.median(result["ttfa"][-50:]) < 3 * statistics.median(result["ttfa"][WARM_UP:WARM_UP + 50]) + 20


if __name__ == "__main__":  # the same soak with the real Piper voice: python tests/test_soak.py --piper
    import tempfile

    if "--piper" not in sys.argv:
        session_module.make_tts = lambda settings: ToneTTS(sample_rate=22050, ms_per_char=40.0)
    with tempfile.TemporaryDirectory() as d:
        print(("soak (Piper): " if "--piper" in sys.argv else "soak (tone voice): ") + report(soak(Path(d))))
