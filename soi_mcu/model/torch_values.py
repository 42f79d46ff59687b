"""What a value in a traced model is, for the importer (soi_mcu/model/torch_layers.py)."""

from __future__ import annotations

from dataclasses import dataclass

FRAMES, TIME_MAJOR, RNN_TUPLE = "frames", "btc", "rnn"  # layouts: frames; (batch, time, features); (output, state)


@dataclass(frozen=True)
class Value:
    """What a traced value is: the frames of `layer`, with zero padding not yet taken by a conv."""

    layer: str
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # (freq left, freq right, time past, time future)
    pad_path: str = ""
    layout: str = FRAMES  # or an RNN's time-major input/output, or its (output, state) tuple
