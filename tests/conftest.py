"""Shared fixtures: an environment the user's real settings cannot leak into, and the models marker.

* ``pulse``: a private PulseAudio server with a virtual microphone and speaker (``tests/pulse.py``).
* ``isolated_env``: points ``VOICECLI_CONFIG`` and ``VOICECLI_DATA_DIR`` at fresh temporary paths and
  removes every other ``VOICECLI_*`` variable, so a test sees only the settings it makes itself.
  The embedded models still resolve to the checkout's ``models/`` (``VOICECLI_MODELS_DIR`` is cleared).
* Tests marked ``@pytest.mark.models`` are skipped, with the fix in the reason, when the embedded
  models are not there (``make test`` fetches them first, so there they always run).
* No silent skips in CI: when the environment variable ``CI`` is set (``.ci/run`` sets it), every
  skip becomes a failure whose message is the skip's reason, i.e. what is missing (a model, the
  PulseAudio server, a network namespace, espeak-ng, a library). A skip is green, so on CI it would
  hide exactly the tests that prove the assistant works. Decided here, once, rather than in each
  test, so a skip added later cannot slip through; expected failures (xfail) are left alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from voicecli import config as vconfig
from voicecli.config import settings as vsettings


@pytest.fixture(scope="session")
def pulse():
    """One private PulseAudio server (``tests/pulse.py``) for the session's audio tests; a skip naming why
    when it cannot start (a failure in CI)."""
    from pulse import serving

    with serving() as server:
        yield server


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


def missing_models() -> list[str]:
    """The embedded default models that are not there, as "role (path)" (empty after ``make models``)."""
    return [f"{role} ({path})" for role, path in default_model_paths().items()
            if not vconfig.ResolvedModel(role, path, "default").exists]


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[pytest.TestReport]:
    report = yield
    if report.skipped and not hasattr(report, "wasxfail") and in_ci():
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"CI is set, so a skip is a failure: {reason.removeprefix('Skipped: ')}"
    return report


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    missing = missing_models()
    if not missing:
        return
    skip = pytest.mark.skip(reason=f"embedded models missing: {', '.join(missing)}: run `make models`")
    for item in items:
        if "models" in item.keywords:
            item.add_marker(skip)
