"""A user's nn.Conv2d / nn.Conv1d (with the zero padding in front of it) -> a causal Conv layer.

Time must be causal: exactly (kt-1)*dilation past frames padded, none of the future, no time padding
on the conv itself. A Conv1d works on (batch, channels, time): features are channels, over one
frequency bin."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops import Conv, TConv, TConvFreq


def conv_layer(call: Any, src: Any, conv: nn.Conv2d | nn.Conv1d, name: str, one_d: bool) -> Conv:
    if one_d:
        (kt,), (st,), (dt,) = conv.kernel_size, conv.stride, conv.dilation
        kf, sf, df = 1, 1, 1
        pt, pf = (conv.padding[0], 0) if not isinstance(conv.padding, str) else (-1, -1)
    else:
        (kt, kf), (st, sf), (dt, df) = conv.kernel_size, conv.stride, conv.dilation
        pt, pf = conv.padding if not isinstance(conv.padding, str) else (-1, -1)
    kind = "Conv1d" if one_d else "Conv2d"
    where = f"{call.path} ({kind} {kt}" + ("" if one_d else f"x{kf}") + f"){call.where}"
    pad_hint = f"nn.ConstantPad1d(({(kt - 1) * dt}, 0), 0.0)" if one_d else \
        f"nn.ZeroPad2d(({kf // 2}, {kf // 2}, {(kt - 1) * dt}, 0))"
    if isinstance(conv.padding, str):
        if conv.padding == "valid":
            pt, pf = 0, 0
        else:
            raise SoiError(f"{where}: padding='{conv.padding}' pads time on both sides (looks ahead); use "
                           f"{pad_hint} before it and padding=" + ("0" if one_d else f"(0, {kf // 2})"))
    if conv.padding_mode != "zeros":
        raise SoiError(f"{where}: padding_mode '{conv.padding_mode}' is not supported; use zeros")
    if pt:
        raise SoiError(f"{where}: padding={conv.padding} pads time on both sides, so each output looks {pt} "
                       f"frame(s) ahead; use padding=" + ("0" if one_d else f"(0, {pf})") + f" and {pad_hint} before it")
    past = src.pad[2]
    needed = (kt - 1) * dt
    if past < needed:
        raise SoiError(f"{where}: the kernel spans {needed + 1} frames but only {past} past frame(s) are padded, "
                       f"so each output looks {needed - past} frame(s) ahead; pad {needed} past frames ({pad_hint})")
    if past > needed:
        raise SoiError(f"{where}: {past} past frames padded where the kernel needs {needed}; the extra delay is "
                       "not a supported layer (use soi_mcu.model.from_torch.TimeShift for a delay)")
    left, right = src.pad[0] + pf, src.pad[1] + pf
    span = (kf - 1) * df + 1
    same = kf % 2 == 1 and left == right == (span - 1) // 2
    if st > 1 and dt > 1:
        raise SoiError(f"{where}: a time-strided conv cannot also be dilated in time")
    cin = conv.in_channels
    depthwise = conv.groups == cin and conv.groups > 1  # the depthwise kernels are faster than a grouped conv
    return Conv(name, src.layer, cout=conv.out_channels, kt=kt, kf=kf, dilation=dt, stride=st, fstride=sf,
                act="none", depthwise=depthwise, fdilation=df, fpad=None if same else (left, right),
                groups=1 if depthwise else conv.groups)


def conv_of_tconv(tconv: nn.ConvTranspose1d | nn.ConvTranspose2d, where: str) -> nn.Conv1d | nn.Conv2d:
    """A stride-1 transposed conv is the conv with the kernel flipped, in and out swapped within each
    group, and padding dilation x (k - 1) - p on each side (GTCRN's decoder: F.pad of the past, then
    ConvTranspose2d(kernel (3, 3), padding (2 d, 1), dilation (d, 1)), a causal conv)."""
    one_d = isinstance(tconv, nn.ConvTranspose1d)
    pads = tuple(d * (k - 1) - p for k, d, p in zip(tconv.kernel_size, tconv.dilation, tconv.padding, strict=True))
    if any(p < 0 for p in pads):
        raise SoiError(f"{where}: padding {tconv.padding} crops more than the kernel adds (kernel "
                       f"{tconv.kernel_size}, dilation {tconv.dilation}); a stride-1 transposed conv needs padding <= "
                       "dilation x (kernel - 1)")
    if tconv.padding_mode != "zeros":
        raise SoiError(f"{where}: padding_mode '{tconv.padding_mode}' is not supported; use zeros")
    make = nn.Conv1d if one_d else nn.Conv2d
    conv = make(tconv.in_channels, tconv.out_channels, tconv.kernel_size, padding=pads, dilation=tconv.dilation,
                groups=tconv.groups, bias=tconv.bias is not None)
    g = tconv.groups
    w = tconv.weight.detach()  # (in, out / g, *k)
    w = w.reshape(g, tconv.in_channels // g, tconv.out_channels // g, *w.shape[2:]).transpose(1, 2)
    w = w.reshape(tconv.out_channels, tconv.in_channels // g, *w.shape[3:])
    w = w.flip(list(range(2, w.dim())))  # every kernel dimension
    with torch.no_grad():
        conv.weight.copy_(w)
        if tconv.bias is not None:
            conv.bias.copy_(tconv.bias.detach())
    return conv


def ungrouped_tconv(tconv: nn.ConvTranspose2d) -> nn.ConvTranspose2d:
    """A grouped transposed conv in frequency (GTCRN's decoder) as the full one whose weights are zero
    across groups: the same outputs (TFLite's TRANSPOSE_CONV has no groups; each output channel's
    int8 weights are its group's, the zeros stay zero), at `groups` times the multiply-accumulates."""
    g = tconv.groups
    if g == 1 or tconv.kernel_size[0] != 1 or tconv.stride[0] != 1:
        return tconv
    full = nn.ConvTranspose2d(tconv.in_channels, tconv.out_channels, tconv.kernel_size, tconv.stride, tconv.padding,
                              tconv.output_padding, bias=tconv.bias is not None, dilation=tconv.dilation)
    cin, cout = tconv.in_channels // g, tconv.out_channels // g
    with torch.no_grad():
        full.weight.zero_()
        for k in range(g):  # weight: (in, out / groups, kt, kf)
            full.weight[k * cin:(k + 1) * cin, k * cout:(k + 1) * cout] = tconv.weight[k * cin:(k + 1) * cin]
        if tconv.bias is not None:
            full.bias.copy_(tconv.bias)
    return full


def tconv_layer(call: Any, src: Any, tconv: nn.ConvTranspose2d, name: str) -> TConv | TConvFreq:
    """A strided ConvTranspose2d: SOI's extrapolation in time (kernel = stride in time, 1 in frequency)
    or a U-Net decoder's upsampling in frequency (kernel (1, kf), stride (1, s))."""
    (kt, kf), (st, sf) = tconv.kernel_size, tconv.stride
    plain = tconv.groups == 1 and tconv.dilation == (1, 1) and tconv.padding[0] == 0 and tconv.output_padding[0] == 0
    if plain and kt == st and kf == 1 and sf == 1 and tconv.padding == (0, 0):
        return TConv(name, src.layer, cout=tconv.out_channels, factor=kt)
    if plain and kt == 1 and st == 1:
        layer = TConvFreq(name, src.layer, cout=tconv.out_channels, kt=1, kf=kf, fstride=sf, act="none")
        if (tconv.padding[1], tconv.output_padding[1]) != (layer.pad, layer.output_padding):
            layer = TConvFreq(name, src.layer, cout=tconv.out_channels, kt=1, kf=kf, fstride=sf, act="none",
                              fpad=tconv.padding[1], foutput_padding=tconv.output_padding[1])
            if layer.pad >= kf:
                raise SoiError(f"{call.path} (ConvTranspose2d){call.where}: frequency padding {layer.pad} crops "
                               f"the whole kernel ({kf}); use a padding below the kernel")
        return layer
    raise SoiError(f"{call.path} (ConvTranspose2d){call.where}: supported are the S-CC extrapolation in time "
                   "(kernel (k, 1) = stride (k, 1), no padding), upsampling in frequency (kernel (1, kf), "
                   "stride (1, s), any groups), and any stride-1 transposed conv; got kernel "
                   f"{tconv.kernel_size}, stride {tconv.stride}, padding {tconv.padding}, groups {tconv.groups}")
