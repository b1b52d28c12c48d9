"""The set-up commands: --version, --help, `models`, `devices`, and the one-line missing-model error."""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voicecli import __version__
from voicecli.audio.devices import Device
from voicecli.cli import app
from voicecli.cli import setup as audio  # where the devices command looks them up

runner = CliRunner()

# The contract's commands that exist today (a command is listed once it works; later issues add more).
COMMANDS = ("chat", "say", "models", "doctor", "devices")


def test_version_matches_the_package_metadata():
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"voicecli {__version__}"
    assert __version__ == importlib.metadata.version("voicecli")


def test_help_lists_every_command():
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    listed = {line.strip(" │").split()[0] for line in result.stdout.splitlines() if line.strip(" │")}
    missing = [c for c in COMMANDS if c not in listed]
    assert not missing, result.stdout


# --- models ------------------------------------------------------------------------------------

@pytest.mark.models
def test_models_json_reports_the_real_defaults(isolated_env):
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert set(data) == {"stt", "llm", "tts"}
    for role, entry in data.items():
        assert entry["exists"] is True, role
        assert Path(entry["path"]).exists() and entry["source"] == "default" and entry["size"] > 0


def test_models_json_follows_env_and_flag(isolated_env, monkeypatch, tmp_path):
    monkeypatch.setenv("VOICECLI_LLM_MODEL", "/nonexistent.gguf")
    data = json.loads(runner.invoke(app, ["models", "--json"]).stdout)
    assert data["llm"] == {"path": "/nonexistent.gguf", "source": "env VOICECLI_LLM_MODEL", "exists": False,
                           "size": None}

    gguf = tmp_path / "mine.gguf"
    gguf.write_bytes(b"GGUF")
    data = json.loads(runner.invoke(app, ["models", "--json", "--llm-model", str(gguf)]).stdout)
    assert data["llm"] == {"path": str(gguf), "source": "flag", "exists": True, "size": 4}


def test_models_table_exits_1_when_one_is_missing(isolated_env, monkeypatch):
    monkeypatch.setenv("VOICECLI_LLM_MODEL", "/nonexistent.gguf")
    result = runner.invoke(app, ["models"], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert "/nonexistent.gguf" in result.stdout
    assert "make models" in result.stderr


# --- devices -----------------------------------------------------------------------------------

def test_devices_without_any_is_not_an_error(monkeypatch):
    monkeypatch.setattr(audio, "list_devices", lambda: [])
    result = runner.invoke(app, ["devices"])
    assert result.exit_code == 0
    assert "No audio devices found" in result.stderr
    assert json.loads(runner.invoke(app, ["devices", "--json"]).stdout) == []


def test_devices_lists_them(monkeypatch):
    devs = [Device(0, "Fake Mic", 1, 0, 16000.0, True, False), Device(3, "Fake Speaker", 0, 2, 48000.0, False, True)]
    monkeypatch.setattr(audio, "list_devices", lambda: devs)
    data = json.loads(runner.invoke(app, ["devices", "--json"]).stdout)
    assert [(d["index"], d["name"], d["is_default_output"]) for d in data] == [
        (0, "Fake Mic", False), (3, "Fake Speaker", True)]
    table = runner.invoke(app, ["devices"], env={"COLUMNS": "200"}).stdout
    assert "Fake Mic" in table and "Fake Speaker" in table and "48000" in table


# --- a missing LLM: one line, the path, the fix, no traceback ---------------------------------

def _voicecli(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voicecli", *args], capture_output=True, text=True, env=env,
                          timeout=180)


@pytest.mark.models  # the voice loads before the LLM is resolved
@pytest.mark.parametrize("how", ["env", "flag"])
def test_chat_with_missing_llm_fails_on_one_line(isolated_env, how):
    args = ["chat", "--once", "hi", "--no-audio"]
    if how == "flag":
        env = isolated_env.environ()
        args += ["--llm-model", "/nonexistent.gguf"]
    else:
        env = isolated_env.environ(VOICECLI_LLM_MODEL="/nonexistent.gguf")

    proc = _voicecli(args, env)

    assert proc.returncode != 0
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    assert "/nonexistent.gguf" in lines[0]
    assert "--llm-model" in lines[0] and "VOICECLI_LLM_MODEL" in lines[0]  # how to fix it


def test_a_usage_mistake_is_typers_message_and_exit_2_not_a_traceback():
    proc = subprocess.run([sys.executable, "-m", "voicecli", "chat", "--no-such-flag"], capture_output=True, text=True)
    assert proc.returncode == 2 and "No such option: --no-such-flag" in proc.stderr
    assert "Traceback" not in proc.stderr
