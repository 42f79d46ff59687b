"""The scene classifier's front end: causal STFT, mel band powers, fixed log standardization.

    audio --STFT (n_fft 512, hop 320: 50 frames/s, Hann, causal)--> |X|^2
    features = (log1p(FEATURE_GAIN * mel(|X|^2)) - 4.5) / 3    (32 bands, each the mean power of its band)

It runs outside the model (before it), as the speech front end does; `scene_classifier` trains and
evaluates the model on these frames.
"""

from __future__ import annotations

import numpy as np
import torch

from soi_mcu.train.audio import stft
from soi_mcu.train.scene_audio import SAMPLE_RATE, scene_clips

N_FFT = 512
HOP = 320  # 50 frames per second
MEL_BINS = 32
FEATURE_GAIN = 1e4  # mel power of audio at -40..-20 dBFS spans ~1e-6..1e2: log1p(1e4 p) spans ~0..16
FEATURE_MEAN, FEATURE_SCALE = 4.5, 3.0  # fixed standardization (about the training scenes' mean and std)


def mel_filterbank(bins: int = MEL_BINS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE, f_min: float = 50.0) -> np.ndarray:
    """(bins, n_fft // 2) triangular filters on the mel scale, each normalized to sum 1 (mean band power)."""
    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    edges = hz(np.linspace(mel(f_min), mel(sr / 2), bins + 2))
    f = np.arange(n_fft // 2) * sr / n_fft
    fb = np.zeros((bins, n_fft // 2))
    for i in range(bins):
        lo, mid, hi = edges[i: i + 3]
        fb[i] = np.clip(np.minimum((f - lo) / (mid - lo), (hi - f) / (hi - mid)), 0, None)
        if fb[i].sum() == 0:  # narrower than one FFT bin: take the nearest bin
            fb[i, int(np.argmin(np.abs(f - mid)))] = 1
    return (fb / fb.sum(1, keepdims=True)).astype(np.float32)


_FB = torch.from_numpy(mel_filterbank())


def scene_features(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(clips, samples) audio -> the model's input (clips, frames, MEL_BINS, 1)."""
    x = torch.as_tensor(audio, dtype=torch.float32)
    power = stft(x, N_FFT, HOP).abs() ** 2  # (clips, frames, n_fft // 2)
    return ((torch.log1p(FEATURE_GAIN * power @ _FB.T) - FEATURE_MEAN) / FEATURE_SCALE).unsqueeze(-1)


def scene_set(count: int, seconds: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (count, frames, MEL_BINS, 1), labels (count,))."""
    audio, labels = scene_clips(count, seconds, seed)
    return scene_features(audio), torch.from_numpy(labels)
