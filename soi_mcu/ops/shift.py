"""Shift (SC): a delay by `frames` frames at the input's rate, so that what follows sees only the past
and can be precomputed between frames (fully predictive)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered, own_group, ring_window, same_quant

_SLICES = ("STRIDED_SLICE", "SLICE")


@dataclass(frozen=True)
class ShiftNode:
    kind: ClassVar[str] = "shift"
    declare_rank: ClassVar[int] = 1  # after the convs
    has_ring: ClassVar[bool] = True
    name: str
    source: BufRef
    frames: int  # delay, in input frames
    frame_size: int
    zero_point: int
    copy_to: BufRef | None  # buffer the delayed frame is copied to when it runs; None: read the ring in place

    @property
    def slot_bytes(self) -> int:
        return 2 * self.frames * self.frame_size

    @property
    def state_bytes(self) -> int:
        return self.slot_bytes

    @property
    def ring_zero_point(self) -> int:
        return self.zero_point

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return () if what == "run" else (self.source,)  # the copy reads the ring; the push its input

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.copy_to,) if what == "run" and self.copy_to else ()


@dataclass(frozen=True)
class Shift(LayerOp):
    frames: int = 1

    kind: ClassVar[str] = "shift"
    buffer_rank: ClassVar[int] = 6
    delays: ClassVar[bool] = True

    def infer(self, period, channels, width, rf) -> Facts:
        if self.frames < 1:
            raise SoiError(f"layer '{self.name}': a shift must delay by at least 1 frame")
        s = self.input
        return Facts(period[s], channels[s], width[s], rf[s] + self.frames * period[s])

    def offline(self, model, acts):
        x = acts[self.input]
        return nn.functional.pad(x, (0, 0, self.frames, 0))[:, :, : x.shape[2]]

    def state_shape(self, sched) -> tuple[int, int, int]:
        return sched.channels[self.input], self.frames, sched.width[self.input]

    def stream(self, stepper, phase: int):
        return stepper.states[self.name][:, 0]

    def take_in(self, stepper) -> None:
        """After the step's deferred work: the delay line takes in its input's frame of that step."""
        state = stepper.states[self.name]
        stepper.states[self.name] = torch.cat([state[:, 1:], stepper.frames[self.input][:, None]], dim=1)

    def keras(self, keras, offline, acts):
        t = acts[self.input].shape[1]
        pad = keras.layers.ZeroPadding2D(((self.frames, 0), (0, 0)), name=f"{self.name}__pad")(acts[self.input])
        out = keras.layers.Cropping2D(((0, self.frames), (0, 0)), name=self.name)(pad)
        assert out.shape[1] == t
        return out

    def match(self, m):
        pads = [op for op in m.readers(m.acts[self.input]) if op.kind == "PAD"
                and any(c.kind in _SLICES for c in m.graph.consumers.get(op.outputs[0], []))]
        if not pads:
            raise SoiError(f"layer '{self.name}': no PAD + STRIDED_SLICE (time shift) in the .tflite")
        m.used.add(pads[0].index)
        cut = next(c for c in m.graph.consumers[pads[0].outputs[0]] if c.kind in _SLICES)
        m.used.add(cut.index)
        m.acts[self.name] = cut.outputs[0]
        return m.graph.tensors[cut.outputs[0]]

    def lower(self, ctx: LowerContext) -> Lowered:
        sched = ctx.sched
        same_quant(self.name, ctx.quant[self.input], ctx.matched[self.name])
        # Read the delayed frame in place unless someone reads it on phases where the shift does
        # not run (a duplication after it): the ring moves on under them.
        held = any(c.holds_input_frame for c in ctx.consumers.get(self.name, []))
        node = ShiftNode(self.name, ctx.buf[self.input], self.frames,
                         sched.width[self.name] * sched.channels[self.name],
                         int(ctx.quant[self.input].zero_point[0]), BufRef(f"soi_buf_{self.name}") if held else None)
        out = node.copy_to or ring_window(self.name)
        buffers = {node.copy_to.buffer: node.frame_size} if node.copy_to else {}
        return Lowered((node,), out, ctx.matched[self.name], buffers)

    def actions(self, lowered: Lowered, sched) -> list:
        node = lowered.nodes[0]
        return [("run", node, own_group(self, sched))] if node.copy_to else []

    def late_actions(self, lowered: Lowered, sched) -> list:
        mask = sum(1 << p for p in range(sched.phases) if sched.runs(self.input, p))
        return [("push", lowered.nodes[0], mask)]
