"""What a model will cost on a board, before any firmware is built (`soi-mcu analyze`).

Per layer: MACs, weights, partial state, the activation buffers it writes, kernel scratch and the
code its kernels add (each kernel counted at the first layer that calls it); then the totals and
whether they fit the board. Totals of flash and RAM come from the generated model compiled for the
core (code reached from the model's API, its constants, its static RAM), so they match what the
model library takes in a linked firmware (`run` reports that figure from the link map); the board's
stack comes on top of the RAM.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class LayerCost:
    name: str
    kind: str
    period: int  # runs every `period` steps
    macs: int  # per run
    weights: int  # bytes of constants (flash)
    state: int  # bytes of partial state (RAM)
    activations: int  # bytes of the activation buffers it writes (RAM, shared by liveness in the arena)
    scratch: int  # bytes of kernel scratch (RAM, one buffer shared by all layers)
    code: int | None  # bytes of code its kernels add (None: no cross compiler to measure it)
    kernels: tuple[str, ...]


@dataclass(frozen=True)
class Analysis:
    model: str
    board: str
    core: str
    frame_rate_hz: float
    layers: list[LayerCost]
    macs_per_step_avg: float
    macs_per_step_max: int
    flash: int | None  # model library: code + constants + initial values
    ram: int | None  # model library: static RAM (arena, states, scratch, kernel contexts)
    stack: int  # the board's stack reserve
    board_flash: int
    board_ram: int
    estimate: dict  # the plan's own figures (weights, state, arena, persistent activations, scratch, code)

    @property
    def fits(self) -> bool:
        flash = self.flash if self.flash is not None else self.estimate["weights_flash"]
        ram = self.ram if self.ram is not None else (self.estimate["state"] + self.estimate["arena"]
                                                     + self.estimate["persistent_activations"] + self.estimate["scratch"])
        return flash <= self.board_flash and ram + self.stack <= self.board_ram

    def to_json(self) -> str:
        data = asdict(self)
        data["fits"] = self.fits
        data["units"] = {"macs": "multiply-accumulates per run of the layer", "flash/ram/weights/state/activations/"
                         "scratch/code/stack": "bytes", "period": "steps between runs"}
        return json.dumps(data, indent=2) + "\n"


def layer_costs(spec: Any, sched: Any, plan: Any, functions: dict | None) -> list[LayerCost]:
    """One row per spec layer, from its plan nodes; code from the compiled functions where known."""
    from soi_mcu.target.code_size import reachable

    by_layer: dict[str, list[Any]] = {}
    for node in plan.nodes:
        by_layer.setdefault(node.name, []).append(node)
    actions = [*plan.early_actions, *plan.step_actions, *plan.deferred_actions]
    counted: set[str] = set()
    rows = []
    for layer in spec.layers:
        nodes = by_layer.get(layer.name, [])
        kernels = tuple(dict.fromkeys(k for n in nodes for k in getattr(n, "kernels", ())))
        code = None
        if functions is not None:
            new = reachable(functions, list(kernels)) - counted
            counted |= new
            code = sum(functions[f][0] for f in new)
        writes = {ref.activation_buffer for a in actions if a.node.name == layer.name for ref in a.node.writes(a.what)}
        rows.append(LayerCost(
            name=layer.name, kind=layer.kind, period=sched.period[layer.name], macs=layer.macs(sched),
            weights=sum(getattr(n, "constant_bytes", 0) for n in nodes),
            state=sum(getattr(n, "state_bytes", 0) for n in nodes),
            activations=sum(plan.buffers.get(b, 0) for b in writes if b),
            scratch=max([getattr(n, "scratch_bytes", 0) for n in nodes] + [0]), code=code, kernels=kernels))
    return rows


def format_analysis(a: Analysis) -> str:
    head = (f"{'layer':22s} {'kind':10s} {'every':>5s} {'MACs':>9s} {'weights':>8s} {'state':>7s} {'acts':>7s} "
            f"{'scratch':>7s} {'code':>7s}  kernels")
    lines = [f"model {a.model} on {a.board} ({a.core}), {a.frame_rate_hz:g} frames/s", head, "-" * len(head)]
    for r in a.layers:
        code = "-" if r.code is None else f"{r.code:,}"
        lines.append(f"{r.name[:22]:22s} {r.kind:10s} {r.period:5d} {r.macs:9,} {r.weights:8,} {r.state:7,} "
                     f"{r.activations:7,} {r.scratch:7,} {code:>7s}  {', '.join(r.kernels)}")
    e = a.estimate
    mmacs = a.macs_per_step_avg * a.frame_rate_hz / 1e6
    known = [r.code for r in a.layers if r.code is not None]
    if a.estimate.get("code") is not None and known:
        lines.append(f"{'(model functions)':22s} {'':10s} {'':5s} {'':9s} {'':8s} {'':7s} {'':7s} {'':7s} "
                     f"{a.estimate['code'] - sum(known):7,}  soi_model_step, precompute, init, reset")
    lines += ["-" * len(head),
              f"MACs per step: avg {a.macs_per_step_avg:,.0f}, max {a.macs_per_step_max:,} ({mmacs:.2f} MMAC/s)",
              f"plan: weights {e['weights_flash']:,} B, state {e['state']:,} B, arena {e['arena']:,} B, held "
              f"activations {e['persistent_activations']:,} B, scratch {e['scratch']:,} B"]
    if a.flash is not None and a.ram is not None:
        lines.append(f"model library: flash {a.flash:,} B of {a.board_flash:,}, RAM {a.ram:,} B + stack {a.stack:,} B "
                     f"of {a.board_ram:,}")
    else:
        lines.append("model library: no cross compiler (arm-none-eabi-gcc) to measure code and data; plan figures only")
    lines.append(f"fits {a.board}: {'yes' if a.fits else 'NO'}")
    return "\n".join(lines)
