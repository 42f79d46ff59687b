"""A variant's speech quality as `soi-mcu profile` reports it: a plain record, and the reader of a
`soi-mcu sweep` result.

The record is all the deployment side knows of training: checkpoints are evaluated by
`soi_mcu.train.quality`, which returns these records (the CLI passes them on to `profile`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from soi_mcu.errors import SoiError


@dataclass(frozen=True)
class Quality:
    """A variant's SI-SNRi: mean over its checkpoints (or seeds of a sweep), float and int8."""

    si_snri_db: float
    si_snri_int8_db: float | None
    runs: int  # checkpoints (or sweep seeds) averaged
    source: str  # "sweep FILE" or "N held-out mixtures x S s, seed K, checkpoints in DIR"


def load_quality(path: Path | None) -> dict[str, Quality]:
    """Variant -> mean float SI-SNRi from a `soi-mcu sweep` result."""
    if path is None:
        return {}
    try:
        rows = json.loads(Path(path).read_text())["rows"]
        return {r["variant"]: Quality(float(r["si_snri_mean"]), None, int(r.get("seeds", 1)), f"sweep {path}")
                for r in rows}
    except (OSError, ValueError, KeyError) as exc:
        raise SoiError(f"--quality {path}: not a sweep.json from soi-mcu sweep ({exc})") from None
