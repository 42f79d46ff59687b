"""The activations a conv carries: float form, how TFLite sees them, and their int8 form.

relu, relu6 and none fuse into the conv's TFLite op (an int8 clamp); ELU is its own TFLite op, an
int8 table the firmware applies in place after the conv (soi_table_s8)."""

from __future__ import annotations

import torch
from torch import nn

ACTIVATIONS = ("relu", "relu6", "elu", "none")
TABLE_ACTIVATIONS = ("elu",)  # own op in TFLite, a 256-entry table in the firmware


def activate(y: torch.Tensor, act: str) -> torch.Tensor:
    if act == "relu":
        return torch.relu(y)
    if act == "relu6":
        return torch.clamp(y, 0.0, 6.0)
    if act == "elu":
        return nn.functional.elu(y)
    return y


def fused(act: str) -> str:
    """The activation fused into the conv's TFLite op."""
    return "none" if act in TABLE_ACTIVATIONS else act


def keras_activation(act: str) -> str | None:
    return None if fused(act) == "none" else act


def keras_table_op(keras, act: str, name: str, x):
    """The activation as its own Keras layer after the conv, where TFLite has no fused form."""
    if act == "elu":  # TFLite CONV_2D has no fused ELU
        return keras.layers.ELU(name=f"{name}__elu")(x)
    return x
