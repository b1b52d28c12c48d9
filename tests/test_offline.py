"""Offline by default, proven: the local path runs in a network namespace with no network at all,
and a Python audit hook records every connection or name look-up it would have tried.

Two layers, because each misses something: ``unshare -n`` stops native code too (CTranslate2,
onnxruntime, llama.cpp) but a library that swallows its network error would still "pass"; the audit
hook sees attempts that fail quietly, but only those made from Python.

``offline_command()`` is the command under test: a full spoken turn, ``voicecli talk --input WAV
--output WAV --json``, so speech recognition, the local LLM and speech synthesis all run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import wave
from pathlib import Path

import pytest

from voicecli.app.offline import OFFLINE_ENV, enforce_offline_env
from voicecli.config import PROJECT_ROOT, resolve_model

# Installed as sitecustomize.py on PYTHONPATH, so it runs at the start of every Python process the
# command starts (a console script included) and logs network attempts to $VOICECLI_NET_AUDIT_LOG.
AUDIT_HOOK = textwrap.dedent('''
    import os, sys

    _LOG = os.environ.get("VOICECLI_NET_AUDIT_LOG")
    _NAME_LOOKUPS = {"socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                     "socket.gethostbyaddr", "socket.getnameinfo"}

    def _net_audit(event, args):
        if event in _NAME_LOOKUPS or (event == "socket.connect" and isinstance(args[1], tuple)):
            with open(_LOG, "a") as f:  # "open" is not one of the events above: no recursion
                f.write(f"{event} {args[1:] if event == 'socket.connect' else args[:2]!r}\\n")

    if _LOG:
        sys.addaudithook(_net_audit)
''')

SPOKEN_QUESTION = PROJECT_ROOT / "tests" / "data" / "speech" / "question.wav"  # "What is the capital of France?"


def offline_command(out_dir: Path) -> list[str]:
    """The command that must work with no network: one full spoken turn, speech in, speech out."""
    return [sys.executable, "-m", "voicecli", "talk", "--input", str(SPOKEN_QUESTION),
            "--output", str(out_dir / "reply.wav"), "--json", "--no-log"]


def unshare_prefix() -> list[str] | None:
    """``unshare -n`` (root), else ``unshare -rn`` (a user namespace), else None: not permitted here."""
    if shutil.which("unshare") is None:
        return None
    for prefix in (["unshare", "-n"], ["unshare", "-rn"]):
        if subprocess.run([*prefix, "true"], capture_output=True).returncode == 0:
            return prefix
    return None


def run_without_network(cmd: list[str], tmp_path: Path, env: dict[str, str] | None = None,
                        timeout_s: float = 180) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """Run ``cmd`` in a fresh network namespace (no interfaces up) with the audit hook installed.

    Returns the finished process and the network attempts Python code made.
    """
    prefix = unshare_prefix()
    if prefix is None:
        pytest.skip("cannot make a network namespace here (unshare -n needs root or user namespaces)")
    hook_dir = tmp_path / "audit"
    hook_dir.mkdir()
    (hook_dir / "sitecustomize.py").write_text(AUDIT_HOOK)
    audit_log = tmp_path / "net-attempts.log"
    audit_log.touch()
    full_env = {**os.environ, **(env or {}), "VOICECLI_NET_AUDIT_LOG": str(audit_log),
                "PYTHONPATH": os.pathsep.join(filter(None, [str(hook_dir), str(PROJECT_ROOT),
                                                            os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([*prefix, "--", *cmd], capture_output=True, text=True, timeout=timeout_s,
                          env=full_env, cwd=tmp_path)
    return done, audit_log.read_text().splitlines()


def test_sets_every_switch_it_finds_unset():
    env: dict[str, str] = {"PATH": "/bin", "DO_NOT_TRACK": ""}
    applied = enforce_offline_env(env)
    assert applied == OFFLINE_ENV
    assert {k: env[k] for k in OFFLINE_ENV} == OFFLINE_ENV and env["PATH"] == "/bin"


def test_keeps_what_the_user_set():
    env = {"HF_HUB_OFFLINE": "0", "DO_NOT_TRACK": "yes"}
    applied = enforce_offline_env(env)
    assert "HF_HUB_OFFLINE" not in applied and "DO_NOT_TRACK" not in applied
    assert env["HF_HUB_OFFLINE"] == "0" and env["DO_NOT_TRACK"] == "yes"
    assert env["HF_HUB_DISABLE_TELEMETRY"] == "1"


HUB_LOOKUP = ("from voicecli.app.offline import enforce_offline_env; {call}\n"
              "from faster_whisper.utils import download_model\n"
              "try:\n    download_model('tiny.en')\nexcept Exception as e:\n    print(type(e).__name__)\n")


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in OFFLINE_ENV}


def test_the_audit_hook_sees_a_library_reaching_for_the_hub(tmp_path):
    """The detector works: without the switches, faster-whisper given a model name tries the Hub."""
    code = HUB_LOOKUP.format(call="pass")
    done, attempts = run_without_network([sys.executable, "-c", code], tmp_path, env=_clean_env(), timeout_s=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert any("huggingface.co" in a for a in attempts), attempts


def test_the_switches_stop_the_hub_look_up_before_any_connection(tmp_path):
    code = HUB_LOOKUP.format(call="enforce_offline_env()")
    done, attempts = run_without_network([sys.executable, "-c", code], tmp_path, env=_clean_env(), timeout_s=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "LocalEntryNotFoundError" in done.stdout  # failed fast, locally
    assert attempts == []


@pytest.mark.models
def test_a_full_spoken_turn_works_with_no_network(tmp_path):
    missing = [role for role in ("stt", "llm", "tts") if not resolve_model(role).exists]
    if missing:
        pytest.skip(f"embedded models missing ({', '.join(missing)}): run `make models`")
    env = {**_clean_env(), "VOICECLI_CONFIG": str(tmp_path / "none.toml")}
    done, attempts = run_without_network(offline_command(tmp_path), tmp_path, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    assert attempts == [], f"network attempts: {attempts}"
    record = json.loads(done.stdout.strip().splitlines()[-1])
    assert record["backend"] == "llama.cpp" and record["error"] is None
    assert "capital" in record["transcript"].lower() and "paris" in record["response"].lower(), record
    with wave.open(str(tmp_path / "reply.wav")) as w:
        assert w.getnframes() / w.getframerate() > 0.3  # the reply was spoken
