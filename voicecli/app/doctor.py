"""`voicecli doctor`: check the installation, with a fix for each failure.

Checks: the Python packages, the PortAudio library, each model (loaded once and timed), the audio
devices. Missing audio devices are a warning, not a failure: file-based use still works.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.console import Console
from rich.table import Table

from voicecli.audio import aec as echo
from voicecli.audio.devices import list_devices
from voicecli.config import Settings, fetch_hint
from voicecli.errors import ModelMissing, VoicecliError
from voicecli.llm.local import LlamaCppLLM
from voicecli.llm.openai import list_models
from voicecli.stt import WhisperSTT
from voicecli.tts import PiperTTS

PACKAGES = {  # import name → distribution name
    "typer": "typer", "rich": "rich", "numpy": "numpy", "faster_whisper": "faster-whisper",
    "piper": "piper-tts", "llama_cpp": "llama-cpp-python", "httpx": "httpx", "soxr": "soxr",
    "platformdirs": "platformdirs",
}


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # "ok", "warn", "fail"
    detail: str
    fix: str = ""

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_packages() -> list[Check]:
    out = []
    for mod, dist in PACKAGES.items():
        try:
            importlib.import_module(mod)
            out.append(Check(f"package {dist}", "ok", importlib.metadata.version(dist)))
        except Exception as e:  # ImportError, or a broken native library
            out.append(Check(f"package {dist}", "fail", f"{type(e).__name__}: {str(e)[:80]}",
                             f"pip install {dist}  (or `make install`)"))
    return out


def check_portaudio() -> Check:
    try:
        import sounddevice as sd

        return Check("PortAudio library", "ok", sd.get_portaudio_version()[1])
    except OSError:
        return Check("PortAudio library", "fail", "not found", "sudo apt-get install libportaudio2")


def _timed_load(settings: Settings, role: str, loader: Callable[[Any], Any]) -> Check:
    model = settings.model(role)
    try:
        model.require()  # the same message and fix as every command that needs the model
    except ModelMissing as e:
        return Check(f"{role.upper()} model", "fail", e.message, e.hint or "")
    t0 = time.perf_counter()
    try:
        loader(model.path)
    except Exception as e:
        return Check(f"{role.upper()} model", "fail", f"{model.path}: {str(e).splitlines()[0][:100]}",
                     f"re-run `{fetch_hint()}`, or point the setting at a valid model")
    return Check(f"{role.upper()} model", "ok", f"{model.path.name} loaded in {(time.perf_counter() - t0) * 1000:.0f} ms")


def _load_stt(path):
    return WhisperSTT(path)


def _load_llm(path):
    return LlamaCppLLM(path, n_ctx=256)


def _load_tts(path):
    return PiperTTS(path)


def check_devices() -> list[Check]:
    try:
        devs = list_devices()
    except VoicecliError as e:
        return [Check("audio devices", "warn", e.message, e.hint or "")]
    ins = [d for d in devs if d.inputs]
    outs = [d for d in devs if d.outputs]
    return [
        Check("microphone", "ok" if ins else "warn", f"{len(ins)} input device(s)" if ins else "none found",
              "" if ins else "connect one; meanwhile use `voicecli talk --input FILE.wav`"),
        Check("speaker", "ok" if outs else "warn", f"{len(outs)} output device(s)" if outs else "none found",
              "" if outs else "connect one; meanwhile use --output FILE.wav or --no-audio"),
    ]


def check_server(settings: Settings) -> list[Check]:
    """When an LLM server is configured (``--llm-url`` in the config or env), is it answering?"""
    url = settings.llm_url
    if not url:
        return []
    t0 = time.perf_counter()
    try:
        served = list_models(str(url))
    except VoicecliError as e:
        return [Check("LLM server", "fail", e.message, e.hint or "")]
    ms = (time.perf_counter() - t0) * 1000
    return [Check("LLM server", "ok", f"{url}: {', '.join(served[:3]) or 'answering'} ({ms:.0f} ms)")]


def check_echo_cancellation(settings: Settings) -> Check:
    """Can ``talk`` cancel the speaker's echo (and so let the user cut in on laptop speakers)?"""
    ok, line = echo.available()
    if settings.aec is False:
        return Check("echo cancellation", "ok", f"off (--no-aec): the microphone is muted while the assistant "
                     f"speaks{'' if ok else '; ' + line}")
    if not ok:
        return Check("echo cancellation", "warn", line, f"pip install {echo.LIBRARY}")
    return Check("echo cancellation", "ok", f"{line}: on; barge-in on by default")


def run_checks(settings: Settings) -> list[Check]:
    checks = check_packages()
    checks.append(check_portaudio())
    checks.append(check_echo_cancellation(settings))
    for role, loader in (("stt", _load_stt), ("llm", _load_llm), ("tts", _load_tts)):
        checks.append(_timed_load(settings, role, loader))
    checks += check_server(settings)
    checks += check_devices()
    return checks


def print_report(checks: list[Check], console: Console) -> None:
    table = Table(title="voicecli doctor", title_justify="left")
    table.add_column("check")
    table.add_column("status")
    table.add_column("detail")
    table.add_column("fix", style="cyan")
    style = {"ok": "[green]ok[/]", "warn": "[yellow]warn[/]", "fail": "[red]FAIL[/]"}
    for c in checks:
        table.add_row(c.name, style[c.status], c.detail, c.fix)
    console.print(table)
    fails = sum(c.status == "fail" for c in checks)
    warns = sum(c.status == "warn" for c in checks)
    console.print(f"{fails} failure(s), {warns} warning(s)." if fails or warns else "All checks passed.")
