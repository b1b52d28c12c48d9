"""Offline by default: the local path makes no network connection at all.

The three engines (faster-whisper/CTranslate2, llama.cpp, Piper/onnxruntime) need no network once
their files are on disk, and voicecli always hands them paths. The libraries around them can still
reach out: faster-whisper downloads a model when given a *name* instead of a directory, and so does
``llama_cpp.Llama.from_pretrained``, both through huggingface_hub, which also has telemetry and
update checks. The switches below turn all of that into an immediate local error.

Call ``enforce_offline_env()`` first thing, before faster_whisper, llama_cpp or huggingface_hub are
imported: huggingface_hub reads these variables once, at import time.

A value the user set is kept (``HF_HUB_OFFLINE=0`` to let a model name download on purpose).
onnxruntime's only telemetry is Windows ETW events, off unless a trace session is listening; llama.cpp
and CTranslate2 have none. The OpenAI-compatible server backend (``--llm-url``) is the one part that
talks to the network, to the URL the user gave.
"""

from __future__ import annotations

import os
from collections.abc import MutableMapping

OFFLINE_ENV: dict[str, str] = {
    "HF_HUB_OFFLINE": "1",  # huggingface_hub: no Hub requests (faster-whisper model names, Llama.from_pretrained)
    "TRANSFORMERS_OFFLINE": "1",  # the older spelling, read by huggingface_hub and transformers
    "HF_DATASETS_OFFLINE": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_UPDATE_CHECK": "1",  # the hf CLI's PyPI update check
    "DISABLE_TELEMETRY": "1",
    "DO_NOT_TRACK": "1",  # https://donottrack.sh, honoured by huggingface_hub and many others
}


def enforce_offline_env(environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Set every offline switch the user has not set (an empty value counts as unset).

    Returns the variables it set, for ``doctor`` and ``--debug`` to show.
    """
    env = os.environ if environ is None else environ
    applied = {name: value for name, value in OFFLINE_ENV.items() if not env.get(name)}
    env.update(applied)
    return applied
