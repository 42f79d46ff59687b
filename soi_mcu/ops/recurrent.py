"""What the recurrent kinds (LSTM, GRU) share: a recurrent layer runs over time for every frequency
bin on its own, with weights shared across bins (the bins are a batch), its state carried from one
frame to the next. Width 1 is the common case (features as channels); width > 1 is an "inter-frame"
RNN (GTCRN's DPGRNN).

Here: the layouts between the spec's (batch, channels, time, freq) and a sequence model's
(batch x freq, time, features), the Keras layer that runs a recurrent function over the bins, and
the matching of the layout ops the converter leaves around the recurrent op."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import Facts

LAYOUT_OPS = ("RESHAPE", "TRANSPOSE")


def recurrent_facts(layer: Any, hidden: int, period, width, rf) -> Facts:
    """Output frames as the input's (same period and bins), `hidden` channels. The receptive field is
    the input's: the state carries the whole past, which no finite window describes (and the export
    length does not need to grow with it: the int8 graph runs the same recurrence from the same zero
    state)."""
    if hidden < 1:
        raise SoiError(f"layer '{layer.name}': hidden must be >= 1")
    return Facts(period[layer.input], hidden, width[layer.input], rf[layer.input])


def to_sequences(x: torch.Tensor) -> torch.Tensor:
    """(batch, channels, time, freq) -> (batch x freq, time, channels): one sequence per bin."""
    b, c, t, f = x.shape
    return x.permute(0, 3, 2, 1).reshape(b * f, t, c)


def from_sequences(y: torch.Tensor, batch: int, width: int) -> torch.Tensor:
    """(batch x freq, time, hidden) -> (batch, hidden, time, freq)."""
    _, t, h = y.shape
    return y.reshape(batch, width, t, h).permute(0, 3, 2, 1)


def freq_sequences(x: torch.Tensor, reverse: bool = False) -> torch.Tensor:
    """(batch, channels, time, freq) -> (batch x time, freq, channels): one sequence over the bins of
    each frame, the last bin first with `reverse`."""
    b, c, t, f = x.shape
    seq = x.permute(0, 2, 3, 1).reshape(b * t, f, c)
    return seq.flip(1) if reverse else seq


def from_freq_sequences(y: torch.Tensor, batch: int, reverse: bool = False) -> torch.Tensor:
    """(batch x time, freq, hidden) -> (batch, hidden, time, freq)."""
    y = y.flip(1) if reverse else y
    bt, f, h = y.shape
    return y.reshape(batch, bt // batch, f, h).permute(0, 3, 1, 2)


def frame_as_batch(frame: torch.Tensor) -> torch.Tensor:
    """A streamed frame (channels, freq) -> (freq, 1, channels): one time step of every bin's sequence."""
    return frame.T[:, None, :]


def keras_over_bins(keras: Any, name: str, fn: Any, hidden: int) -> Any:
    """A Keras layer that runs fn((bins, time, channels)) -> (bins, time, hidden) over each bin's
    sequence of its (1, time, bins, channels) input. With one bin the layouts are reshapes only."""
    import tensorflow as tf

    class OverBins(keras.layers.Layer):
        def call(self, x):
            _, t, f, c = x.shape
            seq = tf.reshape(x, (f, t, c)) if f == 1 else tf.reshape(tf.transpose(x, (0, 2, 1, 3)), (f, t, c))
            y = fn(seq)
            if f == 1:
                return tf.reshape(y, (1, t, 1, hidden))
            return tf.transpose(tf.reshape(y, (1, f, t, hidden)), (0, 2, 1, 3))

    return OverBins(name=name)


def keras_over_freq(keras: Any, name: str, fn: Any, hidden: int) -> Any:
    """A Keras layer that runs fn((time, bins, channels)) -> (time, bins, hidden) over the bins of
    every frame of its (1, time, bins, channels) input: a reshape on either side."""
    import tensorflow as tf

    class OverFreq(keras.layers.Layer):
        def call(self, x):
            _, t, f, c = x.shape
            return tf.reshape(fn(tf.reshape(x, (t, f, c))), (1, t, f, hidden))

    return OverFreq(name=name)


def match_over_bins(m: Any, layer: Any, kind: str, width: int) -> Any:
    """Claim the layout ops from the layer's input to its `kind` op, the op, and the layout ops after
    it back to (1, time, bins, hidden); sets m.acts[layer.name]. Returns the op."""
    op = match_into_bins(m, layer, kind)
    match_out_of_bins(m, layer, kind, op.outputs[0], width)
    return op


def match_into_bins(m: Any, layer: Any, kind: str) -> Any:
    """Claim the layout ops from the layer's input to the first `kind` op that reads the sequences,
    and that op. Returns the op. The converter shares those ops between the two directions of a
    bidirectional RNN (they read the same sequences): the second finds them claimed, and takes them."""
    tensor = m.acts[layer.input]

    def reader(kinds: tuple[str, ...]) -> Any:
        ops = [o for o in m.readers(tensor) if o.kind in kinds]
        return (ops or [o for o in m.graph.consumers.get(tensor, []) if o.kind in kinds] or [None])[0]

    for _ in range(3):
        op = reader((kind,))
        if op is not None:
            m.used.add(op.index)
            return op
        layout = reader(LAYOUT_OPS)
        if layout is None:
            break
        m.used.add(layout.index)
        tensor = layout.outputs[0]
    return m.consumer(tensor, kind, layer.name)


def match_out_of_bins(m: Any, layer: Any, kind: str, out: int, width: int,
                      requantize: bool = False, layout_ops: int | None = None) -> list[tuple[int, int]]:
    """Claim the layout ops that bring tensor `out` (the `kind` op's sequences) back to frames
    (1, time, bins, hidden); sets m.acts[layer.name]. With `requantize`, also the int8 -> int8
    QUANTIZEs on the way (a recurrent layer whose output range is fixed gets one where a reader needs
    another scale, a concatenation); returns their (input, output) tensors, in order. `layout_ops`:
    how many layout ops there are (a GRU over frequency: the one reshape), where shapes cannot tell."""
    steps, quantizes = 0, []
    while True:
        q = next((o for o in m.readers(out) if o.kind == "QUANTIZE"
                  and m.graph.tensors[o.outputs[0]].dtype == np.int8), None) if requantize else None
        if q is not None:
            m.used.add(q.index)
            quantizes.append((out, q.outputs[0]))
            out = q.outputs[0]
            continue
        shape = m.graph.tensors[out].shape
        done = _is_frame_layout(shape, width, steps) if layout_ops is None else steps == layout_ops and len(shape) == 4
        if steps == 2 or done:
            break
        layout = next((o for o in m.readers(out) if o.kind in LAYOUT_OPS), None)
        if layout is None:
            raise SoiError(f"layer '{layer.name}': the {kind} output is not brought back to frames in the .tflite")
        m.used.add(layout.index)
        out = layout.outputs[0]
        steps += 1
    m.acts[layer.name] = out
    return quantizes


def _is_frame_layout(shape: tuple[int, ...], width: int, steps: int) -> bool:
    # (1, time, bins, hidden); with several bins the reshape to (1, bins, time, hidden) comes first, then
    # the transpose: only after both (the shapes alone are ambiguous when bins == time).
    return len(shape) == 4 and shape[0] == 1 and shape[2] == width and (width == 1 or steps == 2)
