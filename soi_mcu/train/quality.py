"""Quality of trained checkpoints for `soi-mcu profile --checkpoints`: each variant's float and int8 SI-SNRi
on one held-out set, as plain `soi_mcu.report.quality.Quality` records.

On the training side so that the profile (deployment side) never imports training code: the CLI
calls this and hands the records to `soi_mcu.profile.profile`.
"""

from __future__ import annotations

import sys
from pathlib import Path

from soi_mcu.errors import SoiError
from soi_mcu.model.config import UNetConfig
from soi_mcu.model.unet import unet_spec, variant_config
from soi_mcu.report.quality import Quality
from soi_mcu.train.args import EVAL_SEED
from soi_mcu.train.common import read_checkpoint
from soi_mcu.train.evaluate import calibration_set, eval_set, evaluate_model
from soi_mcu.train.speech import load_checkpoint
from soi_mcu.train.speech_data import MixtureSource


def find_checkpoints(base: UNetConfig, variants: list[str], folder: Path) -> dict[str, list[Path]]:
    """Variant -> the checkpoints in `folder` (or its checkpoints/ subfolder, as `soi-mcu sweep --checkpoints`
    writes them) that were trained for that variant of `base`; identified by their contents, not their names."""
    folder = Path(folder)
    root = folder / "checkpoints" if (folder / "checkpoints").is_dir() else folder
    if not root.is_dir():
        raise SoiError(f"--checkpoints {folder}: not a folder")
    wanted = {v.strip().lower(): v for v in variants}
    found: dict[str, list[Path]] = {v: [] for v in variants}
    for path in sorted(root.glob("*.pt")):
        ckpt = read_checkpoint(path)
        v = wanted.get(str(ckpt["variant"]).lower())
        if ckpt.get("kind", "unet") != "unet" or v is None:
            continue
        theirs = UNetConfig(**{k: tuple(x) if isinstance(x, list) else x for k, x in ckpt["config"].items()})
        if (unet_spec(variant_config(theirs, v)).layers != unet_spec(variant_config(base, v)).layers
                or (theirs.sample_rate, theirs.n_fft, theirs.hop) != (base.sample_rate, base.n_fft, base.hop)):
            raise SoiError(f"{path}: trained with config '{theirs.name}', whose layers or STFT differ from those of "
                           f"'{base.name}' for variant {v}; give a folder of checkpoints of this config")
        found[v].append(path)
    if not any(found.values()):
        raise SoiError(f"--checkpoints {folder}: no checkpoint of variants {', '.join(variants)} in {root} "
                       "(write them with soi-mcu sweep --checkpoints or soi-mcu train --out)")
    return found


def checkpoint_quality(base: UNetConfig, found: dict[str, list[Path]], count: int = 64, seconds: float = 2.0,
                       seed: int | None = None, calibration_count: int = 16, source: MixtureSource | None = None,
                       calibration_source: MixtureSource | None = None) -> dict[str, Quality]:
    """Float and int8 SI-SNRi of every checkpoint on one held-out set (the same mixtures for every variant)."""
    seed = EVAL_SEED if seed is None else seed
    noisy, clean = eval_set(base, count, seconds, seed, source)
    calib = calibration_set(base, calibration_count, noisy.shape[-1], calibration_source or source)
    what = f"{count} held-out mixtures x {seconds:g} s (seed {seed})"
    out = {}
    for v, paths in found.items():
        if not paths:
            continue
        evs = []
        for path in paths:
            print(f"quality: {v}: evaluating {path.name} (float and int8) on {what}", file=sys.stderr, flush=True)
            model = load_checkpoint(path, "cpu")[0]
            evs.append(evaluate_model(model, base, noisy, clean, seed, calibration=calib))
        out[v] = Quality(sum(e.si_snri for e in evs) / len(evs), sum(e.si_snri_int8 for e in evs) / len(evs),
                         len(evs), f"{what}, {len(evs)} checkpoint(s) from {paths[0].parent}")
    return out
