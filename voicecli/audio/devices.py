"""Audio devices through sounddevice (PortAudio): listing, choosing one by index or name, its rates.

A missing PortAudio library becomes one clear ``AudioError`` instead of an ``OSError`` at import.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from voicecli.errors import AudioError


def sounddevice():
    """Import sounddevice, turning a missing PortAudio into one clear error."""
    try:
        import sounddevice as sd
    except OSError:
        raise AudioError(
            "the PortAudio library is not installed, so no audio device can be used",
            "run `sudo apt-get install libportaudio2` (or `make install`), or use --input/--output files",
        ) from None
    return sd


@dataclass(frozen=True)
class Device:
    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: float
    is_default_input: bool
    is_default_output: bool

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def list_devices() -> list[Device]:
    sd = sounddevice()
    try:
        devices = sd.query_devices()
        default_in, default_out = sd.default.device
    except Exception:  # PortAudio can fail to enumerate with no sound system at all
        return []
    return [
        Device(i, d["name"], d["max_input_channels"], d["max_output_channels"], float(d["default_samplerate"]),
               i == default_in, i == default_out)
        for i, d in enumerate(devices)
    ]


def resolve_device(spec: str | int | None, kind: str) -> int | None:
    """Turn ``--input-device``/``--output-device`` (an index or part of a name) into a device index.

    ``None`` means the system default; raises ``AudioError`` listing what exists when nothing fits.
    """
    devices = list_devices()
    usable = [d for d in devices if (d.inputs if kind == "input" else d.outputs) > 0]
    if not usable:
        flag = "--input FILE.wav" if kind == "input" else "--output FILE.wav or --no-audio"
        raise AudioError(f"no audio {kind} device found", f"connect one, or use {flag}")
    if spec is None or spec == "":
        if any(d.is_default_input if kind == "input" else d.is_default_output for d in usable):
            return None
        return usable[0].index
    names = ", ".join(f"{d.index}: {d.name}" for d in usable)
    text = str(spec)
    if text.isdigit():
        idx = int(text)
        if any(d.index == idx for d in usable):
            return idx
        raise AudioError(f"no {kind} device with index {idx}", f"choose one of {names} (see `voicecli devices`)")
    matches = [d for d in usable if text.lower() in d.name.lower()]
    if len(matches) == 1 or (matches and matches[0].name.lower() == text.lower()):
        return matches[0].index
    if not matches:
        raise AudioError(f"no {kind} device matches {text!r}", f"choose one of {names} (see `voicecli devices`)")
    raise AudioError(f"{len(matches)} {kind} devices match {text!r}", "use the index from `voicecli devices`")


def supported_rate(device: int | None, kind: str, wanted: int) -> int:
    """``wanted`` if the device accepts it, else the device's default rate (resample to/from it)."""
    sd = sounddevice()
    check = sd.check_input_settings if kind == "input" else sd.check_output_settings
    try:
        check(device=device, samplerate=wanted, channels=1, dtype="float32")
        return wanted
    except Exception:
        info = sd.query_devices(device, kind)
        return int(info["default_samplerate"])
