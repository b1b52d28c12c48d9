"""Shared fixtures: an environment the user's real settings cannot leak into, and the models marker.

* ``isolated_env``: points ``VOICECLI_CONFIG`` and ``VOICECLI_DATA_DIR`` at fresh temporary paths and
  removes every other ``VOICECLI_*`` variable, so a test sees only the settings it makes itself.
  The embedded models still resolve to the checkout's ``models/`` (``VOICECLI_MODELS_DIR`` is cleared).
* Tests marked ``@pytest.mark.models`` are skipped, with the fix in the reason, when the embedded
  models are not there (``make test`` fetches them first, so there they always run).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from voicecli import config as vconfig
from voicecli.config import settings as vsettings


@dataclass(frozen=True)
class IsolatedEnv:
    config: Path  # VOICECLI_CONFIG: does not exist until a test writes it
    data: Path  # VOICECLI_DATA_DIR

    def write_config(self, text: str) -> Path:
        """Write the TOML config file (and forget any cached read of it)."""
        self.config.write_text(text, encoding="utf-8")
        vsettings._read_config.cache_clear()
        return self.config

    def environ(self, **extra: str) -> dict[str, str]:
        """``os.environ`` as it is now plus ``extra``: for subprocesses."""
        return {**os.environ, **extra}


@pytest.fixture
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[IsolatedEnv]:
    for name in list(os.environ):
        if name.startswith("VOICECLI_"):
            monkeypatch.delenv(name)
    env = IsolatedEnv(config=tmp_path / "config" / "config.toml", data=tmp_path / "data")
    env.config.parent.mkdir()
    monkeypatch.setenv("VOICECLI_CONFIG", str(env.config))
    monkeypatch.setenv("VOICECLI_DATA_DIR", str(env.data))
    vsettings._read_config.cache_clear()
    yield env
    vsettings._read_config.cache_clear()


def default_model_paths() -> dict[str, Path]:
    """Where the embedded default models live in this checkout, by role (ignoring every setting)."""
    root = vconfig.PROJECT_ROOT / "models"
    return {role: root / spec.default_rel for role, spec in vconfig.ROLES.items()}


def models_available() -> bool:
    """True when all three embedded default models are present (``make models`` has run)."""
    return all(vconfig.ResolvedModel(role, path, "default").exists for role, path in default_model_paths().items())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if models_available():
        return
    skip = pytest.mark.skip(reason="embedded models missing: run `make models`")
    for item in items:
        if "models" in item.keywords:
            item.add_marker(skip)
