"""LayerNorm per frame: over the channels of each (frame, bin) (`over="channels"`, Conv-TasNet's cLN)
or over channels x frequency of each frame (`over="frame"`, GTCRN-style). Both are causal: a frame's
statistics are its own.

In int8 it is the op sequence TensorFlow's converter makes of the Keras form below, which is full
int8 (Keras' own LayerNormalization leaves a float NEG in it):
MEAN -> SUB -> MUL (square) -> MEAN -> ADD (eps) -> RSQRT -> MUL, then MUL (gamma) and ADD (beta)
when they are not 1 and 0. The firmware (soi_layernorm_s8) computes each of these ops as LiteRT's
reference kernel does. What depends on one int8 value is a 256-entry table computed here
(soi_mcu/ops/int8_ref.py): RSQRT and its eps ADD, the square, and the rescaled first inputs of the SUB and
of the beta ADD (beta's own rescaled values per channel too), which halves the requantizations per value."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered
from soi_mcu.ops.int8_ref import add_params, add_s8, mbqm, mean_params, rsqrt_params, rsqrt_s8
from soi_mcu.ops.records import Tensor
from soi_mcu.ops.requant import quantize_multiplier

OVER = ("channels", "frame")


class ChannelNorm(nn.Module):
    """LayerNorm over the channels of every (frame, bin) of a (batch, channels, time, freq) tensor (cLN),
    without the permutes nn.LayerNorm needs there; weight and bias have one value per channel."""

    def __init__(self, channels: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm(channels, eps=eps, elementwise_affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)


class FrameNorm(nn.Module):
    """LayerNorm over channels x frequency of every frame of a (batch, channels, time, freq) tensor;
    weight and bias have shape (channels, freq)."""

    def __init__(self, channels: int, freq_bins: int, eps: float = 1e-5, affine: bool = True) -> None:
        super().__init__()
        self.norm = nn.LayerNorm((channels, freq_bins), eps=eps, elementwise_affine=affine)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(x.transpose(1, 2)).transpose(1, 2)


def _import(builder, path: str, module: nn.Module) -> None:
    norm = module.norm if isinstance(module, ChannelNorm | FrameNorm) else module
    shape = tuple(norm.normalized_shape)
    if len(shape) not in (1, 2):
        raise SoiError(f"{path} ({type(module).__name__}): normalized_shape {shape}; a per-frame LayerNorm "
                       "normalizes (channels,) or (channels, freq)")
    layer = LayerNorm(builder.layer_name(path), builder.source, over=OVER[len(shape) - 1],
                      affine=norm.elementwise_affine, eps=float(norm.eps))

    # nn.LayerNorm((F, C)) of (B, T, F, C) frames; optional in the importer contract
    transposed = getattr(builder, "norm_transposed", False)

    def load(offline) -> None:
        target = offline.layernorms[layer.name]
        if norm.elementwise_affine:
            weight = norm.weight.detach().T if transposed else norm.weight.detach()
            if weight.shape != target.weight.shape:
                want = tuple(target.weight.shape[::-1] if transposed else target.weight.shape)
                raise SoiError(f"{path} ({type(module).__name__}): normalized_shape {shape}, but its input's "
                               f"last axes are {want}")
            target.weight.copy_(weight)
            if norm.bias is not None:
                target.bias.copy_(norm.bias.detach().T if transposed else norm.bias.detach())
            else:
                target.bias.zero_()

    builder.append(layer, load)


@dataclass(frozen=True)
class LayerNormNode:
    kind: ClassVar[str] = "layernorm"
    declare_rank: ClassVar[int] = 0
    headers: ClassVar[tuple[str, ...]] = ("soi_layernorm.h",)
    name: str
    source: BufRef
    target: BufRef
    groups: int  # statistics computed separately: one per bin (channels) or one per frame
    group_size: int
    mean: tuple[int, int, int, int]  # (input offset, multiplier, shift, output offset), as in the C struct
    sub: tuple[int, ...]  # (input1 offset, input2 offset, m1, s1, m2, s2, output m, output s, output offset)
    square: tuple[int, int, int, int, int]  # (input1 offset, input2 offset, multiplier, shift, output offset)
    variance: tuple[int, int, int, int]
    normalize: tuple[int, int, int, int, int]
    gamma_mul: tuple[int, int, int, int, int]
    beta_add: tuple[int, ...]
    rsqrt_table: np.ndarray  # int8[256]: ADD eps then RSQRT of the variance, entry v + 128
    gamma: np.ndarray | None  # int8, 1 or group_size values
    beta: np.ndarray | None
    run_period: int

    @property
    def size(self) -> int:
        return self.groups * self.group_size

    @cached_property
    def tables(self) -> LayerNormTables:
        return layernorm_tables(self.sub, self.square, self.beta_add, self.beta)

    @property
    def constant_bytes(self) -> int:
        t = self.tables
        arrays = (self.rsqrt_table, t.square, t.sub_input1, t.beta_input1, t.beta_input2, self.gamma)
        return sum(int(a.nbytes) for a in arrays if a is not None)

    @property
    def kernels(self) -> tuple[str, ...]:
        return ("soi_layernorm_s8",)

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return (self.source,)

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


@dataclass(frozen=True)
class MatchedLayerNorm:
    """The tensors of the op sequence (optional ones None): each op's output, and the constants."""

    x: Tensor
    mean: Tensor
    diff: Tensor
    square: Tensor
    variance: Tensor
    eps: Tensor | None
    eps_out: Tensor
    rsqrt: Tensor
    normalized: Tensor
    gamma: Tensor | None
    gamma_out: Tensor
    beta: Tensor | None
    output: Tensor


@dataclass(frozen=True)
class LayerNorm(LayerOp):
    over: str = "channels"  # "channels": each (frame, bin) over its channels; "frame": channels x freq
    affine: bool = True  # learned weight and bias (nn.LayerNorm's elementwise_affine)
    eps: float = 1e-5

    kind: ClassVar[str] = "layernorm"
    torch_group: ClassVar[str] = "layernorms"
    buffer_rank: ClassVar[int] = 8
    torch_imports: ClassVar[dict] = {nn.LayerNorm: _import, ChannelNorm: _import, FrameNorm: _import}

    def infer(self, period, channels, width, rf) -> Facts:
        if self.over not in OVER:
            raise SoiError(f"layer '{self.name}': LayerNorm over '{self.over}'; choose one of {', '.join(OVER)}")
        if self.eps < 0:
            raise SoiError(f"layer '{self.name}': eps {self.eps} must not be negative")
        c, w = channels[self.input], width[self.input]
        if (c if self.over == "channels" else c * w) < 2:
            # the converter drops a MEAN over one value, and the output would be the bias alone anyway
            raise SoiError(f"layer '{self.name}': a LayerNorm over {'the channels' if self.over == 'channels' else 'the frame'} "
                           f"of {c} channel(s) x {w} bin(s) normalizes a single value (its output is always its bias); "
                           "remove it or normalize more values")
        return super().infer(period, channels, width, rf)

    def shape(self, sched) -> tuple[int, ...]:
        c, w = sched.channels[self.input], sched.width[self.input]
        return (c,) if self.over == "channels" else (c, w)

    def torch_module(self, sched) -> nn.Module:
        return nn.LayerNorm(self.shape(sched), eps=self.eps, elementwise_affine=self.affine)

    def offline(self, model, acts):
        ln = model.layernorms[self.name]
        x = acts[self.input]  # (batch, channels, time, freq)
        if self.over == "channels":
            return ln(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return ln(x.transpose(1, 2)).transpose(1, 2)

    def stream(self, stepper, phase: int):
        ln = stepper.offline.layernorms[self.name]
        x = stepper.frames[self.input]  # (channels, width)
        return ln(x.T).T if self.over == "channels" else ln(x)

    def _params(self, offline) -> tuple[np.ndarray | None, np.ndarray | None]:
        """gamma and beta in the Keras layout ((C,) or (F, C)), None where they change nothing."""
        ln = offline.layernorms[self.name]
        if not self.affine:
            return None, None
        g, b = ln.weight.detach().numpy(), ln.bias.detach().numpy()
        if self.over == "frame":
            g, b = g.T, b.T
        return (None if np.all(g == 1) else g.astype(np.float32)), (None if np.all(b == 0) else b.astype(np.float32))

    def keras(self, keras, offline, acts):
        # Written out rather than keras.layers.LayerNormalization: that form makes the converter leave a
        # float NEG (beta - mean * inv) in the graph. Trivial steps are left out: the converter would
        # fold them anyway, and the matcher then knows which ops to expect.
        ops = keras.ops
        x = acts[self.input]  # (batch, time, freq, channels)
        axes = [3] if self.over == "channels" else [2, 3]
        d = x - ops.mean(x, axis=axes, keepdims=True)
        v = ops.mean(d * d, axis=axes, keepdims=True)
        y = d * ops.rsqrt(v + self.eps if self.eps else v)
        gamma, beta = self._params(offline)
        if gamma is not None:
            y = y * gamma
        if beta is not None:
            y = y + beta
        return y

    def match(self, m) -> MatchedLayerNorm:
        t = m.graph.tensors
        axes = {3} if self.over == "channels" else {2, 3}
        x = m.acts[self.input]

        def take(tensor: int, kind: str, what: str, test=lambda op: True, optional: bool = False):
            for op in m.readers(tensor):
                if op.kind == kind and test(op) and not op.options.get("fusedActivationFunction", 0):
                    m.used.add(op.index)
                    return op
            if optional:
                return None
            raise SoiError(f"layer '{self.name}': no {kind} ({what}) of tensor '{t[tensor].name}' in the .tflite; "
                           "the converter made another op sequence of the LayerNorm")

        def const(op) -> int | None:
            return next((i for i in op.inputs if t[i].data is not None), None)

        def mean_of(tensor: int, what: str):
            op = take(tensor, "MEAN", what, lambda o: {int(a) % 4 for a in np.ravel(t[o.inputs[1]].data)} == axes)
            return op.outputs[0]

        mean = mean_of(x, "mean")
        sub = take(x, "SUB", "x - mean", lambda o: tuple(o.inputs) == (x, mean))
        diff = sub.outputs[0]
        sq = take(diff, "MUL", "square", lambda o: tuple(o.inputs) == (diff, diff)).outputs[0]
        var = mean_of(sq, "variance")
        eps_op = take(var, "ADD", "+ eps", lambda o: const(o) is not None, optional=True) if self.eps else None
        eps_out = eps_op.outputs[0] if eps_op else var
        rsqrt = take(eps_out, "RSQRT", "rsqrt").outputs[0]
        norm = take(diff, "MUL", "(x - mean) * rsqrt", lambda o: set(o.inputs) == {diff, rsqrt})
        out = norm.outputs[0]
        gamma_op = take(out, "MUL", "* gamma", lambda o: const(o) is not None, optional=True) if self.affine else None
        gamma_out = gamma_op.outputs[0] if gamma_op else out
        beta_op = take(gamma_out, "ADD", "+ beta", lambda o: const(o) is not None, optional=True) if self.affine \
            else None
        final = beta_op.outputs[0] if beta_op else gamma_out
        m.acts[self.name] = final
        return MatchedLayerNorm(
            x=t[x], mean=t[mean], diff=t[diff], square=t[sq], variance=t[var],
            eps=t[const(eps_op)] if eps_op else None, eps_out=t[eps_out], rsqrt=t[rsqrt], normalized=t[out],
            gamma=t[const(gamma_op)] if gamma_op else None, gamma_out=t[gamma_out],
            beta=t[const(beta_op)] if beta_op else None, output=t[final])

    def lower(self, ctx: LowerContext) -> Lowered:
        mt: MatchedLayerNorm = ctx.matched[self.name]
        sched = ctx.sched
        c, w = sched.channels[self.name], sched.width[self.name]
        groups, size = (w, c) if self.over == "channels" else (1, w * c)
        node = LayerNormNode(
            name=self.name, source=ctx.buf[self.input], target=BufRef(f"soi_buf_{self.name}"),
            groups=groups, group_size=size,
            mean=_mean(mt.x, mt.mean, size), sub=_add(mt.x, mt.mean, mt.diff), square=_mul(mt.diff, mt.diff, mt.square),
            variance=_mean(mt.square, mt.variance, size), normalize=_mul(mt.diff, mt.rsqrt, mt.normalized),
            gamma_mul=_mul(mt.normalized, mt.gamma, mt.gamma_out) if mt.gamma is not None else (0,) * 5,
            beta_add=_add(mt.gamma_out, mt.beta, mt.output) if mt.beta is not None else (0,) * 9,
            rsqrt_table=_rsqrt_table(mt), gamma=_values(self.name, mt.gamma, size),
            beta=_values(self.name, mt.beta, size), run_period=sched.period[self.name],
        )
        return Lowered((node,), node.target, mt.output, {node.target.buffer: node.size})


@dataclass(frozen=True)
class LayerNormTables:
    """soi_layernorm_tables: the functions of one int8 value (entry v + 128), as LiteRT computes them."""

    square: np.ndarray  # int8[256]: MUL(d, d)
    sub_input1: np.ndarray  # int32[256]: the SUB's first input shifted left by 20 and rescaled
    beta_input1: np.ndarray | None  # int32[256]: the beta ADD's first input, rescaled
    beta_input2: np.ndarray | None  # int32: each beta value rescaled (1 or group_size)


def layernorm_tables(sub: tuple[int, ...], square: tuple[int, ...], beta_add: tuple[int, ...],
                     beta: np.ndarray | None) -> LayerNormTables:
    """The tables of a LayerNorm from its SUB, square MUL and beta ADD fields (the C structs' order)."""
    values = range(-128, 128)
    o1, o2, mult, shift, zo = square
    squares = [min(127, max(-128, mbqm((d + o1) * (d + o2), mult, shift) + zo)) for d in values]
    sub_input1 = [mbqm((x + sub[0]) << 20, sub[2], sub[3]) for x in values]
    beta_input1 = beta_input2 = None
    if beta is not None:
        beta_input1 = np.array([mbqm((y + beta_add[0]) << 20, beta_add[2], beta_add[3]) for y in values], np.int32)
        beta_input2 = np.array([mbqm((int(b) + beta_add[1]) << 20, beta_add[4], beta_add[5]) for b in beta], np.int32)
    return LayerNormTables(np.array(squares, np.int8), np.array(sub_input1, np.int32), beta_input1, beta_input2)


def _q(t: Tensor) -> tuple[float, int]:
    if len(t.scale) != 1:
        raise SoiError(f"tensor '{t.name}': per-channel quantization in a LayerNorm op is not supported")
    return float(t.scale[0]), int(t.zero_point[0])


def _mean(inp: Tensor, out: Tensor, count: int) -> tuple[int, int, int, int]:
    (si, zi), (so, zo) = _q(inp), _q(out)
    mult, shift = mean_params(si, so, count)
    return -zi, mult, shift, zo


def _add(a: Tensor, b: Tensor, out: Tensor) -> tuple[int, ...]:
    (s1, z1), (s2, z2), (so, zo) = _q(a), _q(b), _q(out)
    (m1, sh1), (m2, sh2), (mo, sho) = add_params(s1, s2, so)
    return -z1, -z2, m1, sh1, m2, sh2, mo, sho, zo


def _mul(a: Tensor, b: Tensor, out: Tensor) -> tuple[int, int, int, int, int]:
    (s1, z1), (s2, z2), (so, zo) = _q(a), _q(b), _q(out)
    mult, shift = quantize_multiplier(s1 * s2 / so)
    return -z1, -z2, mult, shift, zo


def _rsqrt_table(mt: MatchedLayerNorm) -> np.ndarray:
    """RSQRT (after the eps ADD, if there is one) of every int8 variance value, entry v + 128."""
    (sv, zv), (se, ze), (sr, zr) = _q(mt.variance), _q(mt.eps_out), _q(mt.rsqrt)
    values = range(-128, 128)
    if mt.eps is not None:
        (sc, zc) = _q(mt.eps)
        eps = int(np.ravel(mt.eps.data)[0])
        params = add_params(sv, sc, se)
        values = [add_s8(v, eps, (-zv, -zc, ze), params) for v in values]
    mult, shift = rsqrt_params(se, sr)
    # below the zero point RSQRT is undefined (LiteRT refuses it); a variance never is
    return np.array([rsqrt_s8(v, ze, zr, mult, shift) if v >= ze else 127 for v in values], np.int8)


def _values(layer: str, t: Tensor | None, size: int) -> np.ndarray | None:
    if t is None:
        return None
    data = np.asarray(t.data, np.int8).reshape(-1)
    if data.size not in (1, size):
        raise SoiError(f"layer '{layer}': {data.size} LayerNorm weights for groups of {size} values")
    return data
