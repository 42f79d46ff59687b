"""How TFLite writes a conv's activation: the fused code of its options, or an ELU op after it."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from soi_mcu.errors import SoiError
from soi_mcu.ops.records import MatchedConv

_FUSED = {0: "none", 1: "relu", 3: "relu6"}


def fused_act(code: int) -> str:
    return _FUSED.get(code, "unsupported")


def with_elu(m: Any, name: str, conv: MatchedConv) -> MatchedConv:
    """The int8 ELU op that follows a conv whose activation TFLite cannot fuse."""
    cands = [op for op in m.readers(conv.output.index) if op.kind == "ELU"]
    if not cands:
        raise SoiError(f"layer '{name}': no ELU op follows its conv in the .tflite")
    m.used.add(cands[0].index)
    return replace(conv, elu=m.graph.tensors[cands[0].outputs[0]])
