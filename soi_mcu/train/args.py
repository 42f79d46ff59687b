"""Command-line arguments of `soi-mcu train`, `evaluate` and `sweep`, kept free of heavy imports so
that building the CLI parser stays fast."""

from __future__ import annotations

import argparse

EVAL_SEED = 20240607  # the held-out set's seed
CALIBRATION_SEED = 31337  # the int8 calibration mixtures' seed (training split)


def train_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="U-Net config TOML, e.g. configs/unet-mcu-s.toml, or `scenes`: the scene classifier "
                   "on generated acoustic scenes")
    p.add_argument("--variant", default="stmc", help="SOI variant (stmc, scc:2, scc:1+3, sscc:3, fp:2/6, ...; "
                   "scenes: stmc, scc:1..3)")
    p.add_argument("--steps", type=int, default=800, help="training steps")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch", type=int, default=8, help="mixtures per step")
    p.add_argument("--seconds", type=float, default=1.0, help="length of a training mixture")
    p.add_argument("--lr", type=float, default=None, help="Adam learning rate, cosine decay to 5%% (default: 3e-3; scenes 2e-2)")
    p.add_argument("--data", default="", help="DNS-style folder with clean/ and noise/ WAVs (default: synthetic speech)")
    p.add_argument("--clips", type=int, default=800, help="scenes only: generated training clips (of --seconds)")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--out", default="out/train/model.pt", help="checkpoint path (scenes: out/train/scenes.pt)")


def evaluate_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("checkpoint", help="a checkpoint written by training (U-Net: SI-SNRi; scene classifier: top-1)")
    p.add_argument("--count", type=int, default=64, help="held-out mixtures (scenes: clips)")
    p.add_argument("--seconds", type=float, default=2.0, help="length of each mixture (scenes: clip)")
    p.add_argument("--seed", type=int, default=EVAL_SEED, help="seed of the held-out set")
    p.add_argument("--data", default="", help="DNS-style folder with clean/ and noise/ WAVs (default: synthetic test split)")
    p.add_argument("--device", default=None, help="torch device (default: cuda when available, else cpu)")
    p.add_argument("--float-only", action="store_true", help="skip the int8 export and its LiteRT evaluation")
    p.add_argument("--calibration", type=int, default=16,
                   help="training-split mixtures (scenes: clips) that calibrate the int8 ranges")
    p.add_argument("--json", action="store_true", help="print JSON")


def sweep_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("config", help="U-Net config TOML, e.g. configs/unet-mcu-s.toml")
    p.add_argument("--variants", default="stmc,scc:1,scc:2,scc:4,scc:6,scc:1+3,sscc:3,fp:2/6",
                   help="comma-separated SOI variants (stmc is always added)")
    p.add_argument("--seeds", default="0,1", help="comma-separated training seeds")
    p.add_argument("--steps", type=int, default=800, help="training steps per run")
    p.add_argument("--batch", type=int, default=8, help="mixtures per step")
    p.add_argument("--seconds", type=float, default=1.0, help="length of a training mixture")
    p.add_argument("--lr", type=float, default=3e-3, help="Adam learning rate (cosine decay to 5%%)")
    p.add_argument("--eval-count", type=int, default=64, help="held-out mixtures")
    p.add_argument("--int8", action="store_true", help="also evaluate each run's full-int8 export in LiteRT (= the "
                   "firmware): an SI-SNRi int8 column")
    p.add_argument("--jobs", type=int, default=1, help="runs in parallel (processes)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per run (0: torch's default)")
    p.add_argument("--checkpoints", action="store_true", help="keep each run's checkpoint under OUT/checkpoints")
    p.add_argument("--out", default="out/sweep", help="output folder")


def check_training_numbers(args: argparse.Namespace) -> None:
    """--steps, --batch, --seconds (and --clips) of train and sweep, refused before any data is synthesized."""
    from soi_mcu.errors import SoiError

    for name in ("steps", "batch", "clips"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise SoiError(f"--{name} {value}: give at least 1")
    seconds = getattr(args, "seconds", None)
    if seconds is not None and not 0 < seconds < float("inf"):
        raise SoiError(f"--seconds {seconds}: give a positive length in seconds, e.g. 1.0")
