"""Sub: the first input minus the second (inputs of equal shape), TFLite's int8 SUB arithmetic.

TFLite runs int8 SUB as its ADD kernel with the second input's multiplier negated (sub.cc:
PrepareGeneralSubOp multiplies input2_multiplier by -1, EvalQuantized calls reference_integer_ops::Add).
That is not the same as subtracting the rescaled second input: the rounding doubling high multiply
rounds halves up, so SRDHM(x, -m) != -SRDHM(x, m) at exact halves. The firmware therefore calls
arm_elementwise_add_s8 with the negated multiplier too, which is exactly LiteRT's arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from soi_mcu.ops.add import add_node
from soi_mcu.ops.base import LowerContext, Lowered
from soi_mcu.ops.elementwise import Elementwise


@dataclass(frozen=True)
class Sub(Elementwise):
    kind: ClassVar[str] = "sub"
    buffer_rank: ClassVar[int] = 8
    tflite_op: ClassVar[str] = "SUB"
    keras_layer: ClassVar[str] = "Subtract"
    verb: ClassVar[str] = "subtracted"

    def combine(self, parts: list[torch.Tensor]) -> torch.Tensor:
        return parts[0] - parts[1]

    def lower(self, ctx: LowerContext) -> Lowered:
        return add_node(self, ctx, sign=-1, what="subtraction")
