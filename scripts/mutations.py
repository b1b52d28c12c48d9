#!/usr/bin/env python3
"""Mutations of the decisions the suite must guard (issue 17): each applied alone, the tests that should
catch it run with ``-x``, the file restored. Prints one JSON line per mutation: killed, and by which test.

    .venv/bin/python scripts/mutations.py [INDEX ...]

It edits the working tree in place (restored in ``finally``): run it on a clean checkout.
"""

import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable
# (what the mutation does, the file, the exact text, its replacement, the tests that should catch it)
M = [
 ("the local model produces no text", "voicecli/llm/local.py", "                if text:\n                    if markup is None:", "                if False:\n                    if markup is None:", ["tests/test_cli_conversation.py"]),
 ("the echo guard removed", "voicecli/app/loop.py", "        return (self.echo_guard and bool(text)", "        return False and (self.echo_guard and bool(text)", ["tests/test_talk.py"]),
 ("the microphone left open while the reply plays (barge-in off)", "voicecli/app/loop.py", "            if self.reply is not None and not self.barge_in:", "            if False:", ["tests/test_talk.py"]),
 ("audio first disabled", "voicecli/engine/turn.py", "            if self.audio_first and speech.strip()", "            if False and speech.strip()", ["tests/test_turn_order.py", "tests/test_engine.py"]),
 ("no prefetch between turns", "voicecli/engine/turn.py", "        if self.llm is None or not self.llm.prefetch:\n            return", "        if True:\n            return", ["tests/test_engine.py"]),
 ("a due timer says nothing", "voicecli/app/session.py", "        self.engine.speak(text, kind=\"announcement\")", "        pass", ["tests/test_engine.py", "tests/test_cli_flags.py"]),
 ("the conversation log writes nothing", "voicecli/app/log.py", "        if self.failed:\n            return\n        entry =", "        if True:\n            return\n        entry =", ["tests/test_observers.py", "tests/test_cli_flags.py"]),
 ("goodbye never ends the conversation", "voicecli/app/loop.py", "    words = normalize(text)\n    return bool(words)", "    words = normalize(text)\n    return False and bool(words)", ["tests/test_talk.py"]),
 ("a discarded speculative start still plays", "voicecli/app/loop.py", "            self.held.gate.discard()\n            self.held = None", "            self.held = None", ["tests/test_talk.py", "tests/test_turn_taking.py"]),
 ("barge-in does not hold the reply", "voicecli/app/loop.py", "                self.session.engine.pause_playback()\n                self.barge_at", "                pass\n                self.barge_at", ["tests/test_talk.py"]),
 ("an unfinished phrase ends the turn at once (no max-silence wait)", "voicecli/app/turns.py", "        elif self.phase == \"unfinished\" and silence_ms >= r.max_silence_ms:", "        elif self.phase == \"unfinished\" and silence_ms >= 0:", ["tests/test_turns.py", "tests/test_talk.py"]),
 ("titles are not abbreviations", "voicecli/text/boundaries.py", "    if _capitalised(stem) and key in kinds[\"title\"]:", "    if False and key in kinds[\"title\"]:", ["tests/test_chunking.py"]),
 ("initialisms before a capitalised word cut at once", "voicecli/text/boundaries.py", "        return BOUND, rule\n    if key in kinds[\"number\"]", "        return BOUND, None\n    if key in kinds[\"number\"]", ["tests/test_chunking.py"]),
]


def main() -> int:
    only = sys.argv[1:]
    survived = 0
    for i, (name, f, old, new, tests) in enumerate(M):
        if only and str(i) not in only:
            continue
        path = ROOT / f
        src = path.read_text()
        if src.count(old) != 1:
            print(json.dumps({"mutation": name, "error": f"the text to mutate is not found once in {f}"}))
            survived += 1
            continue
        path.write_text(src.replace(old, new))
        t0 = time.time()
        try:
            r = subprocess.run([PY, "-m", "pytest", "-x", "-q", "--no-header", *tests], cwd=ROOT,
                               capture_output=True, text=True, timeout=900)
        finally:
            path.write_text(src)
        failed = [line.split(" - ")[0].split(" ", 1)[1] for line in r.stdout.splitlines()
                  if line.startswith(("FAILED", "ERROR"))]
        survived += r.returncode == 0
        print(json.dumps({"mutation": name, "killed": r.returncode != 0, "by": failed[:1],
                          "seconds": round(time.time() - t0)}), flush=True)
    return 1 if survived else 0


if __name__ == "__main__":
    sys.exit(main())
