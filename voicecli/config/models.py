"""The three models (speech to text, the language model, the voice): where each one is, and why."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from voicecli.config.parse import env_name
from voicecli.config.paths import fetch_hint
from voicecli.errors import ModelMissing


@dataclass(frozen=True)
class ModelRole:
    role: str  # "stt", "llm", "tts"
    key: str  # the settings key
    default_rel: str  # relative to models_dir()
    what: str

    @property
    def flag(self) -> str:
        return "--" + self.key.replace("_", "-")


ROLES: dict[str, ModelRole] = {
    "stt": ModelRole("stt", "stt_model", "stt/whisper-tiny.en", "faster-whisper model directory"),
    "llm": ModelRole("llm", "llm_model", "llm/SmolLM2-135M-Instruct.Q4_1.gguf", "GGUF model file"),
    "tts": ModelRole("tts", "voice", "tts/en_US-joe-medium.onnx", "Piper voice (.onnx with its .onnx.json)"),
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
        return {"path": str(self.path), "source": self.source, "exists": self.exists, "size": self.size}

    def require(self) -> Path:
        """The path, or a one-line error naming it and how to fix it."""
        if self.exists:
            return self.path
        role = ROLES[self.role]
        if self.source == "default":
            hint = f"run `{fetch_hint()}` to fetch the embedded defaults"
        else:
            hint = (f"point {role.flag} / {env_name(role.key)} at an existing {role.what}, "
                    "or unset it to use the default")
        missing = self.path if not (self.role == "tts" and self.path.is_file()) else self.config_path
        raise ModelMissing(f"{self.role.upper()} model not found: {missing} (from {self.source})", hint)
