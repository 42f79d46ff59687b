"""Channel splits in a user's forward: torch.chunk, torch.split (or the methods) and x[:, a:b].

Each piece becomes a Slice layer (soi_mcu/ops/channel_slice.py) of the channels it keeps; the tuple
a chunk or split returns is only remembered until its pieces are taken with `a, b = x.chunk(2, dim=1)`.
"""

from __future__ import annotations

import operator
from typing import Any

import torch

from soi_mcu.errors import SoiError
from soi_mcu.model.torch_reshape import channel_dims
from soi_mcu.model.torch_values import Value
from soi_mcu.ops.channel_slice import Slice

SPLIT = "split"  # the layout of a chunk's or split's tuple of pieces


def is_split(call: Any) -> bool:
    t = call.target
    return (call.what == "function" and t in (torch.chunk, torch.split)) or (
        call.what == "method" and t in ("chunk", "split"))


def split(builder: Any, call: Any) -> None:
    """Remember the pieces (start, stop) of a chunk or split over channels."""
    args, kw = call.args, call.kwargs
    src = builder.input_value(call, args[0])
    how = args[1] if len(args) > 1 else kw.get("chunks", kw.get("split_size_or_sections", kw.get("split_size")))
    dim = args[2] if len(args) > 2 else kw.get("dim", 0)
    if dim not in channel_dims(builder, src.layout):
        raise SoiError(f"{call.path} ({call.label}){call.where}: splits dim {dim}; only a split over channels "
                       "(dim=1) is supported")
    c = builder.channels(src.layer, call)
    if call.target in (torch.chunk, "chunk"):
        size = -(-c // int(how))  # torch.chunk: pieces of ceil(C / n), the last one smaller
        sizes = [min(size, c - s) for s in range(0, c, size)]
    elif isinstance(how, int):
        sizes = [min(how, c - s) for s in range(0, c, how)]
    else:
        sizes = [int(v) for v in how]
        if sum(sizes) != c:
            raise SoiError(f"{call.path} ({call.label}){call.where}: sections {sizes} do not add up to {c} channels")
    bounds, start = [], 0
    for n in sizes:
        bounds.append((start, start + n))
        start += n
    builder.splits[call.node] = (src.layer, bounds)
    builder.values[call.node] = Value(src.layer, layout=SPLIT, sequences=src.layout)  # sequences: the pieces' layout


def is_piece(builder: Any, call: Any) -> bool:
    return call.what == "function" and call.target is operator.getitem and call.args[0] in builder.splits


def piece(builder: Any, call: Any) -> None:
    layer, bounds = builder.splits[call.args[0]]
    i = call.args[1]
    if not isinstance(i, int) or not -len(bounds) <= i < len(bounds):
        raise SoiError(f"{call.path} (getitem){call.where}: piece {i} of a split into {len(bounds)}")
    start, stop = bounds[i]
    builder.add_layer(call, Slice(builder.layer_name(call.path), layer, start=start, stop=stop))
    builder.values[call.node] = Value(builder.values[call.node].layer, layout=builder.values[call.args[0]].sequences)


def is_channel_slice(call: Any) -> bool:
    if not (call.what == "function" and call.target is operator.getitem and isinstance(call.args[1], tuple)):
        return False
    index = call.args[1]
    return len(index) == 2 and index[0] == slice(None) and isinstance(index[1], slice)


def channel_slice(builder: Any, call: Any) -> None:
    """x[:, a:b]: channels a..b-1 of each frame."""
    src = builder.input_value(call, call.args[0])
    c = builder.channels(src.layer, call)
    start, stop, step = call.args[1][1].indices(c)
    if step != 1 or start >= stop:
        raise SoiError(f"{call.path} (getitem){call.where}: channels [{start}:{stop}:{step}]; only a contiguous, "
                       "non-empty channel range is supported")
    builder.add_layer(call, Slice(builder.layer_name(call.path), src.layer, start=start, stop=stop))
