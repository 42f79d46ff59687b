"""TConvFreq (tSTMC): causal in time like a conv, transposed in frequency with stride `fstride`: the
output has fstride x the input's bins (a U-Net decoder's learned upsampling)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops.activations import ACTIVATIONS, activate, fused, keras_activation, keras_table_op
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered
from soi_mcu.ops.conv import conv_actions, lowered_conv
from soi_mcu.ops.conv_node import ConvNode
from soi_mcu.ops.records import MatchedConv
from soi_mcu.ops.requant import activation_range, conv_requant
from soi_mcu.ops.tflite_act import fused_act, with_elu


@dataclass(frozen=True)
class TConvFreq(LayerOp):
    """tSTMC: causal in time like Conv (kernel kt, dilation; its partial state keeps the last
    window-1 input frames), transposed in frequency with stride `fstride`: the output has
    fstride x the input's bins (a U-Net decoder's upsampling, learned).

    Offline it is PyTorch's ConvTranspose2d(kernel (kt, kf), stride (1, fstride), dilation
    (dilation, 1), padding (0, p), output_padding (0, op)) with p = max(0, ceil((kf - fstride) / 2))
    and op = fstride + 2p - kf (kf 3, stride 2: padding 1, output_padding 1, the usual doubling),
    cut to the input's frames in time, which makes it causal: y[t] = sum_k w[:, :, k] * x[t - k*dilation].
    `fpad` and `foutput_padding` give PyTorch's padding and output_padding in frequency where they are
    not those (GTCRN's decoder: kernel 5, stride 2, padding 2: 2F - 1 bins).
    """

    cout: int
    kt: int = 3
    kf: int = 3
    dilation: int = 1
    fstride: int = 2
    act: str = "relu"
    norm: bool = False  # batch norm after the transposed conv (folded for streaming and int8)
    fpad: int | None = None  # PyTorch's padding in frequency (None: the one that gives fstride x the bins)
    foutput_padding: int | None = None

    kind: ClassVar[str] = "tconv_freq"
    buffer_rank: ClassVar[int] = 0
    pushes: ClassVar[bool] = True
    torch_group: ClassVar[str] = "convs"

    @property
    def pad(self) -> int:
        """PyTorch's `padding` in frequency: bins cut from the start of the full transposed output."""
        return max(0, -(-(self.kf - self.fstride) // 2)) if self.fpad is None else self.fpad

    @property
    def output_padding(self) -> int:
        if self.foutput_padding is not None:
            return self.foutput_padding
        return self.fstride + 2 * self.pad - self.kf if self.fpad is None else 0

    def out_width(self, width: int) -> int:
        return (width - 1) * self.fstride - 2 * self.pad + self.kf + self.output_padding

    @property
    def window(self) -> int:
        return (self.kt - 1) * self.dilation + 1

    def infer(self, period, channels, width, rf) -> Facts:
        if self.kt < 1 or self.kf < 1 or self.dilation < 1 or self.fstride < 1:
            raise SoiError(f"layer '{self.name}': kernel ({self.kt}, {self.kf}), dilation and frequency stride "
                           "must be >= 1")
        if self.output_padding >= max(self.fstride, 1) and self.output_padding:
            raise SoiError(f"layer '{self.name}': an even kf ({self.kf}) needs a frequency stride >= 2" if self.fpad is None
                           else f"layer '{self.name}': output_padding {self.output_padding} must be below the stride")
        if self.pad < 0 or self.output_padding < 0 or self.pad >= self.kf or self.out_width(width[self.input]) < 1:
            raise SoiError(f"layer '{self.name}': frequency padding {self.pad} and output_padding {self.output_padding} "
                           f"with kernel {self.kf}: the padding must be below the kernel and leave bins")
        if self.act not in ACTIVATIONS:
            raise SoiError(f"layer '{self.name}': activation '{self.act}' is not one of {ACTIVATIONS}")
        if self.cout < 1:
            raise SoiError(f"layer '{self.name}': cout must be >= 1")
        p = period[self.input]
        return Facts(p, self.cout, self.out_width(width[self.input]), rf[self.input] + (self.window - 1) * p)

    def macs(self, sched) -> int:
        """Counted as the paper does: every input bin meets the whole kernel (cin x cout x kt x kf)."""
        return sched.width[self.input] * sched.channels[self.input] * self.cout * self.kt * self.kf

    def torch_module(self, sched) -> nn.Module:
        return nn.ConvTranspose2d(sched.channels[self.input], self.cout, (self.kt, self.kf), stride=(1, self.fstride),
                                  dilation=(self.dilation, 1), padding=(0, self.pad),
                                  output_padding=(0, self.output_padding))

    def norm_module(self, sched) -> nn.Module | None:
        return nn.BatchNorm2d(self.cout) if self.norm else None

    def offline(self, model, acts):
        x = acts[self.input]
        y = model.convs[self.name](x)[:, :, : x.shape[2]]  # causal: the first T frames of the full output
        if self.name in model.norms:
            y = model.norms[self.name](y)
        return activate(y, self.act)

    def state_shape(self, sched) -> tuple[int, int, int]:
        return sched.channels[self.input], self.window, sched.width[self.input]

    def stream(self, stepper, phase: int) -> torch.Tensor:
        """The newest output frame is the one whose taps read the newest input frame and the
        (kt-1) x dilation before it."""
        state = stepper.states[self.name]
        weight, bias = stepper.offline.conv_params(self.name)  # batch norm folded in
        y = nn.functional.conv_transpose2d(
            state[None], weight, bias, stride=(1, self.fstride), dilation=(self.dilation, 1),
            padding=(0, self.pad), output_padding=(0, self.output_padding),
        )[0, :, self.window - 1]
        stepper.count_macs(self.macs(stepper.schedule))
        return activate(y, self.act)

    def keras(self, keras, offline, acts):
        """Conv2DTranspose (VALID: TFLite TRANSPOSE_CONV) over the whole sequence, cut by a
        Cropping2D (STRIDED_SLICE) to the first T frames and PyTorch's padding/output_padding bins.
        TRANSPOSE_CONV has no dilation: the kernel is dilated in time with zero taps instead."""
        src = acts[self.input]
        _, t, width, _ = src.shape
        tconv = keras.layers.Conv2DTranspose(self.cout, (self.window, self.kf), strides=(1, self.fstride),
                                             padding="valid", activation=keras_activation(self.act), name=self.name)
        full = tconv(src)
        weight, bias = offline.conv_params(self.name)  # (cin, cout, kt, kf), batch norm folded in
        kernel = np.zeros((self.window, self.kf, self.cout, weight.shape[0]), dtype=np.float32)
        kernel[:: self.dilation] = weight.numpy().transpose(2, 3, 1, 0)  # tap k at row k*dilation
        tconv.set_weights([kernel, bias.numpy()])
        right = full.shape[2] - self.pad - self.out_width(width)
        out = keras.layers.Cropping2D(((0, full.shape[1] - t), (self.pad, right)), name=f"{self.name}__crop")(full)
        return keras_table_op(keras, self.act, self.name, out)

    def match(self, m) -> MatchedConv:
        """TRANSPOSE_CONV (bias and activation fused) and the STRIDED_SLICE that keeps the causal frames
        and PyTorch's bins (absent when it would keep everything)."""
        src = m.graph.tensors[m.acts[self.input]]
        cands = [op for op in m.readers(src.index) if op.kind == "TRANSPOSE_CONV" and op.inputs[2] == src.index]
        if not cands:
            raise SoiError(f"layer '{self.name}': no TRANSPOSE_CONV reads its input in the .tflite")
        op = cands[0]
        m.used.add(op.index)
        out = m.graph.tensors[op.outputs[0]]
        crop: tuple[int, ...] = (0, 0, 0, 0)
        cuts = [c for c in m.readers(op.outputs[0]) if c.kind == "STRIDED_SLICE"]
        if cuts:
            cut = cuts[0]
            m.used.add(cut.index)
            begin = m.graph.tensors[cut.inputs[1]].data
            strides = m.graph.tensors[cut.inputs[3]].data
            if begin is None or strides is None or any(int(v) != 1 for v in strides):
                raise SoiError(f"layer '{self.name}': the STRIDED_SLICE after its TRANSPOSE_CONV is not a plain crop")
            mask = int(cut.options.get("beginMask", 0))
            crop = tuple(0 if mask >> i & 1 else int(b) for i, b in enumerate(begin))
            kept = m.graph.tensors[cut.outputs[0]]
            if not (np.array_equal(kept.scale, out.scale) and np.array_equal(kept.zero_point, out.zero_point)):
                raise SoiError(f"layer '{self.name}': the crop after its TRANSPOSE_CONV requantizes; not supported")
            out = kept
        o = op.options
        matched = MatchedConv(
            input=src, output=out, filter=m.graph.tensors[op.inputs[1]],
            bias=m.graph.tensors[op.inputs[3]] if len(op.inputs) > 3 and op.inputs[3] >= 0 else None,
            stride=(o["strideH"], o["strideW"]), dilation=(1, 1),
            act=fused_act(o.get("fusedActivationFunction", 0)), crop=crop,
        )
        m.acts[self.name] = matched.output.index
        if self.act == "elu":
            matched = with_elu(m, self.name, matched)
            m.acts[self.name] = matched.elu.index
        return matched

    def lower(self, ctx: LowerContext) -> Lowered:
        """The zero-insertion form: TFLite's TRANSPOSE_CONV adds (x - zp) * w for every input bin and
        tap into the output bins it reaches, then requantizes per channel like CONV_2D. The same int32
        sums come from a plain conv over the input spread out with zero points between the bins (and
        kf - 1 - pad of them before), with the kernel flipped in time and frequency: zero-point entries
        contribute (zp - zp) * w = 0, exactly what the bins TRANSPOSE_CONV skips contribute."""
        sched, m = ctx.sched, ctx.matched[self.name]
        cin = sched.channels[self.input]
        window, width = self.window, sched.width[self.input]
        want = (self.cout, window, self.kf, cin)
        if m.filter.shape != want or m.stride != (1, self.fstride) or m.act != fused(self.act):
            raise SoiError(f"layer '{self.name}': TRANSPOSE_CONV in the .tflite differs from the spec "
                           f"(filter {m.filter.shape}, expected {want}; stride {m.stride}; activation {m.act})")
        if tuple(m.crop[1:3]) != (0, self.pad):
            raise SoiError(f"layer '{self.name}': the .tflite keeps frames/bins from {tuple(m.crop[1:3])}, "
                           f"expected (0, {self.pad})")
        filt = np.asarray(m.filter.data, dtype=np.int8)
        taps = filt[:, :: self.dilation]
        if np.any(np.delete(filt, np.arange(0, window, self.dilation), axis=1)):
            raise SoiError(f"layer '{self.name}': the dilated TRANSPOSE_CONV kernel has non-zero rows between its taps")
        multipliers, shifts = conv_requant(m, self.cout)
        act_min, act_max = activation_range(m.act, m.output)
        in_zp = int(m.input.zero_point[0])
        node = ConvNode(
            name=self.name, source=ctx.buf[self.input], target=BufRef(f"soi_buf_{self.name}"), cin=cin,
            cout=self.cout, kt=self.kt, kf=self.kf, dilation=self.dilation, window=window,
            in_width=self.out_width(width) + self.kf - 1, out_width=self.out_width(width), fstride=1, depthwise=False,
            push_period=sched.period[self.input], run_period=sched.period[self.name], input_offset=-in_zp,
            output_offset=int(m.output.zero_point[0]), act_min=act_min, act_max=act_max, state_zero_point=in_zp,
            weights=np.ascontiguousarray(taps[:, ::-1, ::-1]), bias=m.bias_values(self.cout),
            multipliers=multipliers, shifts=shifts, macs=self.macs(sched),
            insert_stride=self.fstride, insert_offset=self.kf - 1 - self.pad, src_width=width,
        )
        return lowered_conv(node, m, ctx)

    def actions(self, lowered: Lowered, sched) -> list:
        return conv_actions(self, lowered.nodes[0], sched)
