"""The op registry: one module per layer kind, each holding everything about that kind (see base.py).

`KINDS` is the registry: the stages, the random-model tests and the docs take their list of layer
kinds from it. A new kind is a new module here, added to KINDS, plus its template partial
(templates/ops/<kind>.c.j2) and its kernel.
"""

from soi_mcu.ops.activation import Activation
from soi_mcu.ops.activations import ACTIVATIONS, activate
from soi_mcu.ops.add import Add
from soi_mcu.ops.base import LayerOp
from soi_mcu.ops.channel_slice import Slice
from soi_mcu.ops.concat import Concat
from soi_mcu.ops.conv import Conv
from soi_mcu.ops.duplicate import Duplicate
from soi_mcu.ops.gru import GRU
from soi_mcu.ops.layernorm import ChannelNorm, FrameNorm, LayerNorm
from soi_mcu.ops.lstm import LSTM
from soi_mcu.ops.mul import Mul
from soi_mcu.ops.pool import FreqPool
from soi_mcu.ops.prelu import PReLU
from soi_mcu.ops.shift import Shift
from soi_mcu.ops.softmax import Softmax
from soi_mcu.ops.sub import Sub
from soi_mcu.ops.tconv import TConv
from soi_mcu.ops.tconv_freq import TConvFreq
from soi_mcu.ops.upsample import Upsample

KINDS: tuple[type[LayerOp], ...] = (Conv, TConvFreq, TConv, Duplicate, Shift, Upsample, FreqPool, Concat, Add,
                                    PReLU, Mul, Sub, Activation, Softmax, LSTM, GRU, Slice,
                                    LayerNorm)
Layer = LayerOp

__all__ = ["ACTIVATIONS", "GRU", "KINDS", "LSTM", "Activation", "Add", "ChannelNorm", "Concat", "Conv", "Duplicate",
           "FrameNorm", "FreqPool", "Layer", "LayerNorm", "LayerOp", "Mul", "PReLU", "Shift", "Slice", "Softmax", "Sub",
           "TConv", "TConvFreq", "Upsample", "activate"]
