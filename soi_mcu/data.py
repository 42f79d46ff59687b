"""Synthetic input frames that run anywhere: log-magnitude-like spectra of moving tones in noise."""

from __future__ import annotations

from pathlib import Path

import numpy as np


def synthetic_frames(frames: int, freq_bins: int, channels: int, seed: int = 0) -> np.ndarray:
    """(frames, freq_bins, channels) float32: a few gliding harmonic tracks over coloured noise."""
    rng = np.random.default_rng(seed)
    t = np.arange(frames)[:, None]
    f = np.arange(freq_bins)[None, :]
    spec = 0.3 * rng.standard_normal((frames, freq_bins)) + 0.5 * np.exp(-f / max(freq_bins / 3, 1))
    for _ in range(3):
        f0 = rng.uniform(0.1, 0.6) * freq_bins
        glide = rng.uniform(-0.05, 0.05) * freq_bins / max(frames, 1)
        on = (np.sin(2 * np.pi * t / rng.uniform(8, 24) + rng.uniform(0, 6)) > -0.3).astype(float)
        spec += 1.5 * on * np.exp(-0.5 * ((f - (f0 + glide * t)) / 0.8) ** 2)
    out = np.repeat(spec[:, :, None], channels, axis=2)
    out += 0.05 * rng.standard_normal(out.shape)
    return out.astype(np.float32)


def load_frames(path: Path, freq_bins: int, channels: int) -> np.ndarray:
    """A user's input frames: a .npy file, or a folder of them, each (time, freq, channels), (time, freq)
    for one channel, or (sequences, time, freq, channels); returned as one (time, freq, channels) float32
    array. Refused in one line when the shape, type or values cannot be the model's input."""
    from soi_mcu.errors import SoiError

    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.npy"))
        if not files:
            raise SoiError(f"calibration folder {path} has no .npy files; give a .npy of frames or a folder of them")
    elif path.is_file():
        files = [path]
    else:
        raise SoiError(f"calibration data {path} does not exist; give a .npy of frames or a folder of them")
    parts = []
    for f in files:
        try:
            a = np.load(f, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise SoiError(f"{f} is not a readable .npy array ({str(exc).splitlines()[0]})") from None
        if not np.issubdtype(a.dtype, np.floating) and not np.issubdtype(a.dtype, np.integer):
            raise SoiError(f"{f}: dtype {a.dtype}; calibration frames are real numbers")
        if a.ndim == 2 and channels == 1:
            a = a[:, :, None]
        elif a.ndim == 4:
            a = a.reshape(-1, *a.shape[2:])
        if a.ndim != 3 or a.shape[1:] != (freq_bins, channels):
            raise SoiError(f"{f}: shape {a.shape}; the model's frames are (time, {freq_bins} freq, {channels} "
                           f"channels){' or (time, freq)' if channels == 1 else ''}")
        if not np.isfinite(a).all():
            raise SoiError(f"{f}: has NaN or inf values")
        parts.append(a.astype(np.float32))
    return np.concatenate(parts)
