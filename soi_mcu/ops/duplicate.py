"""Duplicate: the extrapolation of an S-CC pair that repeats each frame `factor` times. It costs
nothing in C: the input's buffer keeps its last frame until the next one."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from soi_mcu.ops.base import Facts, LayerOp, LowerContext, Lowered
from soi_mcu.ops.tconv import check_extrapolation


@dataclass(frozen=True)
class Duplicate(LayerOp):
    factor: int = 2

    kind: ClassVar[str] = "duplicate"
    holds_input_frame: ClassVar[bool] = True

    def infer(self, period, channels, width, rf) -> Facts:
        p = period[self.input]
        check_extrapolation(self.name, self.factor, p)
        return Facts(p // self.factor, channels[self.input], width[self.input], rf[self.input] + p - 1)

    def offline(self, model, acts):
        return torch.repeat_interleave(acts[self.input], self.factor, dim=2)

    def stream(self, stepper, phase: int):
        return stepper.frames[self.input]

    def keras(self, keras, offline, acts):
        # concat + reshape: UpSampling2D would become TILE, which the reference interpreter lacks
        src = acts[self.input]
        _, t, f, c = src.shape
        cat = keras.layers.Concatenate(axis=2, name=f"{self.name}__cat")([src] * self.factor)
        return keras.layers.Reshape((t * self.factor, f, c), name=self.name)(cat)

    def match(self, m):
        return m.self_concat(self, axis=2)  # frames repeated in time

    def lower(self, ctx: LowerContext) -> Lowered:
        return Lowered((), ctx.buf[self.input], ctx.quant[self.input])


