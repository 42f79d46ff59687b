"""Synthetic input frames that run anywhere: log-magnitude-like spectra of moving tones in noise."""

from __future__ import annotations

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
