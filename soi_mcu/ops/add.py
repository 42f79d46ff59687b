"""Add: a skip connection by addition (inputs of equal shape), TFLite's int8 ADD arithmetic."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered
from soi_mcu.ops.concat import aligned, skip_facts
from soi_mcu.ops.records import MatchedAdd
from soi_mcu.ops.requant import activation_range, quantize_multiplier
from soi_mcu.ops.tflite_act import fused_act


@dataclass(frozen=True)
class AddNode:
    """Both inputs rescaled to a common scale with 20 bits of headroom, summed, requantized to the
    output (the parameters TFLite's reference kernel derives)."""

    kind: ClassVar[str] = "add"
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

    @property
    def kernels(self) -> tuple[str, ...]:
        return ("arm_elementwise_add_s8",)

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return self.sources

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


@dataclass(frozen=True)
class Add(LayerOp):
    kind: ClassVar[str] = "add"
    buffer_rank: ClassVar[int] = 1
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 64

    def infer(self, period, channels, width, rf) -> Facts:
        p, w, r = skip_facts(self, period, width, rf)
        if len({channels[s] for s in self.inputs}) != 1:
            raise SoiError(f"layer '{self.name}': added inputs have different channels "
                           f"{[channels[s] for s in self.inputs]}")
        return Facts(p, channels[self.inputs[0]], w, r)

    def offline(self, model, acts):
        return torch.stack(aligned([acts[s] for s in self.inputs])).sum(0)

    def stream(self, stepper, phase: int):
        return torch.stack([stepper.frames[s] for s in self.inputs]).sum(0)

    def keras(self, keras, offline, acts):
        return keras.layers.Add(name=self.name)([acts[s] for s in self.inputs])

    def match(self, m) -> MatchedAdd:
        srcs = {m.acts[s] for s in self.inputs}
        cands = [op for op in m.readers(m.acts[self.inputs[0]]) if op.kind == "ADD" and set(op.inputs) == srcs]
        if not cands:
            raise SoiError(f"layer '{self.name}': no ADD of {self.inputs} in the .tflite")
        op = cands[0]
        m.used.add(op.index)
        m.acts[self.name] = op.outputs[0]
        by_tensor = {m.acts[s]: s for s in self.inputs}
        return MatchedAdd(
            sources=tuple(by_tensor[t] for t in op.inputs), inputs=tuple(m.graph.tensors[t] for t in op.inputs),
            output=m.graph.tensors[op.outputs[0]], act=fused_act(op.options.get("fusedActivationFunction", 0)),
        )

    def lower(self, ctx: LowerContext) -> Lowered:
        if len(self.inputs) != 2:
            raise SoiError(f"layer '{self.name}': an addition of {len(self.inputs)} inputs; two are supported")
        m = ctx.matched[self.name]
        s1, s2 = (float(t.scale[0]) for t in m.inputs)
        out_scale = float(m.output.scale[0])
        left_shift = 20  # TFLite's headroom for int8 ADD
        twice_max = 2 * max(s1, s2)
        q1, q2 = quantize_multiplier(s1 / twice_max), quantize_multiplier(s2 / twice_max)
        qo = quantize_multiplier(twice_max / ((1 << left_shift) * out_scale))
        act_min, act_max = activation_range(m.act, m.output)
        node = AddNode(
            name=self.name, sources=tuple(ctx.buf[s] for s in m.sources), target=BufRef(f"soi_buf_{self.name}"),
            size=ctx.sched.width[self.name] * ctx.sched.channels[self.name],
            input_offsets=tuple(-int(t.zero_point[0]) for t in m.inputs), input_multipliers=(q1[0], q2[0]),
            input_shifts=(q1[1], q2[1]), left_shift=left_shift, output_offset=int(m.output.zero_point[0]),
            output_multiplier=qo[0], output_shift=qo[1], act_min=act_min, act_max=act_max,
        )
        return Lowered((node,), node.target, m.output, {node.target.buffer: node.size})
