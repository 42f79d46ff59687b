"""`soi-mcu train` and `soi-mcu evaluate`: which task a command line is for (the U-Net or the scene
classifier), and the module that runs it.

The dispatch lives here, above `speech`, `evaluate` and `scene_classifier`, so that none of them needs
to know the others (they used to import each other in a cycle to dispatch).
"""

from __future__ import annotations

import argparse
from pathlib import Path


def train_from_args(args: argparse.Namespace) -> int:
    """`train scenes ...`: the scene classifier; `train CONFIG.toml ...`: a U-Net variant."""
    from soi_mcu.train.args import check_training_numbers

    check_training_numbers(args)  # before any utterance is synthesized
    if args.config == "scenes":
        from soi_mcu.train.scene_classifier import run_train_from_args

        return run_train_from_args(args)
    from soi_mcu.train.speech import run_from_args

    return run_from_args(args)


def evaluate_from_args(args: argparse.Namespace) -> int:
    """By the checkpoint's kind: top-1 of a scene classifier, SI-SNRi of a U-Net."""
    from soi_mcu.train.common import checkpoint_kind

    if checkpoint_kind(Path(args.checkpoint)) == "scene":
        from soi_mcu.train.scene_classifier import run_evaluate_from_args

        return run_evaluate_from_args(args)
    from soi_mcu.train.evaluate import run_from_args

    return run_from_args(args)
