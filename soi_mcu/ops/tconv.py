"""TConv: the extrapolation of an S-CC pair by a transposed conv in time. Each input frame becomes
`factor` output frames (kernel = stride = factor in time, pointwise in frequency), restoring the rate."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered
from soi_mcu.ops.conv import lowered_conv
from soi_mcu.ops.conv_node import ConvNode
from soi_mcu.ops.records import MatchedConv
from soi_mcu.ops.requant import conv_requant
from soi_mcu.ops.tflite_act import fused_act


def check_extrapolation(name: str, factor: int, input_period: int) -> None:
    if factor < 1 or input_period % factor:
        raise SoiError(
            f"layer '{name}': extrapolation by {factor} needs an input period "
            f"divisible by it (input runs every {input_period} steps); put a stride-{factor} conv before it"
        )


@dataclass(frozen=True)
class TConv(LayerOp):
    cout: int
    factor: int = 2

    kind: ClassVar[str] = "tconv"
    buffer_rank: ClassVar[int] = 3
    torch_group: ClassVar[str] = "convs"

    def infer(self, period, channels, width, rf) -> Facts:
        p = period[self.input]
        check_extrapolation(self.name, self.factor, p)
        return Facts(p // self.factor, self.cout, width[self.input], rf[self.input] + p - 1)

    def works(self, sched, phase: int) -> bool:
        """It computes all its frames when its input frame arrives."""
        return sched.runs(self.input, phase)

    def macs(self, sched) -> int:
        """MACs of one run: all `factor` frames."""
        return self.factor * sched.width[self.name] * self.cout * sched.channels[self.input]

    def torch_module(self, sched) -> nn.Module:
        cin = sched.channels[self.input]
        return nn.ConvTranspose2d(cin, self.cout, (self.factor, 1), stride=(self.factor, 1))

    def offline(self, model, acts):
        return model.convs[self.name](acts[self.input])

    def stream(self, stepper, phase: int) -> torch.Tensor:
        """When the input frame arrives, compute all `factor` frames; hand them out one per period."""
        sched = stepper.schedule
        if self.works(sched, phase):
            conv = stepper.offline.convs[self.name]
            x = stepper.frames[self.input][None, :, None, :]  # (1, cin, 1, width)
            stepper.held[self.name] = conv(x)[0]  # (cout, factor, width)
            stepper.count_macs(self.macs(sched))
        r = (phase % sched.period[self.input]) // sched.period[self.name]
        return stepper.held[self.name][:, r]

    def keras(self, keras, offline, acts):
        tconv = keras.layers.Conv2DTranspose(self.cout, (self.factor, 1), strides=(self.factor, 1),
                                             padding="valid", name=self.name)
        out = tconv(acts[self.input])
        torch_tconv = offline.convs[self.name]
        w = torch_tconv.weight.detach().numpy().transpose(2, 3, 1, 0)  # (cin, cout, kh, kw) -> (kh, kw, cout, cin)
        tconv.set_weights([w, torch_tconv.bias.detach().numpy()])
        return out

    def match(self, m) -> MatchedConv:
        src = m.acts[self.input]
        cands = [op for op in m.readers(src) if op.kind == "TRANSPOSE_CONV" and op.inputs[2] == src]
        if not cands:
            raise SoiError(f"layer '{self.name}': no TRANSPOSE_CONV reads its input in the .tflite")
        op = cands[0]
        m.used.add(op.index)
        o = op.options
        m.acts[self.name] = op.outputs[0]
        return MatchedConv(
            input=m.graph.tensors[src], output=m.graph.tensors[op.outputs[0]], filter=m.graph.tensors[op.inputs[1]],
            bias=m.graph.tensors[op.inputs[3]] if len(op.inputs) > 3 and op.inputs[3] >= 0 else None,
            stride=(o["strideH"], o["strideW"]), dilation=(1, 1), act=fused_act(o.get("fusedActivationFunction", 0)),
        )

    def lower(self, ctx: LowerContext) -> Lowered:
        """All `factor` frames are computed when the input frame arrives (one 1x1 conv each, frame r
        with kernel slice r), and handed out one per output period: the reference selects the phase's."""
        sched, m = ctx.sched, ctx.matched[self.name]
        cin = sched.channels[self.input]
        if m.filter.shape != (self.cout, self.factor, 1, cin) or m.stride != (self.factor, 1) or m.act != "none":
            raise SoiError(f"layer '{self.name}': TRANSPOSE_CONV in the .tflite differs from the spec "
                           f"(filter {m.filter.shape}, stride {m.stride}, activation {m.act})")
        multipliers, shifts = conv_requant(m, self.cout)
        width = sched.width[self.name]
        frame = width * self.cout
        buffer = f"soi_buf_{self.name}"
        nodes = []
        for r in range(self.factor):
            node = ConvNode(
                name=f"{self.name}_r{r}", source=ctx.buf[self.input], target=BufRef(buffer, offset=r * frame),
                cin=cin, cout=self.cout, kt=1, kf=1, dilation=1, window=1, in_width=width, out_width=width,
                fstride=1, depthwise=False, push_period=sched.period[self.input], run_period=sched.period[self.input],
                input_offset=-int(m.input.zero_point[0]), output_offset=int(m.output.zero_point[0]),
                act_min=-128, act_max=127, state_zero_point=0,
                weights=np.ascontiguousarray(np.asarray(m.filter.data, dtype=np.int8)[:, r:r + 1]),
                bias=m.bias_values(self.cout), multipliers=multipliers, shifts=shifts, macs=width * self.cout * cin,
            )
            nodes.append(lowered_conv(node, m, ctx).nodes[0])
        out = BufRef(buffer, select=(sched.period[self.input], sched.period[self.name], frame))
        return Lowered(tuple(nodes), out, m.output, {buffer: self.factor * frame})

    def actions(self, lowered: Lowered, sched) -> list:
        def group(p):
            return (sched.group(self.name, p) if self.works(sched, p) else None)
        return [("run", n, group) for n in lowered.nodes]
