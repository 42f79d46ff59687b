"""Mul: the elementwise product of two inputs of equal shape (a mask times a spectrum, a gate),
TFLite's int8 MUL arithmetic.

TFLite's int8 MUL (mul.cc Prepare, reference_integer_ops::MulElementwise): the product of the two
offset inputs, requantized once by input1 scale x input2 scale / output scale (QuantizeMultiplier of
the double product), + output offset, clamped to the fused activation. The firmware runs it as
CMSIS-NN's arm_elementwise_mul_s8."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from soi_mcu.ops.base import BufRef, LowerContext, Lowered
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

    def combine(self, parts: list[torch.Tensor]) -> torch.Tensor:
        return parts[0] * parts[1]

    def lower(self, ctx: LowerContext) -> Lowered:
        m = ctx.matched[self.name]
        s1, s2 = (float(t.scale[0]) for t in m.inputs)
        q = quantize_multiplier(s1 * s2 / float(m.output.scale[0]))  # in double, as mul.cc casts each scale
        act_min, act_max = activation_range(m.act, m.output)
        node = MulNode(
            name=self.name, sources=tuple(ctx.buf[s] for s in m.sources), target=BufRef(f"soi_buf_{self.name}"),
            size=ctx.sched.width[self.name] * ctx.sched.channels[self.name],
            input_offsets=tuple(-int(t.zero_point[0]) for t in m.inputs), output_offset=int(m.output.zero_point[0]),
            output_multiplier=q[0], output_shift=q[1], act_min=act_min, act_max=act_max,
        )
        return Lowered((node,), node.target, m.output, {node.target.buffer: node.size})
