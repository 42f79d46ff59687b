"""Concat: a skip connection by concatenation along channels."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered, same_quant


@dataclass(frozen=True)
class ConcatNode:
    kind: ClassVar[str] = "concat"
    name: str
    sources: tuple[BufRef, ...]
    channels: tuple[int, ...]
    target: BufRef
    freq: int
    run_period: int

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return self.sources

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


def skip_facts(layer: LayerOp, period, width, rf) -> tuple[int, int, int]:
    """Period, width and receptive field of a skip connection; its inputs must agree on rate and bins."""
    periods = {period[s] for s in layer.inputs}
    if len(periods) != 1:
        raise SoiError(f"layer '{layer.name}': concatenated inputs run at different rates {sorted(periods)}")
    widths = {width[s] for s in layer.inputs}
    if len(widths) != 1:
        raise SoiError(f"layer '{layer.name}': concatenated inputs have different frequency bins {sorted(widths)}")
    return periods.pop(), widths.pop(), max(rf[s] for s in layer.inputs)


def aligned(parts: list[torch.Tensor]) -> list[torch.Tensor]:
    """Offline inputs cut to the shortest in time (a duplication may run past the sequence)."""
    t_len = min(p.shape[2] for p in parts)
    return [p[:, :, :t_len] for p in parts]


@dataclass(frozen=True)
class Concat(LayerOp):
    kind: ClassVar[str] = "concat"
    buffer_rank: ClassVar[int] = 4
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 64

    def infer(self, period, channels, width, rf) -> Facts:
        p, w, r = skip_facts(self, period, width, rf)
        return Facts(p, sum(channels[s] for s in self.inputs), w, r)

    def offline(self, model, acts):
        return torch.cat(aligned([acts[s] for s in self.inputs]), dim=1)

    def stream(self, stepper, phase: int):
        return torch.cat([stepper.frames[s] for s in self.inputs], dim=0)

    def keras(self, keras, offline, acts):
        parts = [acts[s] for s in self.inputs]
        t_len = min(p.shape[1] for p in parts)
        parts = [p if p.shape[1] == t_len else keras.layers.Cropping2D(((0, p.shape[1] - t_len), (0, 0)))(p)
                 for p in parts]
        return keras.layers.Concatenate(axis=-1, name=self.name)(parts)

    def match(self, m):
        srcs = [m.acts[s] for s in self.inputs]
        cands = [op for op in m.readers(srcs[0]) if op.kind == "CONCATENATION" and list(op.inputs) == srcs]
        if not cands:
            raise SoiError(f"layer '{self.name}': no CONCATENATION of {self.inputs} in the .tflite")
        m.used.add(cands[0].index)
        m.acts[self.name] = cands[0].outputs[0]
        return m.graph.tensors[cands[0].outputs[0]]

    def lower(self, ctx: LowerContext) -> Lowered:
        out = ctx.matched[self.name]
        for src in self.inputs:
            same_quant(self.name, ctx.quant[src], out)
        sched = ctx.sched
        node = ConcatNode(self.name, tuple(ctx.buf[s] for s in self.inputs),
                          tuple(sched.channels[s] for s in self.inputs), BufRef(f"soi_buf_{self.name}"),
                          sched.width[self.name], sched.period[self.name])
        return Lowered((node,), node.target, out, {node.target.buffer: node.freq * sum(node.channels)})
