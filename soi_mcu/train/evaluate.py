"""SI-SNRi of a trained model on a held-out, seeded set of mixtures: the float model and its full-int8
export, with reference points.

int8: the checkpoint is exported as the firmware gets it (`quantize.export_tflite`: full int8,
per-channel weights, int8 I/O), calibrated on training-split mixtures (never the held-out ones), and
each held-out mixture is run through `quantize.reference_outputs` (LiteRT's reference kernels, the
oracle the firmware is checked against) from a reset state. The firmware is
bit-exact to those kernels frame by frame, so the int8 figure is the firmware's quality. The .tflite
is the offline graph over a fixed number of frames; it is exported with the held-out mixtures' frame
count (rounded up to the step pattern), and because every layer is causal, one invocation per
mixture gives exactly the frames that streaming from reset gives.

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

from soi_mcu.errors import SoiError
from soi_mcu.model import OfflineModel
from soi_mcu.model.config import UNetConfig
from soi_mcu.train.args import CALIBRATION_SEED, EVAL_SEED
from soi_mcu.train.args import evaluate_arguments as add_arguments  # noqa: F401  (tests)
from soi_mcu.train.audio import istft, si_snr, stft
from soi_mcu.train.common import pick_device
from soi_mcu.train.int8 import Int8Run, int8_outputs
from soi_mcu.train.speech import enhance, features, load_checkpoint
from soi_mcu.train.speech_data import MixtureSource, SyntheticSpeechNoise, fixed_set


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
    # the full-int8 export run by LiteRT (the firmware's arithmetic); None when not evaluated
    si_snri_int8: float | None = None
    si_snri_int8_std: float | None = None
    int8_minus_float_db: float | None = None  # mean over mixtures of (int8 - float) SI-SNR
    int8_frames: int | None = None  # frames the .tflite was exported with
    calibration_count: int | None = None  # training-split mixtures used to calibrate the int8 ranges

    def as_dict(self) -> dict:
        return asdict(self)


def eval_set(base: UNetConfig, count: int = 64, seconds: float = 2.0, seed: int = EVAL_SEED,
             source: MixtureSource | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """(noisy, clean) held-out mixtures: test-split sentences, a seed of their own."""
    source = source or SyntheticSpeechNoise(base.sample_rate, "test")
    noisy, clean = fixed_set(source, count, int(seconds * base.sample_rate), seed)
    return torch.from_numpy(noisy), torch.from_numpy(clean)


def calibration_set(base: UNetConfig, count: int, samples: int, source: MixtureSource | None = None,
                    seed: int = CALIBRATION_SEED) -> torch.Tensor:
    """Noisy mixtures for the int8 ranges: the training split (or the user's folder), its own seed."""
    source = source or SyntheticSpeechNoise(base.sample_rate, "train")
    return torch.from_numpy(fixed_set(source, count, samples, seed)[0])


def oracle_mask_estimate(noisy: torch.Tensor, clean: torch.Tensor, base: UNetConfig) -> torch.Tensor:
    spec_x = stft(noisy, base.n_fft, base.hop)
    mask = (stft(clean, base.n_fft, base.hop).abs() / (spec_x.abs() + 1e-8)).clamp(max=1.0)
    return istft(spec_x * mask, base.n_fft, base.hop, noisy.shape[-1])


def enhance_int8(model: OfflineModel, noisy: torch.Tensor, base: UNetConfig,
                 calibration: torch.Tensor) -> tuple[torch.Tensor, Int8Run]:
    """`train.enhance` with the model replaced by its int8 export run in LiteRT (same front and back end)."""
    spec = stft(noisy.cpu(), base.n_fft, base.hop)
    feats = features(spec.abs()).numpy()
    calib = features(stft(calibration.cpu(), base.n_fft, base.hop).abs()).numpy()
    if calib.shape[1] != feats.shape[1]:
        raise SoiError("int8 evaluation: calibration mixtures must be as long as the held-out ones")
    run = int8_outputs(model, feats, calib)
    mask = torch.sigmoid(torch.from_numpy(run.outputs[..., 0]))
    return istft(spec * mask, base.n_fft, base.hop, noisy.shape[-1]), run


@torch.no_grad()
def evaluate_model(model: OfflineModel, base: UNetConfig, noisy: torch.Tensor, clean: torch.Tensor,
                   seed: int = EVAL_SEED, batch: int = 16, calibration: torch.Tensor | None = None) -> Evaluation:
    """SI-SNRi of the float model; with `calibration` (noisy mixtures as long as `noisy`) also of its int8 export."""
    dev = next(model.parameters()).device
    model.eval()
    est = torch.cat([enhance(model, noisy[i: i + batch].to(dev), base).cpu() for i in range(0, len(noisy), batch)])
    s_noisy = si_snr(noisy, clean)
    s_est = si_snr(est, clean)
    s_oracle = si_snr(oracle_mask_estimate(noisy, clean, base), clean)
    gain = (s_est - s_noisy).numpy()
    int8: dict = {}
    if calibration is not None:
        est_q, run = enhance_int8(model, noisy, base, calibration)
        s_q = si_snr(est_q, clean)
        gain_q = (s_q - s_noisy).numpy()
        int8 = {"si_snri_int8": float(gain_q.mean()), "si_snri_int8_std": float(gain_q.std()),
                "int8_minus_float_db": float((s_q - s_est).mean()), "int8_frames": run.frames,
                "calibration_count": len(calibration)}
    return Evaluation(
        count=len(noisy), seconds=noisy.shape[-1] / base.sample_rate, seed=seed,
        si_snri=float(gain.mean()), si_snri_std=float(gain.std()),
        si_snr_noisy=float(s_noisy.mean()), si_snr_enhanced=float(s_est.mean()),
        si_snr_oracle=float(s_oracle.mean()), si_snri_oracle=float((s_oracle - s_noisy).mean()), **int8,
    )


def evaluate_checkpoint(path: Path, count: int = 64, seconds: float = 2.0, seed: int = EVAL_SEED,
                        source: MixtureSource | None = None, device: str | None = None, int8: bool = True,
                        calibration_count: int = 16, calibration_source: MixtureSource | None = None) -> tuple[Evaluation, dict]:
    """Evaluation of a checkpoint written by `train` (float, and int8 unless int8=False); also returns the
    checkpoint's metadata. Calibration mixtures come from `calibration_source`, else from `source` (the
    user's folder) with a seed of their own, else from the synthetic training split."""
    model, base, variant, ckpt = load_checkpoint(path, device or str(pick_device()))
    noisy, clean = eval_set(base, count, seconds, seed, source)
    calib = None
    if int8:
        if calibration_count < 1:
            raise SoiError("int8 evaluation needs at least 1 calibration mixture")
        calib = calibration_set(base, calibration_count, noisy.shape[-1], calibration_source or source)
    meta = {"variant": variant, "step": ckpt.get("step"), "seed": ckpt.get("seed"), "config": base.name}
    return evaluate_model(model, base, noisy, clean, seed, calibration=calib), meta


def format_evaluation(ev: Evaluation, title: str = "") -> str:
    lines = [title] if title else []
    lines += [
        f"held-out mixtures: {ev.count} x {ev.seconds:g} s (seed {ev.seed})",
        f"SI-SNR noisy mixture   {ev.si_snr_noisy:7.2f} dB   (identity mask: SI-SNRi 0.00 dB)",
        f"SI-SNR enhanced        {ev.si_snr_enhanced:7.2f} dB   SI-SNRi {ev.si_snri:6.2f} dB (std {ev.si_snri_std:.2f})  float",
    ]
    if ev.si_snri_int8 is not None:
        lines.append(f"SI-SNR enhanced, int8  {ev.si_snr_enhanced + ev.int8_minus_float_db:7.2f} dB   "
                     f"SI-SNRi {ev.si_snri_int8:6.2f} dB (std {ev.si_snri_int8_std:.2f})  int8 (LiteRT reference "
                     f"kernels = firmware), {ev.int8_minus_float_db:+.2f} dB vs float")
    lines.append(f"SI-SNR oracle mask     {ev.si_snr_oracle:7.2f} dB   SI-SNRi {ev.si_snri_oracle:6.2f} dB")
    return "\n".join(lines)


def summary(values: list[float]) -> tuple[float, float]:
    arr = np.asarray(values, float)
    return float(arr.mean()), float(arr.std(ddof=1)) if len(arr) > 1 else 0.0


def run_from_args(args: argparse.Namespace) -> int:
    """`soi-mcu evaluate UNET_CHECKPOINT ...` (scene classifier checkpoints go to `scene_classifier`: see `commands`)."""
    from soi_mcu.train.speech_data import DnsFolder

    _, base, _, _ = load_checkpoint(Path(args.checkpoint), "cpu")
    source = DnsFolder(Path(args.data), base.sample_rate) if args.data else None
    ev, meta = evaluate_checkpoint(Path(args.checkpoint), args.count, args.seconds, args.seed, source, args.device,
                                   int8=not args.float_only, calibration_count=args.calibration)
    if args.json:
        meta["train_seed"] = meta.pop("seed")  # "seed" is the held-out set's
        print(json.dumps(meta | ev.as_dict(), indent=2))
    else:
        print(format_evaluation(ev, f"{meta['config']} {meta['variant']} (seed {meta['seed']}, {meta['step']} steps)"))
    return 0
