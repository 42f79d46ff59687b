"""Softmax: over the channels of each (frame, frequency bin), TFLite's int8 SOFTMAX on the last axis.

LiteRT's reference kernel runs it in gemmlowp fixed point: the differences to the row's maximum,
rescaled by a multiplier with 5 integer bits (PreprocessSoftmaxScaling, beta 1), exp() of those not
below diff_min (CalculateInputRadius), normalised by the sum's reciprocal; the output is always
scale 1/256, zero point -128. The firmware calls CMSIS-NN's arm_softmax_s8 with those parameters;
where the converter requantizes that output (an int8 QUANTIZE, e.g. before a concat), a 256-entry
table after it does the same (soi_table_s8, in place)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops.activation import claim_requantize
from soi_mcu.ops.base import BufRef, LayerOp, LowerContext, Lowered
from soi_mcu.ops.requant import quantize_multiplier
from soi_mcu.ops.tables import chain_table, check_output_quant

SCALED_DIFF_INTEGER_BITS = 5  # TFLite's kScaledDiffIntegerBits for int8 softmax


def softmax_params(input_scale: float, beta: float = 1.0) -> tuple[int, int, int]:
    """(multiplier, left shift, diff_min) as TFLite's SoftmaxPrepare derives them for int8."""
    bits = SCALED_DIFF_INTEGER_BITS
    real = min(beta * input_scale * (1 << (31 - bits)), (1 << 31) - 1.0)  # PreprocessSoftmaxScaling
    mult, shift = quantize_multiplier(real)
    if shift < 0:
        raise SoiError(f"softmax: input scale {input_scale:.6g} is too small for TFLite's int8 softmax")
    radius = math.floor(((1 << bits) - 1) * (1 << (31 - bits)) / (1 << shift))  # CalculateInputRadius
    return mult, shift, -radius


@dataclass(frozen=True)
class SoftmaxNode:
    kind: ClassVar[str] = "softmax"
    name: str
    source: BufRef
    target: BufRef
    rows: int  # frequency bins
    row_size: int  # channels
    multiplier: int
    shift: int
    diff_min: int
    run_period: int
    requantize: np.ndarray | None = None  # int8[256]: the QUANTIZE after the SOFTMAX as a table

    declare_rank: ClassVar[int] = 0  # the requantize table, in layer order with the convs' constants

    @property
    def size(self) -> int:
        return self.rows * self.row_size

    @property
    def constant_bytes(self) -> int:
        return 0 if self.requantize is None else int(self.requantize.size)

    @property
    def kernels(self) -> tuple[str, ...]:
        return ("arm_softmax_s8",)

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return (self.source,)

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


def _import_softmax(builder, path: str, module: nn.Softmax) -> None:
    if module.dim not in (1, -3):  # (batch, channels, time, frequency)
        raise SoiError(f"{path}: nn.Softmax(dim={module.dim}) is not over the channels; only dim=1 imports")
    builder.append(Softmax(builder.layer_name(path), builder.source))


@dataclass(frozen=True)
class Softmax(LayerOp):
    kind: ClassVar[str] = "softmax"
    buffer_rank: ClassVar[int] = 9
    torch_imports: ClassVar[dict] = {nn.Softmax: _import_softmax}

    def offline(self, model, acts):
        return torch.softmax(acts[self.input], dim=1)  # (batch, channels, time, frequency)

    def stream(self, stepper, phase: int):
        return torch.softmax(stepper.frames[self.input], dim=0)  # (channels, width)

    def keras(self, keras, offline, acts):
        return keras.layers.Softmax(axis=-1, name=self.name)(acts[self.input])  # NHWC: channels last

    def match(self, m):
        op = m.consumer(m.acts[self.input], "SOFTMAX", self.name)
        if op.options.get("beta", 1.0) != 1.0:
            raise SoiError(f"layer '{self.name}': SOFTMAX with beta {op.options['beta']}; the export makes beta 1")
        requant = claim_requantize(m, op.outputs[0])
        m.acts[self.name] = requant[0][3].index if requant else op.outputs[0]
        return m.graph.tensors[op.outputs[0]], requant

    def lower(self, ctx: LowerContext) -> Lowered:
        (out, requant), inp, sched = ctx.matched[self.name], ctx.quant[self.input], ctx.sched
        check_output_quant("SOFTMAX", out, 1 / 256, -128)
        mult, shift, diff_min = softmax_params(float(inp.scale[0]))
        node = SoftmaxNode(
            name=self.name, source=ctx.buf[self.input], target=BufRef(f"soi_buf_{self.name}"),
            rows=sched.width[self.name], row_size=sched.channels[self.name], multiplier=mult, shift=shift,
            diff_min=diff_min, run_period=sched.period[self.name],
            requantize=np.asarray(chain_table(requant), dtype=np.int8) if requant else None,
        )
        return Lowered((node,), node.target, requant[0][3] if requant else out, {node.target.buffer: node.size})
