"""Permutes and reshapes of a user's Conv2d model: channels-last frames, RNN sequences, unfold, stack.

Dual-path models (GTCRN's DPGRNN) run RNNs over each frame's bins and over each bin's frames by
moving the channels last and folding one axis into the batch:

    x = x.permute(0, 2, 3, 1)                       # (B, T, F, C)
    intra = x.reshape(B * T, F, C)                   # sequences over frequency, one per frame
    x = x.permute(0, 2, 1, 3)                        # (B, F, T, C)
    inter = x.reshape(B * F, T, C)                   # sequences over time, one per bin

None of this moves data within a frame: a value is still the frames of one spec layer, and the
importer only tracks its layout (the order of its axes), so that each layer reads its axes as
PyTorch does: an RNN on (B*T, F, C) runs over frequency, one on (B*F, T, C) over time, a LayerNorm on
(B, T, F, C) normalizes the last axes, a chunk or cat on the last axis splits or joins channels. The
batch sizes (`x.shape[0] * x.shape[1]`) are shape arithmetic, tracked as such.

Also here: nn.Unfold over neighbouring bins with its reshape back to frames (GTCRN's subband feature
extraction: a conv with fixed one-hot weights), and torch.stack of frames with the reshape
that follows (a concatenation, or with a transpose first the interleaving of a channel shuffle).
"""

from __future__ import annotations

import builtins
import operator
from dataclasses import dataclass, replace
from typing import Any

import torch
from torch import fx, nn

from soi_mcu.errors import SoiError
from soi_mcu.model.torch_values import CHANNELS_LAST, FRAMES, FREQ_SEQ, TIME_MAJOR, Value
from soi_mcu.ops import Concat

SHAPE = "shape"  # an int or a tuple of ints computed from tensor shapes
UNFOLDED, STACKED = "unfolded", "stacked"
AXES = {FRAMES: "bctf", "btfc": "btfc", "bftc": "bftc"}  # four-axis layouts, by their axes
LAYOUT_OF_AXES = {v: k for k, v in AXES.items()}
FOLDED = {"btfc": FREQ_SEQ, "bftc": TIME_MAJOR}  # reshape (B, X, Y, C) -> (B*X, Y, C)
UNFOLDED_BACK = {v: k for k, v in FOLDED.items()}
SHAPE_ARITHMETIC = (operator.mul, operator.add, operator.sub, operator.floordiv)


@dataclass(frozen=True)
class Pending:
    """What an unfold or a stack is waiting for (its reshape back to frames)."""

    layers: tuple[str, ...]
    call: Any  # the unfold's or stack's call: the layer is named after it
    axes: str = ""  # a stack: "bgctf" (groups first) or "bcgtf" (after transpose(1, 2))
    kernel: int = 0  # an unfold: bins per patch and padding
    padding: int = 0


WORDS = {FRAMES: "(B, C, T, F) frames", "btfc": "(B, T, F, C)", "bftc": "(B, F, T, C)",
         FREQ_SEQ: "(B*T, F, C) sequences", TIME_MAJOR: "(B*F, T, C) sequences"}


def _node_layout(builder: Any, a: Any) -> str | None:
    return builder.values[a].layout if isinstance(a, fx.Node) and a in builder.values else None


def is_shape_arithmetic(builder: Any, call: Any) -> bool:
    """x.shape, x.size(), their items and arithmetic on them."""
    t, args = call.target, call.args
    if call.what == "function" and t is builtins.getattr and len(args) == 2 and args[1] == "shape":
        return True
    if call.what == "method" and t == "size":
        return True
    if call.what == "function" and (t is operator.getitem or t in SHAPE_ARITHMETIC):
        return any(_node_layout(builder, a) == SHAPE for a in args)
    return False


def shape_arithmetic(builder: Any, call: Any) -> None:
    builder.values[call.node] = Value("", layout=SHAPE)


def is_relayout(builder: Any, call: Any) -> bool:
    """A permute, transpose, reshape or view of a four-axis or folded value (not a Conv1d model's)."""
    t = call.target
    moves = (call.what == "method" and t in ("permute", "transpose", "reshape", "view")) or (
        call.what == "function" and t in (torch.permute, torch.transpose, torch.reshape))
    if not moves or builder.one_d:
        return False
    layout = _node_layout(builder, call.args[0])
    return layout in (*AXES, FREQ_SEQ, UNFOLDED, STACKED) or (layout == TIME_MAJOR and call.target in (
        "reshape", "view", torch.reshape))


def relayout(builder: Any, call: Any) -> None:
    src = builder.values[call.args[0]]
    where = f"{call.path} ({call.label}){call.where}"
    if any(src.pad):
        raise SoiError(f"{where}: moves padded frames; pad right before the conv that takes the padding")
    if call.target in ("reshape", "view", torch.reshape):
        _reshape(builder, call, src, where)
        return
    dims = _permutation(call, 5 if src.layout == STACKED else 4, where)
    if src.layout == STACKED:
        pending = builder.pending[call.args[0]]
        axes = "".join(pending.axes[d] for d in dims)
        if axes not in ("bgctf", "bcgtf"):
            raise SoiError(f"{where}: stacked frames permuted to ({', '.join(axes)}); only the channel shuffle's "
                           "transpose(1, 2) is supported before the reshape back to (B, C, T, F)")
        builder.pending[call.node] = replace(pending, axes=axes)
        builder.values[call.node] = Value(src.layer, layout=STACKED)
        return
    if src.layout not in AXES:
        raise SoiError(f"{where}: permutes (B*X, Y, C) sequences; reshape them back to four axes first")
    axes = "".join(AXES[src.layout][d] for d in dims)
    if axes not in LAYOUT_OF_AXES:
        raise SoiError(f"{where}: makes the axes ({', '.join(axes)}) of (batch, channels, time, freq); supported "
                       "are (B, C, T, F), (B, T, F, C) and (B, F, T, C)")
    builder.values[call.node] = Value(src.layer, layout=LAYOUT_OF_AXES[axes])


def _permutation(call: Any, rank: int, where: str) -> tuple[int, ...]:
    args = list(call.args[1:])
    if call.target in ("transpose", torch.transpose):
        if len(args) != 2 or not all(isinstance(a, int) for a in args):
            raise SoiError(f"{where}: transpose needs two dims")
        a, b = (d % rank for d in args)
        dims = list(range(rank))
        dims[a], dims[b] = dims[b], dims[a]
        return tuple(dims)
    dims = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
    dims = call.kwargs.get("dims", dims)
    if len(dims) != rank or not all(isinstance(d, int) for d in dims):
        raise SoiError(f"{where}: permute({dims}) of a tensor with {rank} axes")
    return tuple(d % rank for d in dims)


def _target_shape(call: Any) -> list:
    args = list(call.args[1:]) or list(call.kwargs.get("shape", ()))
    return list(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else args


def _reshape(builder: Any, call: Any, src: Value, where: str) -> None:
    shape = _target_shape(call)
    if src.layout == UNFOLDED and len(shape) == 4:
        _unfolded_to_conv(builder, call, builder.pending[call.args[0]])
    elif src.layout == STACKED and len(shape) == 4:
        pending = builder.pending[call.args[0]]
        name = builder.layer_name(pending.call.path)  # named after the stack
        builder.add_layer(call, Concat(name, pending.layers, interleave=pending.axes == "bcgtf"))
    elif src.layout in FOLDED and len(shape) == 3:
        _check_last(builder, call, src, shape, where)
        builder.values[call.node] = Value(src.layer, layout=FOLDED[src.layout])
    elif src.layout in UNFOLDED_BACK and len(shape) == 4:
        _check_last(builder, call, src, shape, where)
        builder.values[call.node] = Value(src.layer, layout=UNFOLDED_BACK[src.layout])
    else:
        what = WORDS.get(src.layout, "it")
        raise SoiError(f"{where}: reshapes {what} to {len(shape)} axes; supported are (B, T, F, C) <-> (B*T, F, C), "
                       "(B, F, T, C) <-> (B*F, T, C), an nn.Unfold's patches and a torch.stack back to (B, C, T, F)")


def _check_last(builder: Any, call: Any, src: Value, shape: list, where: str) -> None:
    """The channels (last) of a fold or unfold, where the reshape states them as a number."""
    channels = builder.channels(src.layer, call)
    if isinstance(shape[-1], int) and shape[-1] not in (-1, channels):
        raise SoiError(f"{where}: reshapes to {shape[-1]} features where the frames have {channels} channels; "
                       "fold only the batch with the next axis, keeping the channels last")


def _pair(v: Any) -> tuple:
    return tuple(v) if isinstance(v, tuple | list) else (v, v)


def unfold(builder: Any, call: Any, m: nn.Unfold) -> None:
    """nn.Unfold(kernel (1, k), stride 1, padding (0, p)): patches of k neighbouring bins."""
    where = f"{call.path} (Unfold){call.where}"
    (kt, kf), (dt, df), (pt, pf), (st, sf) = (_pair(m.kernel_size), _pair(m.dilation), _pair(m.padding), _pair(m.stride))
    if (kt, dt, pt, st, df, sf) != (1, 1, 0, 1, 1, 1):
        raise SoiError(f"{where}: kernel {m.kernel_size}, dilation {m.dilation}, padding {m.padding}, stride "
                       f"{m.stride}; supported is nn.Unfold((1, k), padding=(0, p)) over neighbouring bins of each "
                       "frame (a patch over time would look ahead)")
    src = builder.input_value(call, call.args[0])
    builder.pending[call.node] = Pending((src.layer,), call, kernel=kf, padding=pf)
    builder.values[call.node] = Value(src.layer, layout=UNFOLDED)


def _unfolded_to_conv(builder: Any, call: Any, pending: Pending) -> None:
    """The unfold's (B, C*k, T*F) reshaped to (B, C*k, T, F): a conv with fixed one-hot weights whose
    output channel c*k + j is bin f + j - p of channel c (Unfold's order). Written as a full conv (zero
    weights across channels) rather than the depthwise one with channel multiplier k: C times the
    MACs, but CMSIS-NN's convolution is many times faster than its depthwise kernel for a multiplier
    above 1 (measured on GTCRN: 0.017 MAC/cycle)."""
    layer = pending.layers[0]
    c, k = builder.channels(layer, call), pending.kernel
    conv = nn.Conv2d(c, c * k, (1, k), padding=(0, pending.padding), bias=False)
    with torch.no_grad():
        conv.weight.zero_()
        for ch in range(c):
            for j in range(k):
                conv.weight[ch * k + j, ch, 0, j] = 1.0
    builder.conv(replace(call, path=pending.call.path), Value(layer), conv)  # named after the unfold


def stack(builder: Any, call: Any) -> None:
    """torch.stack of frames along dim 1 (B, G, C, T, F): waits for its reshape back to frames."""
    tensors = call.args[0] if call.args else call.kwargs.get("tensors")
    dim = call.args[1] if len(call.args) > 1 else call.kwargs.get("dim", 0)
    where = f"{call.path} (stack){call.where}"
    if dim != 1:
        raise SoiError(f"{where}: stacks along dim {dim}; supported is torch.stack([...], dim=1) of frames, reshaped "
                       "back to (B, G*C, T, F) (or transposed first: a channel shuffle)")
    values = [builder.input_value(call, t) for t in tensors]
    if any(v.layout != FRAMES for v in values):
        raise SoiError(f"{where}: stacks what is not (B, C, T, F) frames")
    builder.pending[call.node] = Pending(tuple(v.layer for v in values), call, axes="bgctf")
    builder.values[call.node] = Value(values[0].layer, layout=STACKED)


def is_stack(call: Any) -> bool:
    return call.what == "function" and call.target is torch.stack


def channel_dims(builder: Any, layout: str) -> tuple[int, ...]:
    """The dims that are channels in a value of `layout` (chunk, split and cat along them)."""
    if layout in (*CHANNELS_LAST, FREQ_SEQ) or (layout == TIME_MAJOR and not builder.one_d):
        return (3, -1) if layout in CHANNELS_LAST else (2, -1)
    return (1, -2) if builder.one_d else (1, -3)


# -- the importer's entry points (soi_mcu/model/torch_layers.py) ------------------------------
PASS_METHODS = ("contiguous", "clone")


def import_call(builder: Any, call: Any) -> bool:
    """Import a function or method call that this module handles (shape arithmetic, a stack, a permute or
    reshape, contiguous() of such a value); False, and nothing done, for any other call."""
    layout = _node_layout(builder, call.args[0]) if call.args else None
    if is_shape_arithmetic(builder, call):
        shape_arithmetic(builder, call)
    elif is_stack(call):
        stack(builder, call)
    elif is_relayout(builder, call):
        relayout(builder, call)
    elif call.what == "method" and call.target in PASS_METHODS and layout in (STACKED, UNFOLDED, *AXES, FREQ_SEQ):
        builder.values[call.node] = builder.values[call.args[0]]
        if call.args[0] in builder.pending:
            builder.pending[call.node] = builder.pending[call.args[0]]
    else:
        return False
    return True


def handles_module(builder: Any, call: Any) -> bool:
    layout = _node_layout(builder, call.args[0]) if call.args else None
    return isinstance(call.target, nn.Unfold) or layout in (*CHANNELS_LAST, FREQ_SEQ) or (
        layout == TIME_MAJOR and not builder.one_d)


# modules that work on any axis order: element by element, or over the last axis (a LayerNorm's)
ELEMENTWISE = (nn.Identity, nn.Dropout, nn.Sigmoid, nn.Tanh, nn.Hardsigmoid, nn.Hardswish)


def import_module(builder: Any, call: Any, registered: dict) -> None:
    """nn.Unfold, or a module on channels-last frames or sequences (a Linear or an RNN there is
    imported by torch_squeeze.linear and torch_recurrent.rnn_call)."""
    m = call.target
    if isinstance(m, nn.Unfold):
        unfold(builder, call, m)
        return
    src = builder.values[call.args[0]]
    where = f"{call.path} ({call.label}){call.where}"
    shared_prelu = isinstance(m, nn.PReLU) and m.num_parameters == 1
    if isinstance(m, nn.LayerNorm):
        _layernorm(builder, call, m, src, registered, where)
    elif isinstance(m, ELEMENTWISE) or shared_prelu:
        builder.source = src.layer
        if isinstance(m, nn.Identity | nn.Dropout):
            builder.values[call.node] = src
            return
        registered[type(m)](builder, call.path, m)
        builder.values[call.node] = Value(builder.source, layout=src.layout)
    else:
        back = {"btfc": "with .permute(0, 3, 1, 2)", "bftc": "with .permute(0, 3, 2, 1)"}.get(
            src.layout, "to four axes (reshape) and permute back")
        raise SoiError(f"{where}: works on (B, C, T, F) frames but its input is {WORDS[src.layout]}; bring it back "
                       f"{back} first (on channels-last values Linear, GRU, LSTM, LayerNorm and element-wise "
                       "activations are supported)")


def _layernorm(builder: Any, call: Any, m: nn.LayerNorm, src: Value, registered: dict, where: str) -> None:
    """nn.LayerNorm over the last axes of channels-last frames: (C,) per bin, (F, C) per frame."""
    shape = tuple(m.normalized_shape)
    if len(shape) == 2 and src.layout != "btfc":
        raise SoiError(f"{where}: normalizes {shape} of {WORDS[src.layout]}; a per-frame LayerNorm normalizes "
                       "(C,) or, on (B, T, F, C), (F, C)")
    if len(shape) not in (1, 2):
        raise SoiError(f"{where}: normalized_shape {shape}; a per-frame LayerNorm normalizes (C,) or (F, C)")
    builder.source, builder.norm_transposed = src.layer, len(shape) == 2  # weights (F, C): the op's are (C, F)
    try:
        registered[nn.LayerNorm](builder, call.path, m)
    finally:
        builder.norm_transposed = False
    builder.values[call.node] = Value(builder.source, layout=src.layout)


def unfolded_input_channels(calls: list, input_node: fx.Node) -> int | None:
    """The input's channels when an nn.Unfold reads the input (GTCRN's first SFE): no conv reads the
    input itself, so they are the first conv's input channels over the unfold's patch size."""
    unfolds = [c for c in calls if c.what == "module" and isinstance(c.target, nn.Unfold) and c.args[:1] == (input_node,)]
    if not unfolds:
        return None
    kernel = unfolds[0].target.kernel_size
    k = kernel[1] if isinstance(kernel, tuple | list) else kernel
    later = calls[calls.index(unfolds[0]):]
    conv = next((c.target for c in later if c.what == "module" and isinstance(c.target, nn.Conv2d | nn.ConvTranspose2d)), None)
    return conv.in_channels // k if conv is not None and conv.in_channels % k == 0 else None
