"""FreqPool: the average over all frequency bins (a classifier's global pooling, frame by frame)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered, same_quant


@dataclass(frozen=True)
class PoolNode:
    kind: ClassVar[str] = "pool"
    init_rank: ClassVar[int] = 1  # its buffer check comes after the convs'
    name: str
    source: BufRef
    target: BufRef
    width: int
    channels: int

    @property
    def scratch_bytes(self) -> int:
        return 4 * self.channels  # arm_avgpool_s8's int32 sums

    @property
    def kernels(self) -> tuple[str, ...]:
        return ("arm_avgpool_s8",)

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return (self.source,)

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


@dataclass(frozen=True)
class FreqPool(LayerOp):
    kind: ClassVar[str] = "pool"
    buffer_rank: ClassVar[int] = 2

    def infer(self, period, channels, width, rf) -> Facts:
        s = self.input
        return Facts(period[s], channels[s], 1, rf[s])

    def offline(self, model, acts):
        return acts[self.input].mean(dim=3, keepdim=True)

    def stream(self, stepper, phase: int):
        return stepper.frames[self.input].mean(dim=1, keepdim=True)

    def keras(self, keras, offline, acts):
        width = acts[self.input].shape[2]
        return keras.layers.AveragePooling2D((1, width), name=self.name)(acts[self.input])

    def match(self, m):
        op = m.consumer(m.acts[self.input], "AVERAGE_POOL_2D", self.name)
        m.acts[self.name] = op.outputs[0]
        return m.graph.tensors[op.outputs[0]]

    def lower(self, ctx: LowerContext) -> Lowered:
        same_quant(self.name, ctx.quant[self.input], ctx.matched[self.name])
        node = PoolNode(self.name, ctx.buf[self.input], BufRef(f"soi_buf_{self.name}"), ctx.sched.width[self.input],
                        ctx.sched.channels[self.name])
        return Lowered((node,), node.target, ctx.matched[self.name], {node.target.buffer: node.channels})
