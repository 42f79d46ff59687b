"""Slice: channels [start, stop) of each frame (a channel split: torch.chunk, torch.split, x[:, a:b]).

In int8 it is TFLite's STRIDED_SLICE on the channel axis, which keeps its input's quantization; the
firmware copies the channels of each bin (soi_slice_channels)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered, same_quant


@dataclass(frozen=True)
class SliceNode:
    kind: ClassVar[str] = "slice"
    name: str
    source: BufRef
    target: BufRef
    freq: int
    channels: int  # of the input
    start: int
    count: int
    run_period: int

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return (self.source,)

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


@dataclass(frozen=True)
class Slice(LayerOp):
    start: int = 0
    stop: int = 1

    kind: ClassVar[str] = "slice"
    buffer_rank: ClassVar[int] = 4

    def infer(self, period, channels, width, rf) -> Facts:
        c = channels[self.input]
        if not 0 <= self.start < self.stop <= c:
            raise SoiError(f"layer '{self.name}': channels [{self.start}, {self.stop}) of an input of {c} channels")
        return Facts(period[self.input], self.stop - self.start, width[self.input], rf[self.input])

    def offline(self, model, acts):
        return acts[self.input][:, self.start:self.stop]

    def stream(self, stepper, phase: int):
        return stepper.frames[self.input][self.start:self.stop]  # (channels, width)

    def keras(self, keras, offline, acts):
        # (batch, time, freq, channels): the converter writes one STRIDED_SLICE on the last axis
        return keras.layers.Lambda(lambda t: t[..., self.start:self.stop], name=self.name)(acts[self.input])

    def match(self, m):
        src = m.acts[self.input]
        for op in m.readers(src):
            if op.kind in ("STRIDED_SLICE", "SLICE"):
                begin = m.graph.tensors[op.inputs[1]].data
                if begin is not None and int(begin.reshape(-1)[-1]) == self.start:
                    m.used.add(op.index)
                    m.acts[self.name] = op.outputs[0]
                    return m.graph.tensors[op.outputs[0]]
        raise SoiError(f"layer '{self.name}': no STRIDED_SLICE from channel {self.start} of its input in the .tflite")

    def lower(self, ctx: LowerContext) -> Lowered:
        out = ctx.matched[self.name]
        same_quant(self.name, ctx.quant[self.input], out)
        sched = ctx.sched
        node = SliceNode(self.name, ctx.buf[self.input], BufRef(f"soi_buf_{self.name}"), sched.width[self.name],
                         sched.channels[self.input], self.start, self.stop - self.start, sched.period[self.name])
        return Lowered((node,), node.target, out, {node.target.buffer: node.freq * node.count})
