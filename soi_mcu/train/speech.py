"""Training a U-Net variant as a magnitude-mask estimator (speech enhancement / separation).

What runs where (the streaming stepper and the firmware compute exactly the model, nothing more):

    noisy audio --STFT--> |X|, phase          (pre-processing, outside the model)
    features = log1p(FEATURE_GAIN * |X|)       (pre-processing: the model's input frames)
    logits = model(features)                    (the model: OfflineModel(unet_spec(cfg)), last layer linear)
    mask = sigmoid(logits)                      (post-processing, outside the model)
    estimate = iSTFT(mask * |X| * e^{j phase})  (post-processing, noisy phase)

The loss is the negative SI-SNR of the estimate against the clean speech.
"""

from __future__ import annotations

import argparse
import dataclasses
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from soi_mcu.errors import SoiError
from soi_mcu.model import OfflineModel
from soi_mcu.model.config import UNetConfig, config_from_dict
from soi_mcu.model.unet import unet_spec, variant_config
from soi_mcu.train.args import train_arguments as add_arguments  # noqa: F401  (python -m entry points, tests)
from soi_mcu.train.audio import istft, stft
from soi_mcu.train.audio import si_snr as si_snr_db
from soi_mcu.train.common import optimize, pick_device, read_checkpoint, say
from soi_mcu.train.speech_data import MixtureSource, SyntheticSpeechNoise

FEATURE_GAIN = 100.0  # |X| of audio at -35..-15 dBFS spans ~1e-3..10: log1p(100 |X|) spans ~0..7


def to_device(model: OfflineModel, dev: torch.device) -> OfflineModel:
    return model.to(dev)


def features(mag: torch.Tensor) -> torch.Tensor:
    """(batch, frames, bins) magnitudes -> the model's input (batch, frames, bins, 1)."""
    return torch.log1p(FEATURE_GAIN * mag).unsqueeze(-1)


def mask_logits(model: OfflineModel, feats: torch.Tensor) -> torch.Tensor:
    """The model on whole sequences, padded in time to its step pattern; (batch, frames, bins)."""
    frames = feats.shape[1]
    phases = model.schedule.phases
    padded = torch.nn.functional.pad(feats, (0, 0, 0, 0, 0, -frames % phases))
    return model(padded)[:, :frames, :, 0]


def enhance(model: OfflineModel, noisy: torch.Tensor, cfg: UNetConfig) -> torch.Tensor:
    """(batch, samples) noisy audio -> enhanced audio of the same shape."""
    spec = stft(noisy, cfg.n_fft, cfg.hop)
    mag = spec.abs()
    mask = torch.sigmoid(mask_logits(model, features(mag)))
    return istft(spec * mask, cfg.n_fft, cfg.hop, noisy.shape[-1])


def loss_fn(model: OfflineModel, noisy: torch.Tensor, clean: torch.Tensor, cfg: UNetConfig) -> torch.Tensor:
    return -si_snr_db(enhance(model, noisy, cfg), clean).mean()


@dataclass
class TrainResult:
    model: OfflineModel
    base: UNetConfig
    variant: str
    steps: int
    seed: int
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    checkpoint: Path | None = None


def train(base: UNetConfig, variant: str = "stmc", steps: int = 300, seed: int = 0, batch: int = 8,
          seconds: float = 1.0, lr: float = 3e-3, source: MixtureSource | None = None,
          checkpoint: Path | None = None, device: str | None = None, log_every: int = 50) -> TrainResult:
    """Adam with cosine decay over `steps` steps of freshly drawn mixtures (seeded)."""
    if steps < 1 or batch < 1:
        raise SoiError("training needs steps >= 1 and batch >= 1")
    cfg = variant_config(base, variant)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    dev = pick_device(device)
    source = source or SyntheticSpeechNoise(base.sample_rate, "train", progress=say)
    if source.sample_rate != base.sample_rate:
        raise SoiError(f"data at {source.sample_rate} Hz, model config at {base.sample_rate} Hz")
    model = to_device(OfflineModel(unet_spec(cfg), seed=seed), dev)
    samples = int(seconds * base.sample_rate)
    result = TrainResult(model, base, variant, steps, seed)

    def step_loss() -> torch.Tensor:
        noisy, clean = (torch.from_numpy(a).to(dev) for a in source.sample(rng, batch, samples))
        return loss_fn(model, noisy, clean, cfg)

    result.seconds = optimize(model, step_loss, steps, lr, f"{variant} seed {seed}", "-SI-SNR dB", log_every, result.losses)
    if checkpoint:
        result.checkpoint = save_checkpoint(result, checkpoint)
    return result


def save_checkpoint(result: TrainResult, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "state_dict": {k: v.cpu() for k, v in result.model.state_dict().items()},
        "config": dataclasses.asdict(result.base),
        "variant": result.variant,
        "step": result.steps,
        "seed": result.seed,
        "losses": result.losses,
        "frontend": {"features": f"log1p({FEATURE_GAIN} * |STFT|)", "mask": "sigmoid(model output)"},
    }, path)
    return path


def load_checkpoint(path: Path, device: str | None = None) -> tuple[OfflineModel, UNetConfig, str, dict]:
    """(model in eval mode, base config, variant, the whole checkpoint dict) of a U-Net checkpoint."""
    ckpt = read_checkpoint(path)
    if ckpt.get("kind", "unet") != "unet":
        raise SoiError(f"{path}: a {ckpt['kind']} classifier checkpoint, not a U-Net one")
    base = config_from_dict(ckpt["config"], str(path))
    model = OfflineModel(unet_spec(variant_config(base, ckpt["variant"])))
    model.load_state_dict(ckpt["state_dict"])
    return to_device(model, pick_device(device)).eval(), base, ckpt["variant"], ckpt


def data_source(data: str | None, sample_rate: int) -> MixtureSource:
    """--data: a DNS-style folder (clean/, noise/), or the synthetic espeak-ng task when empty."""
    from soi_mcu.train.speech_data import DnsFolder

    return DnsFolder(Path(data), sample_rate) if data else SyntheticSpeechNoise(sample_rate, "train", progress=say)


def run_from_args(args: argparse.Namespace) -> int:
    """`soi-mcu train CONFIG.toml ...` (the U-Net; `train scenes` goes to `scene_classifier`: see `commands`)."""
    from soi_mcu.model.config import load_config

    base = load_config(Path(args.config))
    res = train(base, args.variant, steps=args.steps, seed=args.seed, batch=args.batch, seconds=args.seconds, lr=args.lr or 3e-3,
                source=data_source(args.data, base.sample_rate), checkpoint=Path(args.out), device=args.device)
    print(f"trained {args.variant} for {res.steps} steps in {res.seconds:.0f}s; checkpoint: {res.checkpoint}")
    return 0
