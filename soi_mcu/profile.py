"""`soi-mcu profile`: generate, build and simulate SOI variants of one config on one board, and
compare what each costs on the chip with STMC (tables, JSON, CSV, a plot, deltas against an old run).

Quality (SI-SNRi) comes in as plain `Quality` records: read from a sweep.json (`quality.load_quality`)
or measured on checkpoints by the training side (`soi_mcu.train.quality`, called by the CLI). This
module is on the deployment path and never imports `soi_mcu.train`.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from soi_mcu.errors import SoiError
from soi_mcu.model import macs_by_phase
from soi_mcu.model.config import UNetConfig
from soi_mcu.model.unet import unet_spec, variant_config
from soi_mcu.pipeline import run
from soi_mcu.report.quality import Quality


@dataclass(frozen=True)
class VariantCost:
    variant: str
    bitexact: bool
    analytic_avg_mmac_s: float  # analytic
    mac_ratio: float  # analytic avg MACs / STMC's
    avg_cycles: float  # estimated, per step (step + precompute)
    peak_cycles: int  # estimated, costliest step
    step_peak_cycles: int  # estimated, costliest step() alone: the work after a frame arrives
    cycle_ratio: float  # avg_cycles / STMC's (measured in simulation)
    peak_ratio: float
    mac_per_cycle: float
    cpu_load: float  # at the board clock and the model frame rate (estimated)
    ram_static: int  # bytes, measured from the ELF
    ram_stack_peak: int  # bytes, measured by stack painting
    ram_state: int  # bytes, partial states (part of static)
    flash: int  # bytes, from the ELF
    non_mac_share: float  # share of the cycles outside conv layers (state updates, concat, upsampling, calls)
    conv_mac_per_cycle: float  # MAC/cycle of the conv layers alone
    deviation: str  # why the cycle ratio differs from the MAC ratio by more than 5 %, with numbers; "" if not
    si_snri_db: float | None = None  # float model's SI-SNRi (--quality sweep.json or --checkpoints), when given
    si_snri_int8_db: float | None = None  # the int8 export's SI-SNRi in LiteRT = the firmware's (--checkpoints)
    quality_source: str = ""  # where the quality comes from ("" when none was given)


UNITS = {
    "analytic_avg_mmac_s": "million MAC/s at the frame rate (analytic)",
    "avg_cycles": "cycles per step, estimated from executed instructions",
    "peak_cycles": "cycles of the costliest step, estimated",
    "step_peak_cycles": "cycles of the costliest step() (after the frame arrives), estimated",
    "cpu_load": "fraction of the board clock (estimated)",
    "ram_*": "bytes (measured: ELF sections, stack painting)",
    "flash": "bytes (measured: ELF sections)",
    "non_mac_share": "fraction of estimated cycles spent outside conv layers (per-layer breakdown)",
    "conv_mac_per_cycle": "analytic conv MACs / estimated conv-layer cycles",
    "si_snri_db": "dB, SI-SNRi of the float model, mean over seeds/checkpoints (measured on held-out mixtures: "
                  "by the sweep for --quality, by profile for --checkpoints)",
    "si_snri_int8_db": "dB, SI-SNRi of the full-int8 export run by LiteRT's reference kernels, which the firmware "
                       "matches bit for bit (measured on the same held-out mixtures; --checkpoints only)",
}


def _conv_split(report) -> tuple[float, float]:
    """(share of cycles outside conv layers, conv MAC/cycle) from the report's per-layer breakdown."""
    total = sum(row["cycles"] for row in report.layers) or 1.0
    conv_cycles = sum(row["cycles"] for row in report.layers if row["kind"] == "conv")
    conv_macs = sum(row["macs"] for row in report.layers if row["kind"] == "conv")
    return 1.0 - conv_cycles / total, conv_macs / conv_cycles if conv_cycles else 0.0


def profile(base: UNetConfig, board: str, variants: list[str], frames: int, out_dir: Path,
            quality: dict[str, Quality] | None = None) -> list[VariantCost]:
    if "stmc" not in variants:
        variants = ["stmc", *variants]  # every figure is reported as a ratio to STMC
    reports = {}
    start = time.monotonic()
    for i, v in enumerate(variants, 1):
        print(f"[{i}/{len(variants)}] {v}: generating, building and simulating on {board} "
              f"(+{time.monotonic() - start:.0f}s)", file=sys.stderr, flush=True)
        spec = unet_spec(variant_config(base, v))
        reports[v] = (run(spec, board, frames, out_dir / v.replace(":", "_").replace("/", "_").replace("+", "_"),
                          quiet=True), spec)
    ref, ref_spec = reports["stmc"]
    ref_total = macs_by_phase(ref_spec)[0]
    ref_macs = sum(ref_total) / len(ref_total)
    ref_share, ref_mpc = _conv_split(ref)
    rows = []
    for v, (r, spec) in reports.items():
        total = macs_by_phase(spec)[0]
        avg_macs = sum(total) / len(total)
        share, mpc = _conv_split(r)
        cycle_ratio = r.cycles_per_step["avg"] / ref.cycles_per_step["avg"]
        mac_ratio = avg_macs / ref_macs
        deviation = ""
        if abs(cycle_ratio / mac_ratio - 1) > 0.05:
            deviation = (f"cycles {100 * cycle_ratio:.1f}% vs MACs {100 * mac_ratio:.1f}% of STMC: {100 * share:.0f}% of its "
                         f"cycles are outside conv work (STMC: {100 * ref_share:.0f}%), and its convs run at {mpc:.3f} "
                         f"MAC/cycle (STMC: {ref_mpc:.3f}): the layers it skips are kernel-efficient ones, the layers "
                         "that still run every step less so (see each variant's report.json layers)")
        rows.append(VariantCost(
            variant=v,
            bitexact=r.bitexact,
            analytic_avg_mmac_s=avg_macs * spec.frame_rate_hz / 1e6,
            mac_ratio=avg_macs / ref_macs,
            avg_cycles=r.cycles_per_step["avg"],
            peak_cycles=r.cycles_per_step["max"],
            step_peak_cycles=r.step_cycles["max"],
            cycle_ratio=r.cycles_per_step["avg"] / ref.cycles_per_step["avg"],
            peak_ratio=r.cycles_per_step["max"] / ref.cycles_per_step["max"],
            mac_per_cycle=r.mac_per_cycle,
            cpu_load=r.cpu_load,
            ram_static=r.ram["static"],
            ram_stack_peak=r.ram["stack_peak"],
            ram_state=r.ram["state"],
            flash=r.flash,
            non_mac_share=share,
            conv_mac_per_cycle=mpc,
            deviation=deviation,
            **_quality_fields((quality or {}).get(v)),
        ))
    return rows


def _quality_fields(q: Quality | None) -> dict:
    if q is None:
        return {}
    return {"si_snri_db": q.si_snri_db, "si_snri_int8_db": q.si_snri_int8_db,
            "quality_source": f"{q.source} ({q.runs} run{'s' if q.runs != 1 else ''} averaged)"}


def format_profile(rows: list[VariantCost], board: str) -> str:
    head = (f"{'variant':10s} {'exact':>5s} {'MMAC/s':>7s} {'MAC %':>6s} {'avg cyc/step':>12s} {'cyc %':>6s} "
            f"{'peak cyc':>10s} {'step() peak':>11s} {'MAC/cyc':>7s} {'load':>7s} {'RAM B':>7s} {'flash B':>8s}")
    lines = [f"{board}: cycles are estimated (instruction timings), MACs analytic, memory measured", head,
             "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r.variant:10s} {'yes' if r.bitexact else 'NO':>5s} {r.analytic_avg_mmac_s:7.2f} {100 * r.mac_ratio:5.1f}% "
            f"{r.avg_cycles:12,.0f} {100 * r.cycle_ratio:5.1f}% {r.peak_cycles:10,} {r.step_peak_cycles:11,} "
            f"{r.mac_per_cycle:7.3f} {100 * r.cpu_load:6.1f}% {r.ram_static + r.ram_stack_peak:7,} {r.flash:8,}")
    for r in rows:
        if r.deviation:
            lines.append(f"{r.variant}: {r.deviation}")
        if r.si_snri_int8_db is not None:
            lines.append(f"{r.variant}: SI-SNRi {r.si_snri_int8_db:.2f} dB int8 (LiteRT = firmware), {r.si_snri_db:.2f} dB "
                         f"float ({r.si_snri_int8_db - r.si_snri_db:+.2f} dB); measured on {r.quality_source}")
        elif r.si_snri_db is not None:
            lines.append(f"{r.variant}: SI-SNRi {r.si_snri_db:.2f} dB (float, from the {r.quality_source})")
    return "\n".join(lines)


def write_outputs(rows: list[VariantCost], board: str, out_dir: Path) -> list[Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    data = {"status": "complete", "board": board, "units": UNITS, "variants": [asdict(r) for r in rows]}
    written = [_atomic(out_dir / "profile.json", json.dumps(data, indent=2) + "\n")]
    tmp = out_dir / "profile.csv.tmp"
    with open(tmp, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(asdict(rows[0])))
        w.writeheader()
        w.writerows(asdict(r) for r in rows)
    tmp.replace(out_dir / "profile.csv")
    written.append(out_dir / "profile.csv")
    png = _plot(rows, board, out_dir / "profile.png")
    if png:
        written.append(png)
    return written


def _atomic(path: Path, text: str) -> Path:
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(text)
    tmp.replace(path)
    return path


def _plot(rows: list[VariantCost], board: str, path: Path) -> Path | None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib is not installed: no profile.png (pip install matplotlib)", file=sys.stderr)
        return None
    with_quality = [r for r in rows if r.si_snri_db is not None]
    fig, axes = plt.subplots(1, 3 if with_quality else 2, figsize=(16 if with_quality else 11, 4))
    ax1, ax2 = axes[0], axes[1]
    names = [r.variant for r in rows]
    x = range(len(rows))
    ax1.bar([i - 0.2 for i in x], [r.avg_cycles / 1e3 for r in rows], 0.4, label="average step")
    ax1.bar([i + 0.2 for i in x], [r.step_peak_cycles / 1e3 for r in rows], 0.4, label="peak step() (after the frame)")
    ax1.set_xticks(list(x), names, rotation=30)
    ax1.set_ylabel("estimated kcycles per step")
    ax1.set_title(f"cost per step on {board}")
    ax1.legend(loc="lower left", fontsize=8, framealpha=0.9)
    ax2.scatter([100 * r.mac_ratio for r in rows], [100 * r.cycle_ratio for r in rows])
    for r in rows:
        ax2.annotate(r.variant, (100 * r.mac_ratio, 100 * r.cycle_ratio), fontsize=8)
    ax2.plot([0, 100], [0, 100], "k--", linewidth=0.8)
    ax2.set_xlabel("analytic MACs, % of STMC")
    ax2.set_ylabel("estimated cycles, % of STMC")
    ax2.set_title("measured vs analytic savings")
    if with_quality:  # the paper's Figure 4 shape, with cycles measured on the chip
        ax3 = axes[2]
        kc = [r.avg_cycles / 1e3 for r in with_quality]
        int8 = [r for r in with_quality if r.si_snri_int8_db is not None]
        if int8:
            ax3.scatter([r.avg_cycles / 1e3 for r in int8], [r.si_snri_int8_db for r in int8], color="tab:orange",
                        marker="s", s=20, label="int8 = firmware (measured, LiteRT)")
        ax3.scatter(kc, [r.si_snri_db for r in with_quality], s=80, facecolors="none", edgecolors="tab:blue",
                    label="float model (measured)", zorder=3)  # larger and on top: visible where int8 equals float
        for r in with_quality:
            y = r.si_snri_int8_db if r.si_snri_int8_db is not None else r.si_snri_db
            ax3.annotate(r.variant, (r.avg_cycles / 1e3, y), fontsize=8, xytext=(3, 3), textcoords="offset points")
        ax3.set_xlabel(f"kcycles per step on {board} (estimated, average)")
        ax3.set_ylabel("SI-SNRi (dB, measured on held-out mixtures)")
        ax3.set_title("quality vs cost on the chip")
        ax3.legend(loc="lower right", fontsize=8, framealpha=0.9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# The fields of an earlier profile.json that compare() reads, per variant row.
COMPARED_FIELDS = ("avg_cycles", "peak_cycles", "ram_static", "ram_stack_peak", "flash")


def load_baseline(path: Path) -> dict[str, dict]:
    """An earlier profile.json, read and checked before anything is built: variant -> its row.

    Read once, up front, so that `--compare` may name the very profile.json this run overwrites (the
    deltas are against what was there before), and so that a bad file is refused in the first second
    rather than after every variant was built and simulated."""
    what = f"--compare {path}"
    try:
        data = json.loads(Path(path).read_text())
    except IsADirectoryError:
        raise SoiError(f"{what}: a folder; give the profile.json of an earlier `soi-mcu profile` run") from None
    except OSError as exc:
        raise SoiError(f"{what}: cannot be read ({exc.strerror}); give an earlier profile.json") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise SoiError(f"{what}: not JSON ({exc}); give the profile.json of an earlier `soi-mcu profile` run") from None
    if not isinstance(data, dict) or not isinstance(data.get("variants"), list):
        raise SoiError(f"{what}: not a profile.json from `soi-mcu profile` (expected a JSON object with a "
                       "'variants' list)")
    rows: dict[str, dict] = {}
    for i, row in enumerate(data["variants"]):
        if not isinstance(row, dict) or not isinstance(row.get("variant"), str):
            raise SoiError(f"{what}: variants[{i}] is not an object with a 'variant' name")
        for field in COMPARED_FIELDS:
            value = row.get(field)
            # bool is an int subclass; true/false is not a cycle count
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value != value or value < 0:
                raise SoiError(f"{what}: variants[{i}] ({row['variant']}) has no number '{field}' "
                               f"(found {json.dumps(value)}); give a profile.json from `soi-mcu profile`")
        rows[row["variant"]] = row
    return rows


def compare(rows: list[VariantCost], old: dict[str, dict]) -> str:
    """Deltas against an earlier profile.json (as load_baseline read it), for tracking regressions in CI."""
    lines = [f"{'variant':10s} {'avg cycles':>18s} {'peak cycles':>18s} {'RAM':>14s} {'flash':>14s}"]
    for r in rows:
        o = old.get(r.variant)
        if o is None:
            lines.append(f"{r.variant:10s} (new)")
            continue
        ram, oram = r.ram_static + r.ram_stack_peak, o["ram_static"] + o["ram_stack_peak"]
        lines.append(f"{r.variant:10s} {_delta(r.avg_cycles, o['avg_cycles']):>18s} "
                     f"{_delta(r.peak_cycles, o['peak_cycles']):>18s} {_delta(ram, oram):>14s} "
                     f"{_delta(r.flash, o['flash']):>14s}")
    return "\n".join(lines)


def _delta(new: float, old: float) -> str:
    pct = 100 * (new - old) / old if old else 0.0
    return f"{new - old:+,.0f} ({pct:+.1f}%)"
