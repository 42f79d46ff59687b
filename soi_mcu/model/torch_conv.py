"""A user's nn.Conv2d / nn.Conv1d (with the zero padding in front of it) -> a causal Conv layer.

Time must be causal: exactly (kt-1)*dilation past frames padded, none of the future, no time padding
on the conv itself. A Conv1d works on (batch, channels, time): features are channels, over one
frequency bin."""

from __future__ import annotations

from typing import Any

from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops import Conv


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
