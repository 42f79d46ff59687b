"""PReLU: a parametric ReLU with a learned slope for negative values, one per channel or one shared.

In int8 it is TFLite's PRELU: the input's non-negative values are rescaled by input/output scale,
the negative ones multiplied by the int8 slope first and rescaled by input*alpha/output scale (two
multipliers, TFLite's double rounding); the firmware runs it as soi_prelu_s8."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops.activation import ActivationNode
from soi_mcu.ops.base import BufRef, LayerOp, LowerContext, Lowered
from soi_mcu.ops.conv import Conv
from soi_mcu.ops.int8_ref import mbqm
from soi_mcu.ops.requant import quantize_multiplier
from soi_mcu.ops.tconv_freq import TConvFreq


@dataclass(frozen=True)
class PReluNode:
    kind: ClassVar[str] = "prelu"
    declare_rank: ClassVar[int] = 0  # its slopes and parameters, in layer order with the convs' constants
    headers: ClassVar[tuple[str, ...]] = ("soi_prelu.h",)
    name: str
    source: BufRef
    target: BufRef
    width: int
    channels: int
    alpha: np.ndarray  # int8, one per channel or one for all
    input_offset: int
    alpha_offset: int
    output_offset: int
    positive_multiplier: int
    positive_shift: int
    negative_multiplier: int
    negative_shift: int
    run_period: int

    @property
    def size(self) -> int:
        return self.width * self.channels

    @property
    def constant_bytes(self) -> int:
        return int(self.alpha.size)

    @property
    def kernels(self) -> tuple[str, ...]:
        return ("soi_prelu_s8",)

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return (self.source,)

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


def _import_prelu(builder, path: str, module: nn.PReLU) -> None:
    layer = PReLU(builder.layer_name(path), builder.source, shared=module.num_parameters == 1)

    def load(offline) -> None:
        offline.prelus[layer.name].weight.copy_(module.weight.detach().reshape(-1))

    builder.append(layer, load)


@dataclass(frozen=True)
class PReLU(LayerOp):
    shared: bool = False  # one slope for every channel (nn.PReLU() with num_parameters=1)

    kind: ClassVar[str] = "prelu"
    torch_group: ClassVar[str] = "prelus"
    buffer_rank: ClassVar[int] = 7
    torch_imports: ClassVar[dict] = {nn.PReLU: _import_prelu}

    def check_neighbours(self, layers) -> None:
        src = layers.get(self.input)
        # TFLite's converter folds the PReLU's own relu into the conv's fused one and then cannot form a
        # PRELU (it leaves float NEG/MUL/ADD); and after a ReLU the PReLU has nothing to do anyway.
        if isinstance(src, Conv | TConvFreq) and src.act == "relu":
            raise SoiError(f"layer '{self.name}': a PReLU right after a ReLU does nothing (its input is never "
                           f"negative) and does not convert to int8; drop it, or give '{src.name}' act='none'")

    def slopes(self, sched) -> int:
        return 1 if self.shared else sched.channels[self.input]

    def torch_module(self, sched) -> nn.Module:
        return nn.PReLU(num_parameters=self.slopes(sched), init=0.25)

    def offline(self, model, acts):
        return model.prelus[self.name](acts[self.input])  # (batch, channels, ...): slope per channel

    def stream(self, stepper, phase: int):
        x = stepper.frames[self.input]  # (channels, width)
        alpha = stepper.offline.prelus[self.name].weight.detach().reshape(-1, 1)
        return torch.where(x >= 0, x, alpha * x)

    def keras(self, keras, offline, acts):
        src = acts[self.input]
        # (batch, time, freq, channels): one slope per channel, or one for all
        layer = keras.layers.PReLU(shared_axes=[1, 2, 3] if self.shared else [1, 2], name=self.name)
        out = layer(src)
        alpha = offline.prelus[self.name].weight.detach().numpy()
        layer.set_weights([alpha.reshape(1, 1, -1)])
        return out

    def match(self, m):
        src = m.acts[self.input]
        op = m.consumer(src, "PRELU", self.name)
        m.acts[self.name] = op.outputs[0]
        return m.graph.tensors[op.inputs[1]], m.graph.tensors[op.outputs[0]]

    def lower(self, ctx: LowerContext) -> Lowered:
        alpha, out = ctx.matched[self.name]
        inp = ctx.quant[self.input]
        sched = ctx.sched
        if alpha.data is None or len(alpha.scale) != 1:
            raise SoiError(f"layer '{self.name}': the PRELU slope in the .tflite is not one int8 tensor with one scale")
        slopes = np.asarray(alpha.data, dtype=np.int8).reshape(-1)
        if slopes.size not in (1, sched.channels[self.name]):
            raise SoiError(f"layer '{self.name}': {slopes.size} PRELU slopes for {sched.channels[self.name]} channels")
        in_scale, out_scale, a_scale = float(inp.scale[0]), float(out.scale[0]), float(alpha.scale[0])
        pos = quantize_multiplier(in_scale / out_scale)
        neg = quantize_multiplier(in_scale * a_scale / out_scale)
        target, size = BufRef(f"soi_buf_{self.name}"), sched.width[self.name] * sched.channels[self.name]
        if slopes.size == 1:
            # one slope: the output is a function of the int8 input alone, so one 256-entry table
            # (GTCRN's PReLUs: about 4 cycles per value instead of 90 with the requantizations)
            table = prelu_table(-int(inp.zero_point[0]), int(slopes[0]) - int(alpha.zero_point[0]),
                                int(out.zero_point[0]), pos, neg)
            table_node = ActivationNode(name=self.name, fn="prelu", ops=("PRELU",), source=ctx.buf[self.input],
                                        target=target, size=size, table=table, run_period=sched.period[self.name])
            return Lowered((table_node,), target, out, {target.buffer: size})
        node = PReluNode(
            name=self.name, source=ctx.buf[self.input], target=target,
            width=sched.width[self.name], channels=sched.channels[self.name], alpha=slopes,
            input_offset=-int(inp.zero_point[0]), alpha_offset=-int(alpha.zero_point[0]),
            output_offset=int(out.zero_point[0]), positive_multiplier=pos[0], positive_shift=pos[1],
            negative_multiplier=neg[0], negative_shift=neg[1], run_period=sched.period[self.name],
        )
        return Lowered((node,), node.target, out, {node.target.buffer: node.size})


def prelu_table(input_offset: int, alpha: int, output_offset: int, positive: tuple[int, int],
                negative: tuple[int, int]) -> np.ndarray:
    """TFLite's int8 PRELU of one slope (alpha: the slope's int8 value plus its offset) for each of the
    256 inputs, as reference_ops::BroadcastPrelu4DSlow computes it (soi_prelu_s8 in C)."""
    table = np.empty(256, np.int8)
    for i, v in enumerate(range(-128, 128)):
        x = input_offset + v
        y = mbqm(x, *positive) if x >= 0 else mbqm(x * alpha, *negative)
        table[i] = min(127, max(-128, y + output_offset))
    return table
