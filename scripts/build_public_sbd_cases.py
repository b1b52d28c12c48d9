#!/usr/bin/env python3
"""Build tests/data/chunking_public.jsonl: public sentence-boundary test cases, with attribution.

The cases come from the test data that three MIT-licensed sentence splitters ship on PyPI, taken
from the distributions themselves (``pip download``), never from anywhere else:

* pySBD 0.3.4 (wheel): ``benchmarks/english_golden_rules.py``, the English "Golden Rules"
  (Copyright (c) 2019 Nipun Sadvilkar, MIT);
* syntok 1.4.2 (sdist): the one-sentence-per-line text ``OSPL`` in ``syntok/segmenter_test.py``
  (Copyright (c) 2018 Florian Leitner, MIT);
* segtok 1.5.11 (sdist): the sentence lists of ``segtok/segmenter_test.py``'s single-line tests
  (Copyright 2020 Florian Leitner, MIT).

A Golden Rule is one case (its text and its expected sentences). syntok's text is one sentence per
line, all joined with spaces in its own test; here each pair of neighbouring lines is a case
("A B" -> [A, B]), so a miss points at one boundary. A segtok test joins its sentence list with
spaces: one case. Cases are kept verbatim; duplicates (same text) are dropped.

Each case gets a ``scope``: ``"in"``, or the reason it tests a convention voicecli does not follow,
by three fixed rules that look only at the case, never at the chunker's output:

* ``not English``: German sentences (ordinal dates "am 13. Jän."); the voice and the rules are English;
* ``split without a terminator``: a sentence other than the last ends with no ``. ! ? …`` (the
  split comes from the test file's line structure, or treats ";" as an end: voicecli reads ";" as a
  clause), unless an item marker starts the next one ("1. First 2. Second" is a list, kept in);
* ``lowercase sentence start``: a sentence other than the first starts lowercase; voicecli keeps a
  terminator before a lowercase word inside the sentence ("etc. and", "wait... what").

    pip download --no-deps -d /tmp/sbd pysbd==0.3.4 syntok==1.4.2 segtok==1.5.11 --no-binary syntok,segtok
    python scripts/build_public_sbd_cases.py /tmp/sbd
"""

from __future__ import annotations

import ast
import json
import re
import sys
import tarfile
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "tests" / "data" / "chunking_public.jsonl"


def _member(folder: Path, pattern: str, inner: str) -> str:
    (path,) = folder.glob(pattern)
    if path.suffix == ".whl":
        with zipfile.ZipFile(path) as z:
            return z.read(inner).decode("utf-8")
    with tarfile.open(path) as t:
        name = next(n for n in t.getnames() if n.endswith(inner))
        member = t.extractfile(name)
        assert member is not None
        return member.read().decode("utf-8")


def _assigned(source: str, name: str):
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
            return ast.literal_eval(node.value)
    raise KeyError(name)


def golden_rules(folder: Path) -> list[dict]:
    source = _member(folder, "pysbd-0.3.4-*.whl", "benchmarks/english_golden_rules.py")
    return [{"id": f"pysbd-golden-{i}", "source": "pysbd 0.3.4 english_golden_rules.py", "text": text, "sentence": expected}
            for i, (text, expected) in enumerate(_assigned(source, "GOLDEN_EN_RULES"), 1)]


def syntok_pairs(folder: Path) -> list[dict]:
    lines = _assigned(_member(folder, "syntok-1.4.2.tar.gz", "syntok/segmenter_test.py"), "OSPL").split("\n")
    return [{"id": f"syntok-ospl-{i}", "source": "syntok 1.4.2 segmenter_test.py OSPL", "text": f"{a} {b}", "sentence": [a, b]}
            for i, (a, b) in enumerate(zip(lines, lines[1:]), 1)]


def segtok_lists(folder: Path) -> list[dict]:
    tree = ast.parse(_member(folder, "segtok-1.5.11.tar.gz", "segtok/segmenter_test.py"))
    cases = []
    for fn in ast.walk(tree):
        if not isinstance(fn, ast.FunctionDef):
            continue
        body = ast.unparse(fn)
        if "split_single(' '.join(sentences))" not in body:
            continue
        for node in ast.walk(fn):
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "sentences" for t in node.targets):
                sentences = ast.literal_eval(node.value)
                cases.append({"id": f"segtok-{fn.name[5:]}", "source": "segtok 1.5.11 segmenter_test.py",
                              "text": " ".join(sentences), "sentence": sentences})
    return cases


_GERMAN = re.compile(r"\b(?:Am|Der|Unfall|Dezember|Jän|regnerisch)\b")
_TERMINATED = re.compile(r"[.!?…]['\"”’)\]]*$")
_ITEM = re.compile(r"^[•⁃]?\s*\(?(?:\d{1,3}|[a-zA-Z])(?:\.\)|[.)])")


def scope(case: dict) -> str:
    sentences = case["sentence"]
    if _GERMAN.search(case["text"]):
        return "out: not English"
    if any(not _TERMINATED.search(a) and not _ITEM.match(b) for a, b in zip(sentences, sentences[1:])):
        return "out: split without a terminator"
    if any(b[:1].islower() and not _ITEM.match(b) for b in sentences[1:]):
        return "out: lowercase sentence start"
    return "in"


def main() -> int:
    folder = Path(sys.argv[1])
    seen: set[str] = set()
    out = []
    for case in golden_rules(folder) + syntok_pairs(folder) + segtok_lists(folder):
        if case["text"] not in seen:
            seen.add(case["text"])
            out.append({**case, "scope": scope(case)})
    OUT.write_text("".join(json.dumps(c, ensure_ascii=False) + "\n" for c in out), encoding="utf-8")
    print(f"{len(out)} cases -> {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
