"""Conv: the STMC convolution. Causal in time (its partial state keeps the last (kt-1)*dilation+1
input frames), 'same' in frequency (kf odd); strided in time it is the compressing half of an S-CC
pair; depthwise, with batch norm folded, or a fully connected head over one bin."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops.activations import ACTIVATIONS, activate, fused, keras_activation, keras_table_op
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered, own_group
from soi_mcu.ops.conv_node import ConvNode
from soi_mcu.ops.records import MatchedConv
from soi_mcu.ops.requant import activation_range, conv_requant
from soi_mcu.ops.tables import elu_table
from soi_mcu.ops.tflite_act import fused_act, with_elu


@dataclass(frozen=True)
class Conv(LayerOp):
    """Causal in time (left padding (kt-1)*dilation), 'same' in frequency (kf odd)."""

    cout: int
    kt: int = 3
    kf: int = 3
    dilation: int = 1
    stride: int = 1  # stride in time: >1 makes this the compressing half of an S-CC pair
    act: str = "relu"
    fstride: int = 1  # stride in frequency (encoders of a U-Net)
    depthwise: bool = False  # one filter per input channel (cout = cin x channel multiplier)
    norm: bool = False  # batch norm between conv and activation (folded into the conv for streaming and int8)

    kind: ClassVar[str] = "conv"
    buffer_rank: ClassVar[int] = 0
    pushes: ClassVar[bool] = True
    torch_group: ClassVar[str] = "convs"

    def out_width(self, width: int) -> int:
        return (width + 2 * (self.kf // 2) - self.kf) // self.fstride + 1

    @property
    def window(self) -> int:
        """Input frames one output frame depends on (the partial state keeps window-1 of them)."""
        return (self.kt - 1) * self.dilation + 1

    def infer(self, period, channels, width, rf) -> Facts:
        if self.kt < 1 or self.kf < 1 or self.kf % 2 == 0:
            raise SoiError(f"layer '{self.name}': kernel ({self.kt}, {self.kf}) must have kt >= 1 and odd kf >= 1")
        if self.dilation < 1 or self.stride < 1 or self.fstride < 1:
            raise SoiError(f"layer '{self.name}': dilation and strides must be >= 1")
        if self.stride > 1 and self.dilation > 1:
            raise SoiError(f"layer '{self.name}': a time-strided conv cannot also be dilated")
        if self.act not in ACTIVATIONS:
            raise SoiError(f"layer '{self.name}': activation '{self.act}' is not one of {ACTIVATIONS}")
        if self.cout < 1:
            raise SoiError(f"layer '{self.name}': cout must be >= 1")
        out_w = self.out_width(width[self.input])
        if out_w < 1:
            raise SoiError(f"layer '{self.name}': frequency stride {self.fstride} leaves no bins")
        if self.depthwise and self.cout % channels[self.input]:
            raise SoiError(f"layer '{self.name}': a depthwise conv needs cout ({self.cout}) to be a multiple "
                           f"of its input channels ({channels[self.input]})")
        p = period[self.input]
        return Facts(p * self.stride, self.cout, out_w, rf[self.input] + (self.window - 1) * p)

    def fully_connected(self, in_width: int) -> bool:
        """A 1x1 conv over frames of one bin (a classifier head after FreqPool) is a fully connected
        layer: the firmware runs it with arm_fully_connected_s8. (The .tflite keeps it a CONV_2D: LiteRT's
        reference FULLY_CONNECTED requantizes with single rounding, CMSIS-NN's FC with TFLite's double
        rounding, as CONV_2D does.)"""
        return (self.kt == 1 and self.kf == 1 and in_width == 1 and self.stride == 1 and self.fstride == 1
                and not self.depthwise)

    def macs(self, sched) -> int:
        """Multiply-accumulates of one output frame (nominal kernel, as the paper counts)."""
        cin = 1 if self.depthwise else sched.channels[self.input]
        return sched.width[self.name] * self.cout * self.kt * self.kf * cin

    # -- float ------------------------------------------------------------------------------
    def torch_module(self, sched) -> nn.Module:
        cin = sched.channels[self.input]
        return nn.Conv2d(cin, self.cout, (self.kt, self.kf), stride=(self.stride, self.fstride),
                         dilation=(self.dilation, 1), groups=cin if self.depthwise else 1)

    def norm_module(self, sched) -> nn.Module | None:
        return nn.BatchNorm2d(self.cout) if self.norm else None

    def offline(self, model, acts):
        x = nn.functional.pad(acts[self.input], (self.kf // 2, self.kf // 2, (self.kt - 1) * self.dilation, 0))
        y = model.convs[self.name](x)
        if self.name in model.norms:
            y = model.norms[self.name](y)
        return activate(y, self.act)

    def state_shape(self, sched) -> tuple[int, int, int]:
        return sched.channels[self.input], self.window, sched.width[self.input]

    def stream(self, stepper, phase: int) -> torch.Tensor:
        state = stepper.states[self.name]
        weight, bias = stepper.offline.conv_params(self.name)  # batch norm folded in
        x = state[:, :: self.dilation][None]  # the kt taps the kernel reads
        x = nn.functional.pad(x, (self.kf // 2, self.kf // 2))
        groups = stepper.offline.convs[self.name].groups
        y = nn.functional.conv2d(x, weight, bias, stride=(1, self.fstride), groups=groups)[0, :, 0]
        stepper.count_macs(self.macs(stepper.schedule))
        return activate(y, self.act)

    # -- int8 -------------------------------------------------------------------------------
    def keras(self, keras, offline, acts):
        pad = keras.layers.ZeroPadding2D(((self.window - 1, 0), (self.kf // 2, self.kf // 2)),
                                         name=f"{self.name}__pad")(acts[self.input])
        common = {"strides": (self.stride, self.fstride), "dilation_rate": (self.dilation, 1),
                  "activation": keras_activation(self.act), "name": self.name}
        weight, bias = offline.conv_params(self.name)  # batch norm folded in
        w = weight.numpy()
        if self.depthwise:
            mult = self.cout // offline.schedule.channels[self.input]
            conv = keras.layers.DepthwiseConv2D((self.kt, self.kf), depth_multiplier=mult, **common)
            out = conv(pad)
            # torch (cin*mult, 1, kt, kf), out channel c*mult+m -> keras (kt, kf, cin, mult)
            kernel = w[:, 0].reshape(-1, mult, self.kt, self.kf).transpose(2, 3, 0, 1)
        else:
            conv = keras.layers.Conv2D(self.cout, (self.kt, self.kf), **common)
            out = conv(pad)
            kernel = w.transpose(2, 3, 1, 0)  # OIHW -> HWIO
        conv.set_weights([kernel, bias.numpy()])
        return keras_table_op(keras, self.act, self.name, out)

    def match(self, m) -> MatchedConv:
        src = m.acts[self.input]
        kind = "DEPTHWISE_CONV_2D" if self.depthwise else "CONV_2D"
        pads = [op for op in m.readers(src) if op.kind == "PAD"
                and any(c.kind == kind for c in m.graph.consumers.get(op.outputs[0], []))]
        conv_in = src
        if pads:  # the causal/frequency padding; the firmware does it with state and kernel padding
            m.used.add(pads[0].index)
            conv_in = pads[0].outputs[0]
        op = m.consumer(conv_in, kind, self.name)
        o = op.options
        matched = MatchedConv(
            input=m.graph.tensors[src], output=m.graph.tensors[op.outputs[0]],
            filter=m.graph.tensors[op.inputs[1]], bias=m.graph.tensors[op.inputs[2]],
            stride=(o["strideH"], o["strideW"]), dilation=(o["dilationHFactor"], o["dilationWFactor"]),
            act=fused_act(o["fusedActivationFunction"]),
        )
        m.acts[self.name] = op.outputs[0]
        if self.act == "elu":
            matched = with_elu(m, self.name, matched)
            m.acts[self.name] = matched.elu.index
        return matched

    def lower(self, ctx: LowerContext) -> Lowered:
        sched, m = ctx.sched, ctx.matched[self.name]
        cin = sched.channels[self.input]
        want = (1, self.kt, self.kf, self.cout) if self.depthwise else (self.cout, self.kt, self.kf, cin)
        if m.filter.shape != want:
            raise SoiError(f"layer '{self.name}': filter shape {m.filter.shape} in the .tflite, expected {want}")
        if (m.stride != (self.stride, self.fstride) or m.dilation != (self.dilation, 1)
                or m.act != fused(self.act)):
            raise SoiError(f"layer '{self.name}': stride/dilation/activation in the .tflite differ from the spec")
        multipliers, shifts = conv_requant(m, self.cout)
        act_min, act_max = activation_range(fused(self.act), m.output)
        in_zp = int(m.input.zero_point[0])
        node = ConvNode(
            name=self.name, source=ctx.buf[self.input], target=BufRef(f"soi_buf_{self.name}"), cin=cin, cout=self.cout,
            kt=self.kt, kf=self.kf, dilation=self.dilation, window=self.window,
            in_width=sched.width[self.input], out_width=sched.width[self.name], fstride=self.fstride,
            depthwise=self.depthwise, push_period=sched.period[self.input], run_period=sched.period[self.name],
            input_offset=-in_zp, output_offset=int(m.output.zero_point[0]), act_min=act_min, act_max=act_max,
            state_zero_point=in_zp, weights=np.asarray(m.filter.data, dtype=np.int8),
            bias=m.bias_values(self.cout), multipliers=multipliers, shifts=shifts, macs=self.macs(sched),
            fully_connected=self.fully_connected(sched.width[self.input]),
        )
        return lowered_conv(node, m, ctx)

    def actions(self, lowered: Lowered, sched) -> list:
        return conv_actions(self, lowered.nodes[0], sched)


def lowered_conv(node: ConvNode, m: MatchedConv, ctx: LowerContext) -> Lowered:
    """A conv-family node with its activation table and its fast kernel, where those apply."""
    if m.elu is not None:
        node = replace(node, lut=elu_table(m.output, m.elu))
    if ctx.fast_kernels and ctx.core_is_fast("soi_conv_s16w_s8"):
        node = node.on_fast_kernel(True)
    return Lowered((node,), node.target, m.elu if m.elu is not None else m.output, {node.target.buffer: node.out_size})


def conv_actions(layer: Any, node: ConvNode, sched) -> list:
    """A conv takes its input's new frame with its own work, or after the step when it does not run."""
    acts: list = []
    if node.has_state:
        acts.append(("push", node, lambda p: sched.push_group(layer, p) if sched.runs(layer.input, p) else None))
    acts.append(("run", node, own_group(layer, sched)))
    return acts
