"""What a run costs on the chip: one typed Report, printed as a table and written as JSON."""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from soi_mcu.plan.lower import CPlan
from soi_mcu.target.boards import Board
from soi_mcu.target.build import BuildResult
from soi_mcu.target.sim_result import SimResult


@dataclass(frozen=True)
class Report:
    board: str
    core: str
    clock_hz: int
    model: str
    frames: int
    frame_rate_hz: float
    kernels: str
    simulator: str
    counter_kind: str
    bitexact: bool
    mismatched_frames: list[int]
    streaming_max_abs_diff: float
    macs_per_step: dict
    instructions_per_step: dict
    cycles_per_step: dict
    step_cycles: dict
    precompute_cycles: dict
    precomputed_mac_share: float
    mac_per_cycle: float
    macs_per_second: float
    cpu_load: float
    ram: dict
    flash: int
    memory_estimate: dict
    layers: list[dict]
    units: dict
    real_time: dict  # does the worst step fit in one frame period at the board's clock
    input_frames: str = "synthetic"  # what was streamed: synthetic frames, or the user's data (its path)
    int8_snr_db: float | None = None  # int8 firmware output against the float model on those frames
    model_library: dict | None = None  # flash/RAM of the model's own objects in the firmware (link map)

    def to_json(self) -> str:
        # "status" first: a failed or running run leaves {"status": "failed" | "running"} (report/outputs.py)
        return json.dumps({"status": "complete", **asdict(self)}, indent=2, sort_keys=False) + "\n"


def _stats(per_step: np.ndarray, phases: int) -> dict:
    by_phase = {str(p): float(per_step[p::phases].mean()) for p in range(phases)}
    return {"avg": float(per_step.mean()), "max": int(per_step.max()), "by_phase": by_phase}


def real_time(max_cycles: float, frame_rate_hz: float, clock_hz: int) -> dict:
    """The real-time verdict: the worst step (step() + precompute()) within one frame period."""
    budget = clock_hz / frame_rate_hz
    return {"frame_budget_cycles": budget, "worst_step_cycles": max_cycles, "worst_step_load": max_cycles / budget,
            "keeps_up": bool(max_cycles <= budget)}


def make_report(plan: CPlan, board: Board, build: BuildResult, sim: SimResult, reference: np.ndarray,
                frame_rate_hz: float, streaming_diff: float, memory_estimate: dict | None = None,
                input_frames: str = "synthetic", int8_snr_db: float | None = None,
                model_library: dict | None = None) -> Report:
    frames = sim.outputs.shape[0]
    ref = reference.reshape(frames, -1)
    mismatched = [int(i) for i in np.nonzero((ref != sim.outputs).any(axis=1))[0]]
    macs = np.array([plan.macs_by_phase[t % plan.phases] for t in range(frames)], dtype=np.int64)
    # A step's work is its step() call plus the precompute() after it (deferred FP work).
    total_cycles = sim.cycles_per_step + sim.precompute_cycles
    cycles = _stats(total_cycles, plan.phases)
    extra = sim.precompute_cycles.mean()  # the refill range is only kept for step(); add precompute as is
    cycles["estimate_range_avg"] = [float(sim.cycles_per_step_p1.mean() + extra),
                                    float(sim.cycles_per_step_p3.mean() + extra)]
    avg_cycles = cycles["avg"]
    mac_per_cycle = float(macs.mean() / avg_cycles) if avg_cycles else 0.0
    state = plan.state_bytes
    return Report(
        board=board.name,
        core=board.core,
        clock_hz=board.clock_hz,
        model=plan.model_name,
        frames=frames,
        frame_rate_hz=frame_rate_hz,
        kernels=build.kernels,
        simulator=sim.simulator,
        counter_kind=sim.counter_kind,
        bitexact=not mismatched,
        mismatched_frames=mismatched,
        streaming_max_abs_diff=streaming_diff,
        macs_per_step=_stats(macs, plan.phases),
        instructions_per_step=_stats(sim.insns_per_step + sim.precompute_insns, plan.phases),
        cycles_per_step=cycles,
        step_cycles=_stats(sim.cycles_per_step, plan.phases),
        precompute_cycles=_stats(sim.precompute_cycles, plan.phases),
        precomputed_mac_share=float(sum(plan.precomputed_macs_by_phase) / max(sum(plan.macs_by_phase), 1)),
        mac_per_cycle=mac_per_cycle,
        macs_per_second=mac_per_cycle * board.clock_hz,
        cpu_load=avg_cycles * frame_rate_hz / board.clock_hz,
        ram={"static": build.static_ram, "stack_peak": sim.stack_peak, "state": state,
             "peak": build.static_ram + sim.stack_peak},
        flash=build.flash,
        memory_estimate=memory_estimate or {},
        layers=_layers(plan, sim, float(total_cycles.mean())),
        real_time=real_time(float(cycles["max"]), frame_rate_hz, board.clock_hz),
        input_frames=input_frames,
        int8_snr_db=int8_snr_db,
        model_library=model_library,
        units={
            "macs_per_step": "multiply-accumulates per step (analytic)",
            "instructions_per_step": f"executed instructions per step (measured by {sim.simulator})",
            "cycles_per_step": f"cycles per step, step() + precompute(): {sim.counter_kind}"
                               + ("; range = pipeline refill 1..3" if "qemu" in sim.simulator else ""),
            "step_cycles": "cycles of step() alone: the work after the frame arrives (estimated)",
            "precompute_cycles": "cycles of precompute(): work on past frames only, between frames (estimated)",
            "precomputed_mac_share": "fraction of MACs done by precompute() (analytic)",
            "mac_per_cycle": "analytic MACs / estimated cycles",
            "macs_per_second": "MAC/s at clock_hz (estimated)",
            "cpu_load": "fraction of clock_hz needed at frame_rate_hz (estimated)",
            "ram": "bytes: static = .data+.bss of the firmware, stack_peak measured by stack painting, "
                   "state = partial-state buffers (part of static)",
            "flash": "bytes: .text+.rodata+.data of the firmware",
            "memory_estimate": "bytes, from the plan before compiling: weights (flash), partial states, activation "
                               "arena (shared by liveness), activations held across steps, kernel scratch; code = the model's "
                               "functions and the kernel functions they reach, compiled per function for the core "
                               "(startup, harness and C library not included)",
            "real_time": "frame_budget_cycles = clock_hz / frame_rate_hz; keeps_up when the worst step's cycles "
                         "(step() + precompute(), estimated) fit in it",
            "model_library": "bytes the model's own objects take in the linked firmware (generated model, "
                             "runtime, kernels; from the link map): what it adds to a user's firmware",
            "int8_snr_db": "dB: float model output power over (int8 firmware output - float output) power, on "
                           "the streamed input_frames",
            "layers": "per layer (and step/precompute overheads): average estimated cycles and executed instructions "
                      "per step, share of cycles_per_step avg, analytic MACs per step, MAC/cycle",
        },
    )


def _layers(plan: CPlan, sim: SimResult, total: float) -> list[dict]:
    macs = {n.name: n.macs / n.run_period for n in plan.nodes if hasattr(n, "macs")}
    kinds = {n.name: n.kind for n in plan.nodes}
    rows = []
    for name, cycles in sim.layer_cycles.items():
        m = macs.get(name, 0.0)
        rows.append({"name": name, "kind": kinds.get(name, "overhead"), "cycles": cycles,
                     "instructions": sim.layer_insns.get(name, 0.0), "share": cycles / total if total else 0.0,
                     "macs": m, "mac_per_cycle": m / cycles if cycles else 0.0})
    return rows


def format_layers(r: Report) -> str:
    lines = [f"{'layer':24s} {'kind':9s} {'cycles/step':>12s} {'share':>6s} {'MACs/step':>10s} {'MAC/cyc':>7s}"]
    for row in r.layers:
        lines.append(f"{row['name']:24s} {row['kind']:9s} {row['cycles']:12,.0f} {100 * row['share']:5.1f}% "
                     f"{row['macs']:10,.0f} {row['mac_per_cycle']:7.3f}")
    return "\n".join(lines)


def format_table(r: Report) -> str:
    rows = [
        ("board / core", f"{r.board} / {r.core} @ {r.clock_hz / 1e6:.0f} MHz"),
        ("model / frames", f"{r.model} / {r.frames} frames at {r.frame_rate_hz:g} Hz"),
        ("kernels", r.kernels),
        ("bit-exact vs LiteRT", f"{'yes' if r.bitexact else 'NO'} ({len(r.mismatched_frames)} frames differ)"),
        ("streaming == offline", f"max abs diff {r.streaming_max_abs_diff:.2e} (float)"),
    ]
    for p in r.macs_per_step["by_phase"]:
        rows.append((
            f"phase {p}: MACs / instr / cycles (est.)",
            f"{r.macs_per_step['by_phase'][p]:,.0f} / {r.instructions_per_step['by_phase'][p]:,.0f} / "
            f"{r.cycles_per_step['by_phase'][p]:,.0f}",
        ))
    lo, hi = r.cycles_per_step["estimate_range_avg"]
    rows += [
        ("avg / max cycles per step (est.)", f"{r.cycles_per_step['avg']:,.0f} / {r.cycles_per_step['max']:,} "
                                              f"(range {lo:,.0f}..{hi:,.0f})"),
        ("step() avg / max cycles (est.)", f"{r.step_cycles['avg']:,.0f} / {r.step_cycles['max']:,}"),
        ("precompute() avg / max cycles (est.)", f"{r.precompute_cycles['avg']:,.0f} / {r.precompute_cycles['max']:,} "
                                                   f"({100 * r.precomputed_mac_share:.0f} % of MACs)"),
        ("MAC per cycle (est.)", f"{r.mac_per_cycle:.3f}"),
        ("MAC/s at clock (est.)", f"{r.macs_per_second / 1e6:.1f} M"),
        ("CPU load (est.)", f"{100 * r.cpu_load:.2f} %"),
        (f"real time at {r.frame_rate_hz:g} frames/s", _verdict(r.real_time)),
        ("int8 vs float (SNR)", "-" if r.int8_snr_db is None else f"{r.int8_snr_db:.1f} dB on {r.input_frames} frames"),
        ("RAM static / stack peak / state", f"{r.ram['static']:,} / {r.ram['stack_peak']:,} / {r.ram['state']:,} B"),
        ("RAM peak", f"{r.ram['peak']:,} B"),
        ("flash", f"{r.flash:,} B"),
    ]
    if r.model_library:
        rows.append(("model library flash / RAM", f"{r.model_library['flash']:,} / {r.model_library['ram']:,} B "
                                                  "(without harness, start-up, test frames)"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k.ljust(width)}  {v}" for k, v in rows)


def _verdict(rt: dict) -> str:
    word = "yes" if rt["keeps_up"] else "NO"
    return (f"{word}: worst step {rt['worst_step_cycles']:,.0f} of {rt['frame_budget_cycles']:,.0f} cycles per frame "
            f"({100 * rt['worst_step_load']:.1f} %)")


def write_json(report: Report, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + f".{os.getpid()}.tmp")
    tmp.write_text(report.to_json())
    tmp.replace(path)
