"""SI-SNRi of a trained float model on a held-out, seeded set of mixtures, with reference points.

Reference points on the same mixtures: the identity mask (the noisy input itself: SI-SNRi 0 by
definition) and an oracle magnitude mask min(|S| / |X|, 1) with the noisy phase: the best a
[0, 1] magnitude mask of this STFT can do, for context.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

from soi_mcu.audio import istft, si_snr, stft
from soi_mcu.config import UNetConfig
from soi_mcu.model import OfflineModel
from soi_mcu.speech_data import MixtureSource, SyntheticSpeechNoise, fixed_set
from soi_mcu.train import enhance, load_checkpoint, pick_device
from soi_mcu.training_args import EVAL_SEED
from soi_mcu.training_args import evaluate_arguments as add_arguments  # noqa: F401  (tests)


@dataclass(frozen=True)
class Evaluation:
    count: int
    seconds: float
    seed: int
    si_snri: float  # mean over mixtures, dB
    si_snri_std: float  # spread over mixtures
    si_snr_noisy: float  # the mixture itself (identity mask: SI-SNRi 0)
    si_snr_enhanced: float
    si_snr_oracle: float  # oracle magnitude mask
    si_snri_oracle: float

    def as_dict(self) -> dict:
        return asdict(self)


def eval_set(base: UNetConfig, count: int = 64, seconds: float = 2.0, seed: int = EVAL_SEED,
             source: MixtureSource | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy, clean) held-out mixtures: test-split sentences, a seed of their own."""
    source = source or SyntheticSpeechNoise(base.sample_rate, "test")
    noisy, clean = fixed_set(source, count, int(seconds * base.sample_rate), seed)
    return torch.from_numpy(noisy), torch.from_numpy(clean)


def oracle_mask_estimate(noisy: torch.Tensor, clean: torch.Tensor, base: UNetConfig) -> torch.Tensor:
    spec_x = stft(noisy, base.n_fft, base.hop)
    mask = (stft(clean, base.n_fft, base.hop).abs() / (spec_x.abs() + 1e-8)).clamp(max=1.0)
    return istft(spec_x * mask, base.n_fft, base.hop, noisy.shape[-1])


@torch.no_grad()
def evaluate_model(model: OfflineModel, base: UNetConfig, noisy: torch.Tensor, clean: torch.Tensor,
                   seed: int = EVAL_SEED, batch: int = 16) -> Evaluation:
    dev = next(model.parameters()).device
    model.eval()
    est = torch.cat([enhance(model, noisy[i: i + batch].to(dev), base).cpu() for i in range(0, len(noisy), batch)])
    s_noisy = si_snr(noisy, clean)
    s_est = si_snr(est, clean)
    s_oracle = si_snr(oracle_mask_estimate(noisy, clean, base), clean)
    gain = (s_est - s_noisy).numpy()
    return Evaluation(
        count=len(noisy), seconds=noisy.shape[-1] / base.sample_rate, seed=seed,
        si_snri=float(gain.mean()), si_snri_std=float(gain.std()),
        si_snr_noisy=float(s_noisy.mean()), si_snr_enhanced=float(s_est.mean()),
        si_snr_oracle=float(s_oracle.mean()), si_snri_oracle=float((s_oracle - s_noisy).mean()),
    )


def evaluate_checkpoint(path: Path, count: int = 64, seconds: float = 2.0, seed: int = EVAL_SEED,
                        source: MixtureSource | None = None, device: str | None = None) -> tuple[Evaluation, dict]:
    """Evaluation of a checkpoint written by `train`; also returns the checkpoint's metadata."""
    model, base, variant, ckpt = load_checkpoint(path, device or str(pick_device()))
    noisy, clean = eval_set(base, count, seconds, seed, source)
    meta = {"variant": variant, "step": ckpt.get("step"), "seed": ckpt.get("seed"), "config": base.name}
    return evaluate_model(model, base, noisy, clean, seed), meta


def format_evaluation(ev: Evaluation, title: str = "") -> str:
    lines = [title] if title else []
    lines += [
        f"held-out mixtures: {ev.count} x {ev.seconds:g} s (seed {ev.seed})",
        f"SI-SNR noisy mixture   {ev.si_snr_noisy:7.2f} dB   (identity mask: SI-SNRi 0.00 dB)",
        f"SI-SNR enhanced        {ev.si_snr_enhanced:7.2f} dB   SI-SNRi {ev.si_snri:6.2f} dB (std {ev.si_snri_std:.2f})",
        f"SI-SNR oracle mask     {ev.si_snr_oracle:7.2f} dB   SI-SNRi {ev.si_snri_oracle:6.2f} dB",
    ]
    return "\n".join(lines)


def summary(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def run_from_args(args: argparse.Namespace) -> int:
    from soi_mcu.speech_data import DnsFolder

    _, base, _, _ = load_checkpoint(Path(args.checkpoint), "cpu")
    source = DnsFolder(Path(args.data), base.sample_rate) if args.data else None
    ev, meta = evaluate_checkpoint(Path(args.checkpoint), args.count, args.seconds, args.seed, source, args.device)
    if args.json:
        print(json.dumps(meta | ev.as_dict(), indent=2))
    else:
        print(format_evaluation(ev, f"{meta['config']} {meta['variant']} (seed {meta['seed']}, {meta['step']} steps)"))
    return 0
