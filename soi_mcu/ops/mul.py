"""Mul: the elementwise product of two inputs of equal shape (a mask times a spectrum, a gate), or of
a frame and a one-bin frame of the same channels, broadcast over the bins (a squeeze-and-excitation or
GTCRN's temporal attention: a per-channel gate from pooled features), TFLite's int8 MUL arithmetic.

TFLite's int8 MUL (mul.cc Prepare, reference_integer_ops::MulElementwise): the product of the two
offset inputs, requantized once by input1 scale x input2 scale / output scale (QuantizeMultiplier of
the double product), + output offset, clamped to the fused activation. The firmware runs it as
CMSIS-NN's arm_elementwise_mul_s8."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from soi_mcu.ops.base import BufRef, Facts, LowerContext, Lowered
from soi_mcu.ops.elementwise import Elementwise
from soi_mcu.ops.requant import activation_range, quantize_multiplier


@dataclass(frozen=True)
class MulNode:
    kind: ClassVar[str] = "mul"
    name: str
    sources: tuple[BufRef, BufRef]
    target: BufRef
    size: int
    input_offsets: tuple[int, int]
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int
    bins: int = 1  # > 1: source `broadcast` has one bin, used for each of the other's `bins` bins
    broadcast: int = -1  # which source is the one-bin gate (-1: none; both have `size` values)

    @property
    def kernels(self) -> tuple[str, ...]:
        return ("arm_elementwise_mul_s8",)

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return self.sources

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


@dataclass(frozen=True)
class Mul(Elementwise):
    kind: ClassVar[str] = "mul"
    buffer_rank: ClassVar[int] = 8
    tflite_op: ClassVar[str] = "MUL"
    keras_layer: ClassVar[str] = "Multiply"
    verb: ClassVar[str] = "multiplied"

    def infer(self, period, channels, width, rf) -> Facts:
        widths = sorted({width[s] for s in self.inputs})
        if len(widths) == 2 and widths[0] == 1:  # a one-bin gate over every bin of the other input
            ones = {s: 1 for s in self.inputs}
            facts = super().infer(period, channels, ones, rf)
            return Facts(facts.period, facts.channels, widths[1], facts.receptive_field)
        return super().infer(period, channels, width, rf)

    def combine(self, parts: list[torch.Tensor]) -> torch.Tensor:
        return parts[0] * parts[1]  # torch broadcasts a one-bin gate over the bins

    def lower(self, ctx: LowerContext) -> Lowered:
        m = ctx.matched[self.name]
        s1, s2 = (float(t.scale[0]) for t in m.inputs)
        q = quantize_multiplier(s1 * s2 / float(m.output.scale[0]))  # in double, as mul.cc casts each scale
        act_min, act_max = activation_range(m.act, m.output)
        sched = ctx.sched
        bins, channels = sched.width[self.name], sched.channels[self.name]
        one_bin = [i for i, s in enumerate(m.sources) if sched.width[s] == 1]
        broadcast = one_bin[0] if bins > 1 and len(one_bin) == 1 else -1
        node = MulNode(
            name=self.name, sources=tuple(ctx.buf[s] for s in m.sources), target=BufRef(f"soi_buf_{self.name}"),
            size=channels if broadcast >= 0 else bins * channels,
            input_offsets=tuple(-int(t.zero_point[0]) for t in m.inputs), output_offset=int(m.output.zero_point[0]),
            output_multiplier=q[0], output_shift=q[1], act_min=act_min, act_max=act_max,
            bins=bins if broadcast >= 0 else 1, broadcast=broadcast,
        )
        return Lowered((node,), node.target, m.output, {node.target.buffer: bins * channels})
