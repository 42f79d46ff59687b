"""Add: a skip connection by addition (inputs of equal shape), TFLite's int8 ADD arithmetic.

The lowering (`add_node`) is shared with Sub: TFLite computes int8 SUB with the ADD kernel, the second
input's multiplier negated (sub.cc's PrepareGeneralSubOp, then reference_integer_ops::Add)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import ClassVar

import torch

from soi_mcu.errors import SoiError
from soi_mcu.ops.add_table import AddTables, add_tables
from soi_mcu.ops.base import BufRef, LayerOp, LowerContext, Lowered
from soi_mcu.ops.elementwise import Elementwise
from soi_mcu.ops.requant import activation_range, quantize_multiplier


@dataclass(frozen=True)
class AddNode:
    """Both inputs rescaled to a common scale with 20 bits of headroom, summed, requantized to the
    output (the parameters TFLite's reference kernel derives). A subtraction is the same node with the
    second input's multiplier negated (`what` only names it in the C comment). With `tables` it runs as
    soi_add_table_s8 (add_table.py: each input's share of the output, checked on all input pairs), else as
    arm_elementwise_add_s8."""

    kind: ClassVar[str] = "add"
    declare_rank: ClassVar[int] = 0  # its tables (if any), in layer order with the convs' constants
    name: str
    sources: tuple[BufRef, BufRef]
    target: BufRef
    size: int
    input_offsets: tuple[int, int]
    input_multipliers: tuple[int, int]
    input_shifts: tuple[int, int]
    left_shift: int
    output_offset: int
    output_multiplier: int
    output_shift: int
    act_min: int
    act_max: int
    what: str = "addition"
    tables: AddTables | None = None

    @property
    def kernels(self) -> tuple[str, ...]:
        return ("soi_add_table_s8",) if self.tables is not None else ("arm_elementwise_add_s8",)

    @property
    def headers(self) -> tuple[str, ...]:
        return ("soi_add_table.h",) if self.tables is not None else ()

    @property
    def constant_bytes(self) -> int:
        return 2 * 256 * 4 if self.tables is not None else 0

    def portable(self) -> AddNode:
        """This node on the CMSIS-NN API (no tables), as without the project's fast kernels."""
        return replace(self, tables=None)

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return self.sources

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


def add_node(layer: LayerOp, ctx: LowerContext, sign: int = 1, what: str = "addition") -> Lowered:
    """TFLite's int8 ADD parameters (add.cc / sub.cc Prepare): both inputs to twice the larger input
    scale with 20 bits of headroom, the second input's multiplier times `sign` (-1: SUB)."""
    if len(layer.inputs) != 2:
        raise SoiError(f"layer '{layer.name}': an {what} of {len(layer.inputs)} inputs; two are supported")
    m = ctx.matched[layer.name]
    s1, s2 = (float(t.scale[0]) for t in m.inputs)
    out_scale = float(m.output.scale[0])
    left_shift = 20  # TFLite's headroom for int8 ADD and SUB
    twice_max = 2 * max(s1, s2)
    q1, q2 = quantize_multiplier(s1 / twice_max), quantize_multiplier(s2 / twice_max)
    qo = quantize_multiplier(twice_max / ((1 << left_shift) * out_scale))
    act_min, act_max = activation_range(m.act, m.output)
    node = AddNode(
        name=layer.name, sources=tuple(ctx.buf[s] for s in m.sources), target=BufRef(f"soi_buf_{layer.name}"),
        size=ctx.sched.width[layer.name] * ctx.sched.channels[layer.name],
        input_offsets=tuple(-int(t.zero_point[0]) for t in m.inputs), input_multipliers=(q1[0], sign * q2[0]),
        input_shifts=(q1[1], q2[1]), left_shift=left_shift, output_offset=int(m.output.zero_point[0]),
        output_multiplier=qo[0], output_shift=qo[1], act_min=act_min, act_max=act_max, what=what,
    )
    if ctx.fast_kernels and layer.name not in ctx.portable_layers and ctx.core_is_fast("soi_add_table_s8"):
        node = replace(node, tables=add_tables(node))
    return Lowered((node,), node.target, m.output, {node.target.buffer: node.size})


@dataclass(frozen=True)
class Add(Elementwise):
    kind: ClassVar[str] = "add"
    buffer_rank: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 64
    tflite_op: ClassVar[str] = "ADD"
    keras_layer: ClassVar[str] = "Add"
    verb: ClassVar[str] = "added"

    def combine(self, parts: list[torch.Tensor]) -> torch.Tensor:
        return torch.stack(parts).sum(0)

    def lower(self, ctx: LowerContext) -> Lowered:
        return add_node(self, ctx)
