"""Concat: a skip connection by concatenation along channels; or, with `interleave`, their
interleaving (channel c * G + g is channel c of input g: the channel shuffle of ShuffleNet and
GTCRN, torch.stack(dim=1) -> transpose(1, 2) -> reshape, a PACK and a RESHAPE in the .tflite)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered, same_quant


@dataclass(frozen=True)
class ConcatNode:
    kind: ClassVar[str] = "concat"
    name: str
    sources: tuple[BufRef, ...]
    channels: tuple[int, ...]
    target: BufRef
    freq: int
    run_period: int
    interleave: bool = False

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return self.sources

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


def skip_facts(layer: LayerOp, period, width, rf) -> tuple[int, int, int]:
    """Period, width and receptive field of a skip connection; its inputs must agree on rate and bins."""
    periods = {period[s] for s in layer.inputs}
    if len(periods) != 1:
        raise SoiError(f"layer '{layer.name}': concatenated inputs run at different rates {sorted(periods)}")
    widths = {width[s] for s in layer.inputs}
    if len(widths) != 1:
        raise SoiError(f"layer '{layer.name}': concatenated inputs have different frequency bins {sorted(widths)}")
    return periods.pop(), widths.pop(), max(rf[s] for s in layer.inputs)


def aligned(parts: list[torch.Tensor]) -> list[torch.Tensor]:
    """Offline inputs cut to the shortest in time (a duplication may run past the sequence)."""
    t_len = min(p.shape[2] for p in parts)
    return [p[:, :, :t_len] for p in parts]


@dataclass(frozen=True)
class Concat(LayerOp):
    kind: ClassVar[str] = "concat"
    buffer_rank: ClassVar[int] = 4
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 64
    interleave: bool = False  # channel c * G + g is channel c of input g (a channel shuffle)

    def infer(self, period, channels, width, rf) -> Facts:
        p, w, r = skip_facts(self, period, width, rf)
        if self.interleave and len({channels[s] for s in self.inputs}) != 1:
            raise SoiError(f"layer '{self.name}': interleaved inputs have different channels "
                           f"{[channels[s] for s in self.inputs]}")
        return Facts(p, sum(channels[s] for s in self.inputs), w, r)

    def offline(self, model, acts):
        parts = aligned([acts[s] for s in self.inputs])
        if self.interleave:
            b, c, t, f = parts[0].shape
            return torch.stack(parts, dim=2).reshape(b, c * len(parts), t, f)
        return torch.cat(parts, dim=1)

    def stream(self, stepper, phase: int):
        frames = [stepper.frames[s] for s in self.inputs]
        if self.interleave:
            c, f = frames[0].shape
            return torch.stack(frames, dim=1).reshape(c * len(frames), f)
        return torch.cat(frames, dim=0)

    def keras(self, keras, offline, acts):
        parts = [acts[s] for s in self.inputs]
        t_len = min(p.shape[1] for p in parts)
        parts = [p if p.shape[1] == t_len else keras.layers.Cropping2D(((0, p.shape[1] - t_len), (0, 0)))(p)
                 for p in parts]
        if not self.interleave:
            return keras.layers.Concatenate(axis=-1, name=self.name)(parts)
        import tensorflow as tf

        class Interleave(keras.layers.Layer):
            def call(self, xs):
                _, t, f, c = xs[0].shape
                return tf.reshape(tf.stack(xs, axis=-1), (-1, t, f, c * len(xs)))

        return Interleave(name=self.name)(parts)

    def match(self, m):
        srcs = [m.acts[s] for s in self.inputs]
        kind = "PACK" if self.interleave else "CONCATENATION"
        cands = [op for op in m.readers(srcs[0]) if op.kind == kind and list(op.inputs) == srcs]
        if not cands:
            raise SoiError(f"layer '{self.name}': no {kind} of {self.inputs} in the .tflite")
        m.used.add(cands[0].index)
        out = cands[0].outputs[0]
        if self.interleave:  # (1, T, F, C, G) -> (1, T, F, C * G)
            out = m.consumer(out, "RESHAPE", self.name).outputs[0]
        m.acts[self.name] = out
        return m.graph.tensors[out]

    def lower(self, ctx: LowerContext) -> Lowered:
        out = ctx.matched[self.name]
        for src in self.inputs:
            same_quant(self.name, ctx.quant[src], out)
        sched = ctx.sched
        node = ConcatNode(self.name, tuple(ctx.buf[s] for s in self.inputs),
                          tuple(sched.channels[s] for s in self.inputs), BufRef(f"soi_buf_{self.name}"),
                          sched.width[self.name], sched.period[self.name], self.interleave)
        return Lowered((node,), node.target, out, {node.target.buffer: node.freq * sum(node.channels)})
