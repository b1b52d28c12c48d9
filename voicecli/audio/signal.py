"""Signal helpers shared by the audio stages: resampling (soxr), mixing down, levels."""

from __future__ import annotations

import numpy as np

SILENCE_DB = -120.0


def resample(samples: np.ndarray, from_rate: int, to_rate: int) -> np.ndarray:
    if from_rate == to_rate or len(samples) == 0:
        return samples.astype(np.float32, copy=False)
    import soxr

    return soxr.resample(samples.astype(np.float32, copy=False), from_rate, to_rate).astype(np.float32, copy=False)


def to_mono(samples: np.ndarray) -> np.ndarray:
    if samples.ndim == 2:
        return samples.mean(axis=1).astype(np.float32)
    return samples.astype(np.float32, copy=False)


def dbfs(samples: np.ndarray) -> float:
    """RMS level in dB relative to full scale (``SILENCE_DB`` for an empty or silent block)."""
    if len(samples) == 0:
        return SILENCE_DB
    rms = float(np.sqrt(np.mean(np.square(samples, dtype=np.float64))))
    return max(SILENCE_DB, 20.0 * np.log10(rms)) if rms > 0 else SILENCE_DB
