"""Activation: an element-wise sigmoid, tanh, hardsigmoid or hardswish after any layer.

In int8 each is a 256-entry table the firmware applies with soi_table_s8 (tables.py builds it from
what LiteRT's reference kernels compute):
- sigmoid, tanh, hardswish convert to TFLite's own LOGISTIC, TANH and HARD_SWISH;
- hardsigmoid has no TFLite op. Keras's relu6(x + 3) / 6 lets the converter fold the +3 into a conv
  before it (bias) and the /6 into a conv after it (weights), leaving no op of its own; written as
  clip(x, -3, 3) / 6 + 1/2 it keeps MINIMUM and MAXIMUM (same-scale ops nothing folds), and the MUL
  and ADD after them stay unless the next conv absorbs them. The layer is that chain, one table.
An int8 -> int8 QUANTIZE the converter puts after the op (LOGISTIC and TANH have a fixed output
quantization that the layers after them may not share) is element-wise too: the table takes it in."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import BufRef, LayerOp, LowerContext, Lowered
from soi_mcu.ops.records import Tensor
from soi_mcu.ops.tables import ChainLink, chain_table, check_output_quant, hardswish_table, sigmoid_table, tanh_table
from soi_mcu.ops.tflite_act import fused_act

FUNCTIONS = ("sigmoid", "tanh", "hardsigmoid", "hardswish")
_TFLITE_OP = {"sigmoid": "LOGISTIC", "tanh": "TANH", "hardswish": "HARD_SWISH"}
_HARDSIGMOID_CHAIN = ("MINIMUM", "MAXIMUM", "MUL", "ADD")  # in this order; MUL and ADD may be folded away


def activate_fn(fn: str, x: torch.Tensor) -> torch.Tensor:
    if fn == "sigmoid":
        return torch.sigmoid(x)
    if fn == "tanh":
        return torch.tanh(x)
    if fn == "hardsigmoid":
        return nn.functional.hardsigmoid(x)
    return nn.functional.hardswish(x)


@dataclass(frozen=True)
class ActivationNode:
    """The layer's table applied to its input frame, into its own buffer (other layers may read the input)."""

    kind: ClassVar[str] = "activation"
    declare_rank: ClassVar[int] = 0  # its table, in layer order with the convs' constants
    name: str
    fn: str
    ops: tuple[str, ...]  # the TFLite ops the table stands for
    source: BufRef
    target: BufRef
    size: int
    table: np.ndarray  # int8[256], entry x + 128 for input x
    run_period: int

    @property
    def constant_bytes(self) -> int:
        return int(self.table.size)

    @property
    def kernels(self) -> tuple[str, ...]:
        return ()  # soi_table_s8 is part of the runtime

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return (self.source,)

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


def _importer(fn: str):
    def load(builder, path: str, module: nn.Module) -> None:
        builder.append(Activation(builder.layer_name(path), builder.source, fn=fn))

    return load


@dataclass(frozen=True)
class Activation(LayerOp):
    fn: str = "sigmoid"

    kind: ClassVar[str] = "activation"
    buffer_rank: ClassVar[int] = 8
    torch_imports: ClassVar[dict] = {nn.Sigmoid: _importer("sigmoid"), nn.Tanh: _importer("tanh"),
                                     nn.Hardsigmoid: _importer("hardsigmoid"), nn.Hardswish: _importer("hardswish")}

    def check_neighbours(self, layers) -> None:
        src = layers.get(self.input)
        # The converter leaves ELU in float (soi_mcu/quantize/rewrite.py makes that island int8 by the
        # QUANTIZE it reaches); hardsigmoid's MINIMUM/MAXIMUM chain right after it gives the island no
        # such QUANTIZE, so its int8 scale is unknown.
        if self.fn == "hardsigmoid" and getattr(src, "act", "") == "elu":
            raise SoiError(f"layer '{self.name}': a hardsigmoid right after an ELU ('{src.name}') does not convert "
                           "to int8; give the conv another activation, or use sigmoid")

    def infer(self, period, channels, width, rf):
        if self.fn not in FUNCTIONS:
            raise SoiError(f"layer '{self.name}': activation '{self.fn}' is not one of {', '.join(FUNCTIONS)}")
        return super().infer(period, channels, width, rf)

    def offline(self, model, acts):
        return activate_fn(self.fn, acts[self.input])

    def stream(self, stepper, phase: int):
        return activate_fn(self.fn, stepper.frames[self.input])

    def keras(self, keras, offline, acts):
        x = acts[self.input]
        if self.fn == "hardsigmoid":
            return keras.ops.clip(x, -3.0, 3.0) * (1.0 / 6.0) + 0.5
        return keras.layers.Activation("hard_swish" if self.fn == "hardswish" else self.fn, name=self.name)(x)

    def match(self, m) -> tuple[ChainLink, ...]:
        src = m.acts[self.input]
        links: list[ChainLink] = []
        if self.fn in _TFLITE_OP:
            op = m.consumer(src, _TFLITE_OP[self.fn], self.name)
            links.append((op.kind, m.graph.tensors[src], None, m.graph.tensors[op.outputs[0]], "none"))
            src = op.outputs[0]
        for kind in () if self.fn in _TFLITE_OP else _HARDSIGMOID_CHAIN:
            op = next((o for o in m.readers(src) if o.kind == kind and _constant(m, o, src) is not None), None)
            if op is None:
                if kind in ("MINIMUM", "MAXIMUM"):
                    raise SoiError(f"layer '{self.name}': no {kind} with a constant reads tensor "
                                   f"'{m.graph.tensors[src].name}' in the .tflite (hardsigmoid's clip)")
                continue
            m.used.add(op.index)
            act = fused_act(op.options.get("fusedActivationFunction", 0))
            links.append((kind, m.graph.tensors[src], _constant(m, op, src), m.graph.tensors[op.outputs[0]], act))
            src = op.outputs[0]
        links += claim_requantize(m, src)
        m.acts[self.name] = links[-1][3].index
        return tuple(links)

    def lower(self, ctx: LowerContext) -> Lowered:
        links = ctx.matched[self.name]
        (_, inp, _, op_out, _), out = links[0], links[-1][3]
        table = None  # hardsigmoid: the chain alone
        if self.fn == "sigmoid":
            check_output_quant("LOGISTIC", op_out, 1 / 256, -128)
            table = sigmoid_table(inp, op_out)
        elif self.fn == "tanh":
            check_output_quant("TANH", op_out, 1 / 128, 0)
            table = tanh_table(inp, op_out)
        elif self.fn == "hardswish":
            table = hardswish_table(inp, op_out)
        table = chain_table(links[1:] if table is not None else links, table)
        sched = ctx.sched
        node = ActivationNode(
            name=self.name, fn=self.fn, ops=tuple(link[0] for link in links), source=ctx.buf[self.input],
            target=BufRef(f"soi_buf_{self.name}"), size=sched.width[self.name] * sched.channels[self.name],
            table=np.asarray(table, dtype=np.int8), run_period=sched.period[self.name],
        )
        return Lowered((node,), node.target, out, {node.target.buffer: node.size})


def claim_requantize(m, src: int) -> list[ChainLink]:
    """The int8 -> int8 QUANTIZE reading `src`, if the converter put one there, as a chain link ([] if none)."""
    for op in m.readers(src):
        if op.kind == "QUANTIZE" and m.graph.tensors[op.outputs[0]].dtype == np.int8:
            m.used.add(op.index)
            return [("QUANTIZE", m.graph.tensors[src], None, m.graph.tensors[op.outputs[0]], "none")]
    return []


def _constant(m, op, src: int) -> Tensor | None:
    """The op's one-value constant operand when its other operand is `src` (the chain), else None."""
    if len(op.inputs) != 2 or src not in op.inputs:
        return None
    other = op.inputs[1] if op.inputs[0] == src else op.inputs[0]
    t = m.graph.tensors[other]
    return t if t.data is not None and t.data.size == 1 else None
