"""`voicecli doctor`: failures are reported with a fix and fail the exit code; absent audio only warns."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voicecli.app import doctor
from voicecli.audio.devices import Device
from voicecli.cli import app
from voicecli.config import Settings
from voicecli.errors import AudioError

runner = CliRunner()


@pytest.fixture
def no_devices(monkeypatch):
    monkeypatch.setattr(doctor, "list_devices", lambda: [])


@pytest.fixture
def fake_stt_and_tts(isolated_env, monkeypatch, tmp_path: Path) -> None:
    """STT and TTS settings point at files that exist, and loading them is a no-op: only the LLM is at stake."""
    stt = tmp_path / "whisper"
    stt.mkdir()
    (stt / "model.bin").write_bytes(b"x")
    voice = tmp_path / "v.onnx"
    voice.write_bytes(b"x")
    (tmp_path / "v.onnx.json").write_text("{}")
    monkeypatch.setenv("VOICECLI_STT_MODEL", str(stt))
    monkeypatch.setenv("VOICECLI_VOICE", str(voice))
    monkeypatch.setattr(doctor, "_load_stt", lambda path: None)
    monkeypatch.setattr(doctor, "_load_tts", lambda path: None)


def _by_name(checks):
    return {c.name: c for c in checks}


def test_missing_llm_is_a_failure_with_a_fix(fake_stt_and_tts, no_devices, monkeypatch, tmp_path):
    missing = tmp_path / "gone.gguf"
    monkeypatch.setenv("VOICECLI_LLM_MODEL", str(missing))

    checks = _by_name(doctor.run_checks(Settings.load()))

    llm = checks["LLM model"]
    assert llm.status == "fail"
    assert str(missing) in llm.detail
    assert "VOICECLI_LLM_MODEL" in llm.fix  # the fix names the setting to change
    assert {c.name for c in checks.values() if c.status == "fail"} == {"LLM model"}


def test_doctor_command_exits_1_on_a_failure(fake_stt_and_tts, no_devices, monkeypatch, tmp_path):
    missing = tmp_path / "gone.gguf"
    monkeypatch.setenv("VOICECLI_LLM_MODEL", str(missing))

    result = runner.invoke(app, ["doctor", "--json"])

    assert result.exit_code == 1, result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)}
    assert rows["LLM model"]["status"] == "fail" and str(missing) in rows["LLM model"]["detail"]

    table = runner.invoke(app, ["doctor"], env={"COLUMNS": "200"})
    assert table.exit_code == 1
    assert "FAIL" in table.stdout and "1 failure(s)" in table.stdout


def test_model_that_fails_to_load_is_a_failure(fake_stt_and_tts, no_devices, monkeypatch):
    def broken(path):
        raise RuntimeError("bad magic\nmore detail")

    monkeypatch.setattr(doctor, "_load_tts", broken)
    tts = _by_name(doctor.run_checks(Settings.load()))["TTS model"]
    assert tts.status == "fail" and "bad magic" in tts.detail and "\n" not in tts.detail
    assert tts.fix


def test_voice_without_its_json_names_the_json(fake_stt_and_tts, no_devices, monkeypatch, tmp_path):
    (tmp_path / "v.onnx.json").unlink()
    tts = _by_name(doctor.run_checks(Settings.load()))["TTS model"]
    assert tts.status == "fail" and "v.onnx.json" in tts.detail


def test_missing_package_is_a_failure_with_pip_fix(monkeypatch):
    monkeypatch.setitem(doctor.PACKAGES, "voicecli_no_such_module", "no-such-dist")
    row = _by_name(doctor.check_packages())["package no-such-dist"]
    assert row.status == "fail" and "pip install no-such-dist" in row.fix


def test_no_audio_devices_only_warns(no_devices):
    rows = doctor.check_devices()
    assert rows and all(r.status == "warn" and r.fix for r in rows)


def test_enumeration_error_only_warns(monkeypatch):
    def failing():
        raise AudioError("PortAudio is not working", "install libportaudio2")

    monkeypatch.setattr(doctor, "list_devices", failing)
    rows = doctor.check_devices()
    assert [(r.status, r.fix) for r in rows] == [("warn", "install libportaudio2")]


def test_devices_found_are_ok(monkeypatch):
    devs = [Device(0, "mic", 1, 0, 16000.0, True, False), Device(1, "spk", 0, 2, 48000.0, False, True)]
    monkeypatch.setattr(doctor, "list_devices", lambda: devs)
    assert [(r.name, r.status) for r in doctor.check_devices()] == [("microphone", "ok"), ("speaker", "ok")]


@pytest.mark.models
def test_real_models_load_and_no_devices_is_only_a_warning(isolated_env, no_devices):
    checks = _by_name(doctor.run_checks(Settings.load()))
    for role in ("STT", "LLM", "TTS"):
        assert checks[f"{role} model"].status == "ok", checks[f"{role} model"]
        assert "loaded in" in checks[f"{role} model"].detail
    assert checks["microphone"].status == checks["speaker"].status == "warn"

    result = runner.invoke(app, ["doctor"])
    assert result.exit_code == 0, result.output


def test_configured_server_down_is_a_failure(isolated_env, monkeypatch):
    from tests.fake_openai_server import refused_url

    monkeypatch.setenv("VOICECLI_LLM_URL", refused_url())
    (check,) = doctor.check_server(Settings.load())
    assert check.status == "fail" and "connection refused" in check.detail
    assert "--llm-url" in check.fix or "VOICECLI_LLM_URL" in check.fix


def test_no_server_configured_means_no_server_check(isolated_env):
    assert doctor.check_server(Settings.load()) == []
