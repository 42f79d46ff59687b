"""What a value in a traced model is, for the importer (soi_mcu/model/torch_layers.py)."""

from __future__ import annotations

from dataclasses import dataclass

# layouts: frames; (batch, time, features); (output, state); a Conv2d model's one-bin frames without
# their frequency dimension, (batch, channels, time)
FRAMES, TIME_MAJOR, RNN_TUPLE, SQUEEZED = "frames", "btc", "rnn", "bct"
# a Conv2d model's frames with the channels last (torch_reshape.py): (B, T, F, C), (B, F, T, C); and
# sequences over the bins of each frame, (B*T, F, C). TIME_MAJOR is also (B*F, T, C): one per bin.
CHANNELS_LAST = ("btfc", "bftc")
FREQ_SEQ = "(bt)fc"


@dataclass(frozen=True)
class Value:
    """What a traced value is: the frames of `layer`, with zero padding not yet taken by a conv."""

    layer: str
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)  # (freq left, freq right, time past, time future)
    pad_path: str = ""
    layout: str = FRAMES  # or an RNN's time-major input/output, or its (output, state) tuple
    sequences: str = TIME_MAJOR  # an RNN's tuple: the layout of its output sequences
