"""STFT front end of the speech models, its inverse, and the SI-SNR metrics.

Frames are causal: frame t holds the samples [(t + 1) * hop - n_fft, (t + 1) * hop) (zeros before
the signal starts), so a streaming model gets frame t as soon as hop new samples have arrived. The
model sees n_fft // 2 bins: the Nyquist bin is dropped here and put back as zero by `istft`.

Window: Hann when frames overlap (hop < n_fft). With hop == n_fft (configs/unet-mcu-s.toml) no
tapered window can be inverted (its zeros at the frame edges are not covered by another frame), so
the frames are rectangular there. The inverse is weighted overlap-add (least squares: sum of
window * frame / sum of window^2), exact for unmodified spectra in both cases.
"""

from __future__ import annotations

import torch

from soi_mcu.errors import SoiError

EPS = 1e-8


def analysis_window(n_fft: int, hop: int, device: torch.device | None = None) -> torch.Tensor:
    if hop > n_fft or hop < 1:
        raise SoiError(f"STFT hop {hop} must be between 1 and n_fft ({n_fft}); larger hops drop samples")
    if hop == n_fft:
        return torch.ones(n_fft, device=device)
    return torch.hann_window(n_fft, periodic=True, device=device)


def frame_count(length: int, n_fft: int, hop: int) -> int:
    """Frames until every sample has been in n_fft // hop frames (the last ones are partly zeros)."""
    return -(-(length + n_fft - hop) // hop)


def stft(x: torch.Tensor, n_fft: int, hop: int) -> torch.Tensor:
    """x: (batch, samples) -> complex (batch, frames, n_fft // 2), frames = `frame_count`."""
    win = analysis_window(n_fft, hop, x.device)
    frames = frame_count(x.shape[-1], n_fft, hop)
    padded = torch.nn.functional.pad(x, (n_fft - hop, (frames - 1) * hop + hop - x.shape[-1]))
    chunks = padded.unfold(-1, n_fft, hop)  # (batch, frames, n_fft)
    return torch.fft.rfft(chunks * win, dim=-1)[..., : n_fft // 2]


def istft(spec: torch.Tensor, n_fft: int, hop: int, length: int) -> torch.Tensor:
    """complex (batch, frames, n_fft // 2) -> (batch, length); the Nyquist bin is taken as zero."""
    win = analysis_window(n_fft, hop, spec.device)
    full = torch.nn.functional.pad(spec, (0, n_fft // 2 + 1 - spec.shape[-1]))
    chunks = torch.fft.irfft(full, n=n_fft, dim=-1) * win  # (batch, frames, n_fft)
    frames = chunks.shape[-2]
    total = (frames - 1) * hop + n_fft
    fold = torch.nn.Fold(output_size=(1, total), kernel_size=(1, n_fft), stride=(1, hop))
    y = fold(chunks.transpose(-1, -2).reshape(-1, n_fft, frames)).reshape(*spec.shape[:-2], total)
    env = fold((win * win).expand(frames, n_fft).T.unsqueeze(0)).reshape(total)
    y = y / torch.where(env > 1e-6, env, torch.ones_like(env)) * (env > 1e-6)
    start = n_fft - hop
    out = y[..., start: start + length]
    return torch.nn.functional.pad(out, (0, length - out.shape[-1]))


def si_snr(estimate: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Scale-invariant SNR in dB over the last axis (both signals made zero-mean first)."""
    est = estimate - estimate.mean(-1, keepdim=True)
    ref = target - target.mean(-1, keepdim=True)
    proj = (est * ref).sum(-1, keepdim=True) / (ref.pow(2).sum(-1, keepdim=True) + EPS) * ref
    noise = est - proj
    return 10 * torch.log10((proj.pow(2).sum(-1) + EPS) / (noise.pow(2).sum(-1) + EPS))


def si_snri(estimate: torch.Tensor, mixture: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """SI-SNR improvement over the unprocessed mixture (0 for estimate == mixture)."""
    return si_snr(estimate, target) - si_snr(mixture, target)
