"""Settings and model resolution, in one place.

Precedence for every setting: command-line flag > ``VOICECLI_*`` environment variable > config file
(TOML, ``config.toml`` in the platform's user config directory, or ``$VOICECLI_CONFIG``) > built-in
default. The embedded default models live in ``$VOICECLI_MODELS_DIR``, else in ``models/`` at the
project root of a source checkout, else in ``models/`` under the user data directory; ``voicecli fetch``
puts them there (``make models`` in a checkout): ``fetch_hint()`` names the right one for hints.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import platformdirs

from voicecli.errors import ModelMissing, VoicecliError

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

APP = "voicecli"
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def config_path() -> Path:
    env = os.environ.get("VOICECLI_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def data_dir() -> Path:
    """Where the conversation log, notes and other user data live."""
    env = os.environ.get("VOICECLI_DATA_DIR")
    return Path(env).expanduser() if env else Path(platformdirs.user_data_dir(APP))


def source_checkout() -> Path | None:
    """The project root when voicecli runs from a source checkout (an editable install), else None.

    An installed wheel lives in site-packages, whose parent holds no ``pyproject.toml``.
    """
    return PROJECT_ROOT if (PROJECT_ROOT / "pyproject.toml").is_file() else None


def models_dir() -> Path:
    """``$VOICECLI_MODELS_DIR``, else the checkout's ``models/``, else ``models/`` in the user data dir.

    The data dir is ``data_dir()``, so ``VOICECLI_DATA_DIR`` moves the models of an installed copy too.
    """
    env = os.environ.get("VOICECLI_MODELS_DIR")
    if env:
        return Path(env).expanduser()
    root = source_checkout()
    return root / "models" if root else data_dir() / "models"


def fetch_hint() -> str:
    """The command that fetches the embedded default models in this installation, for every hint.

    ``make models`` in a source checkout (it installs first, then runs ``voicecli fetch``), else
    ``voicecli fetch``; both honour ``VOICECLI_MODELS_DIR``.
    """
    root = source_checkout()
    return "make models" if root and (root / "Makefile").is_file() else "voicecli fetch"


@lru_cache(maxsize=8)
def _read_config(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as e:
        raise VoicecliError(
            f"cannot read the config file {path}: {e}",
            "fix the TOML syntax or point VOICECLI_CONFIG at another file",
        ) from None


def load_config() -> dict[str, Any]:
    return _read_config(config_path())


@dataclass(frozen=True)
class Setting:
    """A resolved value and where it came from (for `voicecli models` and `doctor`)."""

    value: Any
    source: str  # "flag", "env VOICECLI_X", "config <path>", "default"


def resolve(key: str, flag: Any = None, default: Any = None) -> Setting:
    """Resolve one setting by the precedence flag > env > config file > default.

    ``key`` is the config-file key (``llm_model``); the env var is ``VOICECLI_`` + key upper-cased.
    """
    if flag is not None:
        return Setting(flag, "flag")
    env_name = f"VOICECLI_{key.upper()}"
    env = os.environ.get(env_name)
    if env not in (None, ""):
        return Setting(env, f"env {env_name}")
    cfg = load_config()
    if key in cfg:
        return Setting(cfg[key], f"config {config_path()}")
    return Setting(default, "default")


# --- models ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class ModelRole:
    role: str  # "stt", "llm", "tts"
    key: str  # config key / env suffix
    flag: str
    default_rel: str  # relative to models_dir()
    what: str


ROLES: dict[str, ModelRole] = {
    "stt": ModelRole("stt", "stt_model", "--stt-model", "stt/whisper-tiny.en", "faster-whisper model directory"),
    "llm": ModelRole("llm", "llm_model", "--llm-model", "llm/SmolLM2-135M-Instruct.Q4_1.gguf", "GGUF model file"),
    "tts": ModelRole("tts", "voice", "--voice", "tts/en_US-joe-medium.onnx", "Piper voice (.onnx with its .onnx.json)"),
}


@dataclass(frozen=True)
class ResolvedModel:
    role: str
    path: Path
    source: str

    @property
    def exists(self) -> bool:
        if self.role == "stt":
            return (self.path / "model.bin").is_file()
        if self.role == "tts":
            return self.path.is_file() and self.config_path.is_file()
        return self.path.is_file()

    @property
    def config_path(self) -> Path:
        return Path(str(self.path) + ".json")

    @property
    def size(self) -> int | None:
        if not self.path.exists():
            return None
        if self.path.is_dir():
            return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return self.path.stat().st_size

    def as_dict(self) -> dict[str, Any]:
        return {
            "path": str(self.path),
            "source": self.source,
            "exists": self.exists,
            "size": self.size,
        }

    def require(self) -> Path:
        """The path, or a one-line error naming it and how to fix it."""
        if self.exists:
            return self.path
        role = ROLES[self.role]
        if self.source == "default":
            hint = f"run `{fetch_hint()}` to fetch the embedded defaults"
        else:
            hint = f"point {role.flag} / VOICECLI_{role.key.upper()} at an existing {role.what}, or unset it to use the default"
        missing = self.path if not (self.role == "tts" and self.path.is_file()) else self.config_path
        raise ModelMissing(f"{self.role.upper()} model not found: {missing} (from {self.source})", hint)


def resolve_model(role: str, flag: str | os.PathLike | None = None) -> ResolvedModel:
    spec = ROLES[role]
    s = resolve(spec.key, str(flag) if flag is not None else None)
    if s.value is None:
        return ResolvedModel(role, models_dir() / spec.default_rel, "default")
    return ResolvedModel(role, Path(str(s.value)).expanduser(), s.source)
