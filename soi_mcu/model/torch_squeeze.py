"""One-bin values without their frequency dimension in a Conv2d model, and RNNs and linear layers on them.

A Conv2d model's per-channel statistics of a frame are often written with the frequency dimension
dropped (GTCRN's temporal recurrent attention):

    zt = torch.mean(x.pow(2), dim=-1)               # (batch, channels, time): one value per channel
    at = self.fc(self.gru(zt.transpose(1, 2))[0])   # (batch, time, features)
    at = torch.sigmoid(at.transpose(1, 2))          # (batch, channels, time)
    return x * at[..., None]                        # a one-bin gate over every bin

Such a value is a frame of one bin all the same: the importer tracks only that its frequency
dimension is gone (layout SQUEEZED), so that x.transpose(1, 2) makes it time-major for an RNN, and
`[..., None]` / `unsqueeze(-1)` makes it a frame again. nn.Linear on time-major features (after an
RNN, or in a Conv1d model) is a 1x1 conv.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import fx, nn

from soi_mcu.errors import SoiError
from soi_mcu.model.torch_values import CHANNELS_LAST, FRAMES, FREQ_SEQ, SQUEEZED, TIME_MAJOR, Value
from soi_mcu.ops import Conv, FreqPool


def is_unsqueeze(builder: Any, call: Any) -> bool:
    """x[..., None], x.unsqueeze(-1) / (3), torch.unsqueeze(x, -1) of a squeezed value."""
    if not call.args or not isinstance(call.args[0], fx.Node):
        return False
    value = builder.values.get(call.args[0])
    if value is None or value.layout != SQUEEZED:
        return False
    if call.what == "function" and call.target is operator.getitem:
        return call.args[1] in ((Ellipsis, None), (slice(None), slice(None), slice(None), None))
    dim = call.args[1] if len(call.args) > 1 else call.kwargs.get("dim")
    unsqueezes = (call.what == "method" and call.target == "unsqueeze") or (
        call.what == "function" and call.target is torch.unsqueeze)
    return unsqueezes and dim in (-1, 3)


def unsqueeze(builder: Any, call: Any) -> None:
    builder.values[call.node] = Value(builder.values[call.args[0]].layer, layout=FRAMES)


def propagate(builder: Any, call: Any, layouts: set[str]) -> None:
    """After a call that keeps its input's layout (an activation, an add of two values, a split or a
    concatenation): its result is in that layout too, a squeezed value, channels-last frames or
    sequences; mixing layouts is refused (torch would broadcast along the wrong dimensions)."""
    kept = {SQUEEZED, *CHANNELS_LAST, FREQ_SEQ} | (set() if builder.one_d else {TIME_MAJOR})
    if not layouts & kept or call.node not in builder.values:
        return
    if SQUEEZED in layouts and FRAMES in layouts:
        raise SoiError(f"{call.path} ({call.label}){call.where}: combines a (batch, channels, time) value (its "
                       "frequency dimension dropped) with (batch, channels, time, freq) frames; restore the bin "
                       "first with x[..., None] (a one-bin gate multiplies every bin)")
    if len(layouts) > 1:
        raise SoiError(f"{call.path} ({call.label}){call.where}: combines tensors whose axes are in different orders "
                       f"({', '.join(sorted(layouts))}); permute or reshape them to the same layout first")
    value = builder.values[call.node]
    if value.layout == FRAMES:
        builder.values[call.node] = Value(value.layer, value.pad, value.pad_path, layouts.pop())


def tensor_layouts(builder: Any, call: Any) -> set[str]:
    args = list(call.args) + [a for arg in call.args if isinstance(arg, list | tuple) for a in arg]
    return {builder.values[a].layout for a in args if isinstance(a, fx.Node) and a in builder.values}


def linear(builder: Any, call: Any, m: nn.Linear) -> None:
    """nn.Linear on time-major features: a 1x1 conv of each frame's channels."""
    value = builder.values[call.args[0]] if call.args and isinstance(call.args[0], fx.Node) else None
    if value is None or value.layout not in (TIME_MAJOR, FREQ_SEQ):
        over = "frequency" if not builder.one_d else "time"
        raise SoiError(f"{call.path} (Linear){call.where}: applies to the last dimension, here {over}; a Linear is "
                       "supported on (batch, time, features) (x.transpose(1, 2), an RNN's output); for the channels "
                       "of frames use a 1x1 conv")
    name = builder.layer_name(call.path)
    builder.append(Conv(name, value.layer, cout=m.out_features, kt=1, kf=1, act="none"))
    builder.weights[name] = (m, None)
    builder.values[call.node] = Value(name, layout=value.layout)


def mean_over_frequency(builder: Any, call: Any) -> None:
    """The mean over all frequency bins of each frame (keepdim): a classifier's global pooling."""
    dim = call.args[1] if len(call.args) > 1 else call.kwargs.get("dim")
    keepdim = call.args[2] if len(call.args) > 2 else call.kwargs.get("keepdim", False)
    dims = tuple(dim) if isinstance(dim, list | tuple) else (dim,)
    if builder.one_d or dims not in ((3,), (-1,)):
        raise SoiError(f"{call.path} ({call.label}){call.where}: a mean over dims {dim} (keepdim={keepdim}); only "
                       "the mean over frequency of each frame, x.mean(dim=3, keepdim=True), is supported (a mean "
                       "over time is not causal per frame)")
    src = builder.input_value(call, call.args[0])
    if src.layout != FRAMES:
        raise SoiError(f"{call.path} ({call.label}){call.where}: a mean over the last axis of ({', '.join(src.layout)}); "
                       "only the mean over frequency of (B, C, T, F) frames is supported")
    builder.add_layer(call, FreqPool(builder.layer_name(call.path), src.layer))
    if not keepdim:  # (batch, channels, time): a one-bin frame without its frequency dimension
        builder.values[call.node] = Value(builder.values[call.node].layer, layout=SQUEEZED)
