"""Recurrent layers in a user's Conv1d model: the transposes around them and their tuple output.

PyTorch's RNNs take (batch, time, features) where a Conv1d model's frames are (batch, channels,
time), so a model transposes before the RNN and back after it, and keeps the RNN's output from
the (output, state) tuple it returns:

    h, _ = self.lstm(x.transpose(1, 2))
    x = h.transpose(1, 2)

Those transposes change no data of a frame (features are the channels either way); the importer
only tracks which layout a value is in, so that the RNN sees time-major features and every other
layer sees frames.
"""

from __future__ import annotations

import operator
from typing import Any

import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.model.torch_values import FRAMES, FREQ_SEQ, RNN_TUPLE, SQUEEZED, TIME_MAJOR, Value

RNNS = (nn.LSTM, nn.GRU, nn.RNN)
_SWAPS = {(1, 2), (2, 1), (-1, -2), (-2, -1), (1, -1), (-1, 1), (2, -2), (-2, 2)}


def is_layout_change(call: Any) -> bool:
    t = call.target
    return (call.what == "method" and t in ("transpose", "permute")) or (
        call.what == "function" and t in (torch.transpose, torch.permute))


def change_layout(builder: Any, call: Any) -> None:
    """A transpose of time and features in a Conv1d model: frames <-> (batch, time, features)."""
    args = call.args[1:] if call.what == "function" or call.target == "transpose" else call.args[1:]
    dims = tuple(a for a in args if isinstance(a, int))
    if call.target in ("permute", torch.permute):
        dims = tuple(args[0]) if len(args) == 1 and isinstance(args[0], list | tuple) else dims
        swap = dims in ((0, 2, 1), (0, -1, -2))
    else:
        swap = dims in _SWAPS
    src = builder.values[call.args[0]]
    if not swap or not (builder.one_d or src.layout in (SQUEEZED, TIME_MAJOR)):
        raise SoiError(f"{call.path} ({call.label}){call.where} is not supported; frames keep their (channels, "
                       "frequency) layout: only x.transpose(1, 2) around an RNN is, in a Conv1d model or on a "
                       "Conv2d model's (batch, channels, time) value (x.mean(dim=-1))")
    if any(src.pad) or src.layout == RNN_TUPLE:
        raise SoiError(f"{call.path} ({call.label}){call.where}: transposes what is not a tensor of frames")
    if src.layout == TIME_MAJOR:
        layout = FRAMES if builder.one_d else SQUEEZED
    else:
        layout = TIME_MAJOR
    builder.values[call.node] = Value(src.layer, layout=layout)


def rnn_call(builder: Any, call: Any, registered: dict, supported: tuple[str, ...]) -> None:
    """An RNN module on time-major features; its result is the (output, state) tuple."""
    m = call.target
    name = type(m).__name__
    if type(m) not in registered:
        raise SoiError(f"{call.path} ({name}){call.where} is not supported; supported layers: {', '.join(supported)}")
    if len(call.args) > 1 or call.kwargs:
        raise SoiError(f"{call.path} ({name}){call.where}: called with an initial state; a streaming {name} starts "
                       "from zeros and keeps its state itself: call it with the input only")
    src = builder.values[call.args[0]]
    if src.layout not in (TIME_MAJOR, FREQ_SEQ) or not m.batch_first:
        raise SoiError(f"{call.path} ({name}){call.where}: give it (batch, time, features): construct it with "
                       "batch_first=True and call it on x.transpose(1, 2) of a Conv1d model's frames (or of a Conv2d "
                       "model's x.mean(dim=-1)); transpose its output back the same way")
    builder.source, builder.rnn_over = src.layer, "freq" if src.layout == FREQ_SEQ else "time"
    registered[type(m)](builder, call.path, m)
    builder.values[call.node] = Value(builder.source, layout=RNN_TUPLE, sequences=src.layout)


def is_rnn_output(builder: Any, call: Any) -> bool:
    return (call.what == "function" and call.target is operator.getitem and call.args
            and builder.values.get(call.args[0]) is not None and builder.values[call.args[0]].layout == RNN_TUPLE)


def rnn_output(builder: Any, call: Any) -> None:
    """`out, state = rnn(x)` or `rnn(x)[0]`: the per-frame output; the final state is not a stream."""
    if call.args[1] != 0:
        if not call.users:  # `out, _ = rnn(x)`: the state is unpacked but never read
            return
        raise SoiError(f"{call.path} (getitem){call.where}: uses the RNN's final state; a stream has only the "
                       "per-frame output (element 0)")
    rnn = builder.values[call.args[0]]
    builder.values[call.node] = Value(rnn.layer, layout=rnn.sequences)
