"""Upsample: nearest-neighbour upsampling in frequency by `factor` (a U-Net decoder)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered, same_quant


@dataclass(frozen=True)
class UpsampleNode:
    kind: ClassVar[str] = "upsample"
    name: str
    source: BufRef
    target: BufRef
    width: int  # input bins
    channels: int
    factor: int

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return (self.source,)

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


@dataclass(frozen=True)
class Upsample(LayerOp):
    factor: int = 2

    kind: ClassVar[str] = "upsample"
    buffer_rank: ClassVar[int] = 5

    def infer(self, period, channels, width, rf) -> Facts:
        if self.factor < 1:
            raise SoiError(f"layer '{self.name}': upsampling factor must be >= 1")
        s = self.input
        return Facts(period[s], channels[s], width[s] * self.factor, rf[s])

    def offline(self, model, acts):
        return torch.repeat_interleave(acts[self.input], self.factor, dim=3)

    def stream(self, stepper, phase: int):
        return torch.repeat_interleave(stepper.frames[self.input], self.factor, dim=1)

    def keras(self, keras, offline, acts):
        src = acts[self.input]
        _, t, f, c = src.shape
        cat = keras.layers.Concatenate(axis=3, name=f"{self.name}__cat")([src] * self.factor)
        return keras.layers.Reshape((t, f * self.factor, c), name=self.name)(cat)

    def match(self, m):
        return m.self_concat(self, axis=3)  # bins repeated along channels, then reshaped

    def lower(self, ctx: LowerContext) -> Lowered:
        same_quant(self.name, ctx.quant[self.input], ctx.matched[self.name])
        sched = ctx.sched
        node = UpsampleNode(self.name, ctx.buf[self.input], BufRef(f"soi_buf_{self.name}"), sched.width[self.input],
                            sched.channels[self.name], self.factor)
        return Lowered((node,), node.target, ctx.matched[self.name],
                       {node.target.buffer: node.width * node.factor * node.channels})
