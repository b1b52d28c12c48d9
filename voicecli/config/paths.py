"""Where things live: the config file, the user data, the models; and the two variables that are not settings."""

from __future__ import annotations

import os
from pathlib import Path

import platformdirs

APP = "voicecli"
PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent
API_KEY_ENV_VARS = ("VOICECLI_LLM_API_KEY", "OPENAI_API_KEY")


def config_path() -> Path:
    env = os.environ.get("VOICECLI_CONFIG")
    if env:
        return Path(env).expanduser()
    return Path(platformdirs.user_config_dir(APP)) / "config.toml"


def data_dir() -> Path:
    """Where the conversation log, notes and other user data live (created 0700 by their writers)."""
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


def api_key_from_env() -> str | None:
    """The OpenAI-compatible server's API key: never a setting (it would be shown with its source)."""
    return next((os.environ[n] for n in API_KEY_ENV_VARS if os.environ.get(n)), None)


def debug_from_env() -> bool:
    """``VOICECLI_DEBUG``: tracebacks instead of one-line errors."""
    return os.environ.get("VOICECLI_DEBUG", "").strip().lower() in ("1", "true", "yes", "on")
