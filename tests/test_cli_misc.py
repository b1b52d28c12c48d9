"""The rest of the command line: every command's help, --debug, shell completion, `bench` as a
command (replayed traces, recording, the live model), `fetch` and the setup commands' help."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
import typer.main
from clirun import assert_one_line_error, invoke, mentions, voicecli

from voicecli.bench.traces import DEFAULT_TRACES
from voicecli.cli import app
from voicecli.config import resolve_model

COMMANDS = ["chat", "say", "talk", "transcribe", "bench", "models", "fetch", "devices", "doctor", "tools"]


def test_the_help_lists_every_command():
    assert sorted(typer.main.get_command(app).commands) == sorted(COMMANDS)  # a new command joins COMMANDS
    result = invoke("--help")
    assert result.exit_code == 0
    listed = {m.group(1) for m in re.finditer(r"│ (\w+)\s{2,}", result.stdout)}
    assert set(COMMANDS) <= listed, result.stdout
    assert invoke("-h").stdout == result.stdout


@pytest.mark.parametrize("command", COMMANDS)
def test_each_commands_help_names_every_option_and_its_variable(command):
    from voicecli.config import env_name, options_for

    result = invoke(command, "--help")
    assert result.exit_code == 0, result.output
    text = " ".join(result.stdout.replace("│", " ").split())
    cmd = typer.main.get_command(app).commands[command]
    for param in cmd.params:
        for name in [*getattr(param, "opts", []), *getattr(param, "secondary_opts", [])]:
            if name.startswith("--"):
                assert name in text, (command, name)
    for key, opt, _ in options_for(command):
        if not opt.per_run:
            assert env_name(key) in text, (command, key)  # every setting names its environment variable
    assert invoke(command, "-h").stdout == result.stdout


@pytest.mark.models
def test_debug_shows_the_traceback_a_one_line_error_hides(isolated_env):
    plain = voicecli("say", "   ")
    assert_one_line_error(plain, "nothing to say")
    debug = voicecli("--debug", "say", "   ")
    assert debug.returncode != 0
    assert "Traceback (most recent call last)" in debug.stderr and "VoicecliError: nothing to say" in debug.stderr
    by_env = voicecli("say", "   ", env={"VOICECLI_DEBUG": "1"})
    assert "Traceback (most recent call last)" in by_env.stderr


def test_version():
    from voicecli import __version__

    for flag in ("--version", "-V"):
        proc = voicecli(flag)
        assert proc.returncode == 0 and proc.stdout.strip() == f"voicecli {__version__}"


def test_shell_completion_is_shown_and_installed(tmp_path):
    # Typer names the script after the program as started: "python -m voicecli" here, "voicecli" installed
    env = {"HOME": str(tmp_path), "SHELL": "/bin/bash"}
    shown = voicecli("--show-completion", "bash", env=env)
    assert shown.returncode == 0 and "complete -o default -F" in shown.stdout and "voicecli" in shown.stdout
    installed = voicecli("--install-completion", "bash", env=env)
    assert installed.returncode == 0, installed.stderr
    (script,) = (tmp_path / ".bash_completions").iterdir()
    assert script.read_text().strip() == shown.stdout.strip()
    assert f"source '{script}'" in (tmp_path / ".bashrc").read_text()


# --- bench as a command ------------------------------------------------------------------------------

@pytest.mark.models
def test_bench_replays_traces_and_writes_the_table_json_and_plot(tmp_path, isolated_env):
    two = tmp_path / "two.jsonl"
    two.write_text("\n".join(DEFAULT_TRACES.read_text(encoding="utf-8").splitlines()[:2]) + "\n", encoding="utf-8")
    out_json, out_png = tmp_path / "out" / "bench.json", tmp_path / "out" / "bench.png"
    proc = voicecli("bench", "-s", "sentence,adaptive", "-n", "1", "--traces", str(two), "--speed", "0", "--json",
                    str(out_json), "--plot", str(out_png), "--voice", str(resolve_model("tts").require()))
    assert proc.returncode == 0, proc.stderr
    rows = json.loads(out_json.read_text())
    assert [r["strategy"] for r in rows] == ["sentence", "adaptive"]
    assert all(r["samples"] == 2 and 0 < r["ttfc_ms"] <= r["ttfa_ms"] for r in rows), rows
    assert out_png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "adaptive" in proc.stdout and "sentence" in proc.stdout  # the table
    assert_one_line_error(voicecli("bench", "--strategies", "nonsense", "--runs", "1"), "nonsense")
    assert_one_line_error(voicecli("bench", "--runs", "0"), "--runs 0")


@pytest.mark.models
def test_bench_records_from_the_live_model_then_benches_it_live(tmp_path, isolated_env):
    prompts = tmp_path / "prompts.txt"
    prompts.write_text("Say hello.\n")
    gguf = str(resolve_model("llm").require())
    recorded = tmp_path / "recorded.jsonl"
    proc = voicecli("bench", "--record", str(recorded), "--prompts", str(prompts), "--llm-model", gguf)
    assert proc.returncode == 0, proc.stderr
    (line,) = [json.loads(x) for x in recorded.read_text().splitlines()]
    assert line["prompt"] == "Say hello." and mentions("".join(d.get("text", "") for d in line["deltas"]), "hello")
    out = tmp_path / "live.json"
    live = voicecli("bench", "--live", "--prompts", str(prompts), "--strategies", "word", "--runs", "1",
                    "--llm-model", gguf, "--json", str(out))
    assert live.returncode == 0, live.stderr
    (row,) = json.loads(out.read_text())
    assert row["strategy"] == "word" and row["ttfa_ms"] > 0 and "engine overhead" in live.stdout
    assert_one_line_error(voicecli("bench", "--record", str(recorded), "--live"), "--record cannot be combined")


# --- setup commands ------------------------------------------------------------------------------

@pytest.mark.models
def test_fetch_check_in_a_models_dir_that_has_them_and_one_that_does_not(tmp_path, isolated_env):
    models = resolve_model("llm").require().parent.parent
    ok = voicecli("fetch", "--check", "--models-dir", str(models))
    assert ok.returncode == 0 and "Nothing to do" in ok.stdout, ok.stdout + ok.stderr
    empty = tmp_path / "empty"
    missing = voicecli("fetch", "--check", "--models-dir", str(empty), "--json")
    assert missing.returncode == 1
    report = json.loads(missing.stdout)
    assert report["models_dir"] == str(empty) and not any(empty.rglob("*.gguf"))  # --check downloads nothing


def test_devices_and_doctor_in_json_are_json(isolated_env, tmp_path):
    env = {"PULSE_SERVER": "unix:/nonexistent/pulse", "PULSE_CLIENTCONFIG": os.devnull,
           "VOICECLI_LLM_MODEL": str(Path(tmp_path) / "none.gguf")}
    devices = voicecli("devices", "--json", env=env)
    assert devices.returncode == 0 and isinstance(json.loads(devices.stdout), list)
    doctor = voicecli("doctor", "--json", env=env)
    assert doctor.returncode == 1  # the LLM model named does not exist
    rows = {r["name"]: r for r in json.loads(doctor.stdout)}
    assert rows["LLM model"]["status"] == "fail" and "none.gguf" in rows["LLM model"]["detail"]
