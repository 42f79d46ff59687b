"""Analytic complexity of SOI variants, counted the way the paper counts it.

A region below a stride-2 pair runs every other step (half the cost on average), below two pairs
every fourth step; the peak is the costliest step; for FP variants the work that only needs past
frames is precomputed between frames, so the cost after a frame arrives drops further.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass

from soi_mcu.model import macs_by_phase
from soi_mcu.model.config import UNetConfig
from soi_mcu.model.unet import describe_variant, unet_spec, variant_config


@dataclass(frozen=True)
class Complexity:
    variant: str
    phases: int
    macs_by_phase: tuple[int, ...]
    avg_mmac_s: float  # average over the step pattern, at the model's frame rate
    peak_mmac_s: float  # costliest step, at the frame rate
    after_frame_peak_mmac_s: float  # costliest step without its precomputable part
    precomputed_share: float  # of all MACs
    retained: float  # avg MMAC/s as a fraction of STMC's
    meaning: str = ""  # the variant in words: "S-CC pair at encoder 2 (partially predictive)"


def complexity(base: UNetConfig, variants: list[str]) -> list[Complexity]:
    rate = base.frame_rate_hz
    stmc_total, _ = macs_by_phase(unet_spec(variant_config(base, "stmc")))
    stmc_avg = sum(stmc_total) / len(stmc_total)
    rows = []
    for v in variants:
        total, deferred = macs_by_phase(unet_spec(variant_config(base, v)))
        avg = sum(total) / len(total)
        rows.append(Complexity(
            variant=v,
            phases=len(total),
            macs_by_phase=total,
            avg_mmac_s=avg * rate / 1e6,
            peak_mmac_s=max(total) * rate / 1e6,
            after_frame_peak_mmac_s=max(t - d for t, d in zip(total, deferred, strict=True)) * rate / 1e6,
            precomputed_share=sum(deferred) / max(sum(total), 1),
            retained=avg / stmc_avg,
            meaning=describe_variant(v),
        ))
    return rows


def format_complexity(rows: list[Complexity], frame_rate_hz: float) -> str:
    head = (f"{'variant':12s} {'avg MMAC/s':>10s} {'retained':>9s} {'peak MMAC/s':>11s} "
            f"{'after-frame peak':>16s} {'precomputed':>11s}")
    lines = [f"analytic MACs at {frame_rate_hz:g} frames/s", head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r.variant:12s} {r.avg_mmac_s:10.3f} {100 * r.retained:8.1f}% {r.peak_mmac_s:11.3f} "
                     f"{r.after_frame_peak_mmac_s:16.3f} {100 * r.precomputed_share:10.1f}%")
    lines += ["", "variants:"] + [f"  {r.variant:10s} {r.meaning}" for r in rows]
    return "\n".join(lines)


def complexity_json(rows: list[Complexity]) -> str:
    return json.dumps([asdict(r) for r in rows], indent=2) + "\n"
