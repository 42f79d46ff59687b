"""Conv: the STMC convolution. Causal in time (its partial state keeps the last (kt-1)*dilation+1
input frames); in frequency 'same' by default, or 'valid' or any explicit padding, dilated, strided;
strided in time it is the compressing half of an S-CC pair; grouped or depthwise, with batch norm folded,
or a fully connected head over one bin."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops.activations import ACTIVATIONS, activate, fused
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered, own_group
from soi_mcu.ops.conv_node import ConvNode
from soi_mcu.ops.conv_tflite import keras_conv, match_conv, tflite_filter
from soi_mcu.ops.records import MatchedConv
from soi_mcu.ops.requant import activation_range, conv_requant
from soi_mcu.ops.tables import elu_table


@dataclass(frozen=True)
class Conv(LayerOp):
    """A conv over (time, frequency) frames, PyTorch's nn.Conv2d with the time axis made causal.

    Offline it is ``nn.Conv2d(cin, cout, (kt, kf), stride=(stride, fstride), dilation=(dilation,
    fdilation), groups=groups)`` (groups=cin for depthwise) over the input padded with
    ``nn.ZeroPad2d((left, right, (kt-1)*dilation, 0))``: in time only the past is padded, so output
    frame t sees input frames t, t-dilation, ... t-(kt-1)*dilation.

    cout, kt, kf: output channels and kernel (time, frequency).
    dilation, stride: in time (stride > 1: the compressing half of an S-CC pair; not both > 1).
    fdilation: dilation in frequency: the kf taps are fdilation bins apart (PyTorch's dilation[1]);
        they span fspan = (kf-1)*fdilation+1 bins.
    fstride: stride in frequency (encoders of a U-Net).
    fpad: zero bins added in frequency, (below the first bin, above the last): PyTorch's Conv2d
        padding=(0, p) is fpad=(p, p); "valid" is (0, 0). None (or "same"): (fspan-1)/2 on each side,
        which needs an odd kf and keeps the bins (divided by fstride). An even kf needs explicit fpad.
        Output bins: (bins + left + right - fspan) // fstride + 1, at least 1.
    groups: PyTorch's groups: the input channels in `groups` consecutive blocks, output block g (cout /
        groups channels) reading only input block g; both channel counts must be multiples of it.
        depthwise=True is the groups = input channels form with cout = cin x multiplier (TFLite's
        DEPTHWISE_CONV_2D, a faster kernel); with depthwise groups stays 1.
    act, norm: activation (ACTIVATIONS) and batch norm before it (both folded for streaming and int8).
    """

    cout: int
    kt: int = 3
    kf: int = 3
    dilation: int = 1
    stride: int = 1  # stride in time: >1 makes this the compressing half of an S-CC pair
    act: str = "relu"
    fstride: int = 1  # stride in frequency (encoders of a U-Net)
    depthwise: bool = False  # one filter per input channel (cout = cin x channel multiplier)
    norm: bool = False  # batch norm between conv and activation (folded into the conv for streaming and int8)
    fdilation: int = 1  # dilation in frequency
    fpad: tuple[int, int] | None = None  # (left, right) zero bins in frequency; None: 'same'
    groups: int = 1  # grouped conv (PyTorch's groups); depthwise is its own flag

    kind: ClassVar[str] = "conv"
    buffer_rank: ClassVar[int] = 0
    pushes: ClassVar[bool] = True
    torch_group: ClassVar[str] = "convs"

    def __post_init__(self) -> None:
        super().__post_init__()
        fpad = self.fpad
        if isinstance(fpad, str):  # the two named paddings, as PyTorch and Keras spell them
            if fpad not in ("same", "valid"):
                raise SoiError(f"layer '{self.name}': fpad '{fpad}' is not 'same', 'valid' or (left, right)")
            fpad = None if fpad == "same" else (0, 0)
        elif fpad is not None:  # a list from a config file: a tuple, so that the spec stays hashable
            fpad = tuple(fpad)
        object.__setattr__(self, "fpad", fpad)

    @property
    def fspan(self) -> int:
        """Bins one output bin depends on: the kf taps fdilation bins apart."""
        return (self.kf - 1) * self.fdilation + 1

    @property
    def freq_padding(self) -> tuple[int, int]:
        """Zero bins (left, right) in frequency: fpad, or 'same' ((fspan-1)/2 on each side)."""
        return self.fpad if self.fpad is not None else ((self.fspan - 1) // 2, (self.fspan - 1) // 2)

    def out_width(self, width: int) -> int:
        left, right = self.freq_padding
        return (width + left + right - self.fspan) // self.fstride + 1

    @property
    def window(self) -> int:
        """Input frames one output frame depends on (the partial state keeps window-1 of them)."""
        return (self.kt - 1) * self.dilation + 1

    def infer(self, period, channels, width, rf) -> Facts:
        where = f"layer '{self.name}'"
        if self.kt < 1 or self.kf < 1:
            raise SoiError(f"{where}: kernel ({self.kt}, {self.kf}) must have kt >= 1 and kf >= 1")
        if self.dilation < 1 or self.fdilation < 1 or self.stride < 1 or self.fstride < 1:
            raise SoiError(f"{where}: dilations and strides must be >= 1")
        if self.stride > 1 and self.dilation > 1:
            raise SoiError(f"{where}: a time-strided conv cannot also be dilated")
        if self.fpad is None and self.kf % 2 == 0:
            raise SoiError(f"{where}: 'same' frequency padding needs an odd kf, got {self.kf}; give "
                           f"fpad=(left, right) or 'valid'")
        if self.fpad is not None and (len(self.fpad) != 2 or any(not isinstance(v, int) or v < 0 for v in self.fpad)):
            raise SoiError(f"{where}: fpad {self.fpad} must be 'same', 'valid' or two bin counts (left, right) >= 0")
        if self.act not in ACTIVATIONS:
            raise SoiError(f"{where}: activation '{self.act}' is not one of {ACTIVATIONS}")
        if self.cout < 1:
            raise SoiError(f"{where}: cout must be >= 1")
        cin = channels[self.input]
        if self.groups < 1 or (self.depthwise and self.groups != 1):
            raise SoiError(f"{where}: groups must be >= 1 (and 1 with depthwise=True, which is its own form)")
        if cin % self.groups or self.cout % self.groups:
            raise SoiError(f"{where}: groups={self.groups} must divide its input channels ({cin}) and cout "
                           f"({self.cout})")
        out_w = self.out_width(width[self.input])
        if out_w < 1:
            raise SoiError(f"{where}: a frequency kernel spanning {self.fspan} bins with padding "
                           f"{self.freq_padding} and stride {self.fstride} leaves no output bins from "
                           f"{width[self.input]} input bins")
        if self.depthwise and self.cout % cin:
            raise SoiError(f"{where}: a depthwise conv needs cout ({self.cout}) to be a multiple "
                           f"of its input channels ({cin})")
        p = period[self.input]
        return Facts(p * self.stride, self.cout, out_w, rf[self.input] + (self.window - 1) * p)

    def fully_connected(self, in_width: int) -> bool:
        """A 1x1 conv over frames of one bin (a classifier head after FreqPool) is a fully connected
        layer: where its output channels share one quantization the firmware runs it with one
        arm_fully_connected_s8 call (per-tensor quantization), otherwise with one arm_convolve_wrapper_s8
        (1x1, per channel) or, on the DSP cores, soi_pw_s16w_s8. (The .tflite keeps it a CONV_2D: LiteRT's
        reference FULLY_CONNECTED requantizes with single rounding, CMSIS-NN's FC with TFLite's double
        rounding, as CONV_2D does.)"""
        return (self.kt == 1 and self.kf == 1 and in_width == 1 and self.stride == 1 and self.fstride == 1
                and not self.depthwise and self.groups == 1 and self.freq_padding == (0, 0))

    def macs(self, sched) -> int:
        """Multiply-accumulates of one output frame (nominal kernel, as the paper counts)."""
        cin = 1 if self.depthwise else sched.channels[self.input] // self.groups
        return sched.width[self.name] * self.cout * self.kt * self.kf * cin

    # -- float ------------------------------------------------------------------------------
    def torch_module(self, sched) -> nn.Module:
        cin = sched.channels[self.input]
        return nn.Conv2d(cin, self.cout, (self.kt, self.kf), stride=(self.stride, self.fstride),
                         dilation=(self.dilation, self.fdilation), groups=cin if self.depthwise else self.groups)

    def norm_module(self, sched) -> nn.Module | None:
        return nn.BatchNorm2d(self.cout) if self.norm else None

    def offline(self, model, acts):
        left, right = self.freq_padding
        x = nn.functional.pad(acts[self.input], (left, right, (self.kt - 1) * self.dilation, 0))
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
        x = nn.functional.pad(x, self.freq_padding)
        groups = stepper.offline.convs[self.name].groups
        y = nn.functional.conv2d(x, weight, bias, stride=(1, self.fstride), dilation=(1, self.fdilation),
                                 groups=groups)[0, :, 0]
        stepper.count_macs(self.macs(stepper.schedule))
        return activate(y, self.act)

    # -- int8 -------------------------------------------------------------------------------
    def keras(self, keras, offline, acts):
        return keras_conv(self, keras, offline, acts)

    def match(self, m) -> MatchedConv:
        return match_conv(self, m)

    def lower(self, ctx: LowerContext) -> Lowered:
        sched, m = ctx.sched, ctx.matched[self.name]
        cin = sched.channels[self.input]
        weights = tflite_filter(self, m, cin)
        if m.act != fused(self.act):
            raise SoiError(f"layer '{self.name}': the activation in the .tflite differs from the spec")
        multipliers, shifts = conv_requant(m, self.cout)
        act_min, act_max = activation_range(fused(self.act), m.output)
        in_zp = int(m.input.zero_point[0])
        bias, input_offset = m.bias_values(self.cout), -in_zp
        if self.kt == self.kf == 1 and self.freq_padding == (0, 0) and not self.depthwise and self.groups == 1:
            # a pointwise conv reads no padding, so sum((x + io) * w) + b = sum(x * w) + (b + io * sum(w)) for
            # every output: the input offset folded into the bias here, once, instead of by the kernels on
            # every call (the MVE 1x1 kernel computes io * sum(w) per call); the same int32 sums
            bias = bias + np.int32(input_offset) * weights.reshape(self.cout, -1).astype(np.int32).sum(axis=1, dtype=np.int32)
            input_offset = 0
        node = ConvNode(
            name=self.name, source=ctx.buf[self.input], target=BufRef(f"soi_buf_{self.name}"), cin=cin, cout=self.cout,
            kt=self.kt, kf=self.kf, dilation=self.dilation, window=self.window,
            in_width=sched.width[self.input], out_width=sched.width[self.name], fstride=self.fstride,
            depthwise=self.depthwise, push_period=sched.period[self.input], run_period=sched.period[self.name],
            input_offset=input_offset, output_offset=int(m.output.zero_point[0]), act_min=act_min, act_max=act_max,
            state_zero_point=in_zp, weights=weights,
            bias=bias, multipliers=multipliers, shifts=shifts, macs=self.macs(sched),
            # one arm_fully_connected_s8 call only where all channels share a quantization (per tensor)
            fully_connected=self.fully_connected(sched.width[self.input])
            and len(set(zip(multipliers, shifts, strict=True))) == 1,
            fdilation=self.fdilation, freq_pad=self.freq_padding, groups=self.groups,
        )
        return lowered_conv(node, m, ctx)

    def actions(self, lowered: Lowered, sched) -> list:
        return conv_actions(self, lowered.nodes[0], sched)


def lowered_conv(node: ConvNode, m: MatchedConv, ctx: LowerContext) -> Lowered:
    """A conv-family node with its activation table and its fast kernel, where those apply."""
    if m.elu is not None:
        node = replace(node, lut=elu_table(m.output, m.elu))
    if ctx.fast_kernels and node.name not in ctx.portable_layers:
        node = node.on_fast_kernel(ctx.core_is_fast("soi_conv_s16w_s8"), ctx.core_is_fast("soi_pw_s16w_s8"),
                                   ctx.core_is_fast("soi_dw_s16w_s8"))
    return Lowered((node,), node.target, m.elu if m.elu is not None else m.output, {node.target.buffer: node.out_size})


def conv_actions(layer: Any, node: ConvNode, sched) -> list:
    """A conv takes its input's new frame with its own work, or after the step when it does not run."""
    acts: list = []
    if node.has_state:
        acts.append(("push", node, lambda p: sched.push_group(layer, p) if sched.runs(layer.input, p) else None))
    acts.append(("run", node, own_group(layer, sched)))
    return acts
