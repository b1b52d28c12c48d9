#!/usr/bin/env python3
"""The end-of-turn score on its own small instance against the chat model's own instance (issue 12).

For each question after one exchange: the conversation is warmed into the chat model's KV cache (as
the engine's prefetch does between turns, and the small instance's ``warm_up``), then the score is
timed, then the reply's first token. On the small instance the reply evaluates the user's words
itself; on the chat's, the score already did, and the reply reuses that prefix. Medians of the second
round (the first warms the page cache), in ms.

    .venv/bin/python scripts/measure_shared_score.py [--model models/llm/SmolLM2-135M-Instruct.Q4_1.gguf]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from voicecli.config.settings import DEFAULT_SYSTEM_PROMPT  # noqa: E402
from voicecli.llm.eot import LlamaEndOfTurn  # noqa: E402
from voicecli.llm.local import LlamaCppLLM  # noqa: E402

QUESTIONS = ["What is the capital of France?", "What color is the sky?", "What is 10 times 3?",
             "Who wrote Romeo and Juliet?", "How many days are in a week?",
             "What is the tallest mountain in the world?", "Tell me a joke about cats.", "Why is the sea salty?"]
HISTORY = [{"role": "system", "content": DEFAULT_SYSTEM_PROMPT}, {"role": "user", "content": "Hello there."},
           {"role": "assistant", "content": "Hi! How can I help you today?"}]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "llm" / "SmolLM2-135M-Instruct.Q4_1.gguf")
    args = ap.parse_args()
    chat = LlamaCppLLM(args.model, max_tokens=40)
    scorers = {"own instance": LlamaEndOfTurn(args.model), "chat's instance": LlamaEndOfTurn(chat=chat)}
    ms: dict[str, dict[str, list[float]]] = {name: {"score": [], "first token": []} for name in scorers}

    def first_token(question: str) -> float:
        t0 = time.perf_counter()
        for _ in chat.stream(HISTORY + [{"role": "user", "content": question}]):
            break
        return (time.perf_counter() - t0) * 1000

    for round_ in range(2):
        for q in QUESTIONS:
            for name, scorer in scorers.items():
                chat.warm_up(HISTORY)
                scorer.warm_up(HISTORY)
                t0 = time.perf_counter()
                scorer.probability(q, HISTORY)
                score = (time.perf_counter() - t0) * 1000
                token = first_token(q)
                if round_:
                    ms[name]["score"].append(score)
                    ms[name]["first token"].append(token)
    for name, parts in ms.items():
        print(f"{name:16s} " + "  ".join(f"{k} {statistics.median(v):.0f} ms" for k, v in parts.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
