"""Plain records of an int8 .tflite that the layer kinds read: tensors with their quantization, and
what a layer's ops were matched to (soi_mcu/quantize/graph.py fills them)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: type
    scale: np.ndarray  # float32, one per tensor or per channel
    zero_point: np.ndarray
    data: np.ndarray | None  # constant contents, None for activations


@dataclass(frozen=True)
class MatchedConv:
    input: Tensor
    output: Tensor
    filter: Tensor
    bias: Tensor | None
    stride: tuple[int, int]  # (h, w)
    dilation: tuple[int, int]
    act: str
    crop: tuple[int, ...] = ()  # a TRANSPOSE_CONV cut by a STRIDED_SLICE: where the kept part begins (n, h, w, c)
    elu: Tensor | None = None  # output of the int8 ELU op that follows (act "elu"); `output` is the conv's

    def bias_values(self, cout: int) -> np.ndarray:
        if self.bias is not None and self.bias.data is not None:
            return np.asarray(self.bias.data, dtype=np.int32)
        return np.zeros(cout, np.int32)


@dataclass(frozen=True)
class MatchedAdd:
    sources: tuple[str, ...]  # spec layer names, in the ADD op's input order
    inputs: tuple[Tensor, ...]
    output: Tensor
    act: str
