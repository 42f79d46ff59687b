"""Decisions for the C code: spec + int8 graph -> a plan of buffers, states and kernel calls.

Everything numeric (requantization multipliers, offsets, activation ranges, dims, buffer sizes,
which step phases run what) is decided here; the templates only print it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from soi_mcu.errors import SoiError
from soi_mcu.model import Concat, Conv, Duplicate, ModelSpec, analyze, conv_macs
from soi_mcu.tflite_graph import Graph, MatchedConv, Tensor, match_layers


@dataclass(frozen=True)
class ConvNode:
    kind: ClassVar[str] = "conv"
    name: str
    source: str  # C expression of the input frame (a buffer, or `input`)
    target: str  # C buffer the output frame is written to
    cin: int
    cout: int
    kt: int
    kf: int
    dilation: int
    window: int  # frames in the partial state (1: no state)
    freq: int
    push_period: int  # a new input frame arrives every push_period steps
    run_period: int  # an output frame is computed every run_period steps
    input_offset: int
    output_offset: int
    act_min: int
    act_max: int
    state_zero_point: int
    weights: np.ndarray  # int8 [cout, kt, kf, cin]
    bias: np.ndarray  # int32 [cout]
    multipliers: tuple[int, ...]
    shifts: tuple[int, ...]
    macs: int


@dataclass(frozen=True)
class ConcatNode:
    kind: ClassVar[str] = "concat"
    name: str
    sources: tuple[str, ...]
    channels: tuple[int, ...]
    target: str
    freq: int
    run_period: int


@dataclass(frozen=True)
class CPlan:
    model_name: str
    phases: int
    freq: int
    in_channels: int
    out_channels: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    output_buffer: str
    buffers: dict[str, int]  # activation frame buffers: name -> bytes
    nodes: tuple[ConvNode | ConcatNode, ...]
    scratch_bytes: int
    macs_by_phase: tuple[int, ...]

    @property
    def state_bytes(self) -> int:
        return sum(2 * n.window * n.freq * n.cin for n in self.nodes if isinstance(n, ConvNode) and n.window > 1)

    @property
    def weight_bytes(self) -> int:
        return sum(n.weights.size + 4 * n.bias.size + 8 * n.cout for n in self.nodes if isinstance(n, ConvNode))


def quantize_multiplier(real: float) -> tuple[int, int]:
    """TFLite's QuantizeMultiplier: real = q * 2^shift with q a Q31 in [2^30, 2^31)."""
    if real == 0.0:
        return 0, 0
    frac, shift = math.frexp(real)
    q = math.floor(frac * (1 << 31) + 0.5)  # TfLiteRound: half away from zero (frac > 0)
    if q == 1 << 31:
        q //= 2
        shift += 1
    if shift < -31:
        return 0, 0
    if shift > 30:
        raise SoiError(f"requantization scale {real} is too large for int8 kernels (shift {shift} > 30)")
    return q, shift


def activation_range(act: str, out: Tensor) -> tuple[int, int]:
    zp = int(out.zero_point[0])
    scale = float(out.scale[0])
    if act == "none":
        return -128, 127
    if act == "relu":
        return max(-128, zp), 127
    if act == "relu6":
        return max(-128, zp), min(127, zp + math.floor(6.0 / scale + 0.5))
    raise SoiError(f"fused activation '{act}' is not supported by the code generator")


def scratch_bytes_for(cin: int, kt: int, kf: int) -> int:
    """Im2col scratch the conv kernels may ask for: two int16 columns, MVE rounding, margin.

    The generated init() checks each conv's *_get_buffer_size() against this at run time, so a
    kernel library that needs more fails loudly instead of overrunning the buffer.
    """
    col = cin * kt * kf
    return 4 * (col + 16) * 2


def lower(spec: ModelSpec, graph: Graph) -> CPlan:
    sched = analyze(spec)
    matched = match_layers(graph, spec)
    f = spec.freq_bins
    buf = {"input": "input"}  # C expression holding each layer's newest output frame
    buffers: dict[str, int] = {}
    nodes: list[ConvNode | ConcatNode] = []
    quant = {"input": graph.tensors[graph.inputs[0]]}
    for layer in spec.layers:
        if isinstance(layer, Conv):
            m = matched[layer.name]
            assert isinstance(m, MatchedConv)
            nodes.append(_conv_node(layer, m, buf[layer.input], sched, f))
            buf[layer.name] = nodes[-1].target
            buffers[nodes[-1].target] = f * layer.cout
            quant[layer.name] = m.output
        elif isinstance(layer, Duplicate):
            # Duplication costs nothing: the input's buffer keeps its last frame until the next.
            buf[layer.name] = buf[layer.input]
            quant[layer.name] = quant[layer.input]
        elif isinstance(layer, Concat):
            out = matched[layer.name]
            for src in layer.inputs:
                _same_quant(layer.name, quant[src], out)
            target = f"soi_buf_{layer.name}"
            chans = tuple(sched.channels[s] for s in layer.inputs)
            nodes.append(ConcatNode(layer.name, tuple(buf[s] for s in layer.inputs), chans, target, f,
                                    sched.period[layer.name]))
            buffers[target] = f * sum(chans)
            buf[layer.name] = target
            quant[layer.name] = out
    inp, outp = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    macs = [sum(n.macs for n in nodes if isinstance(n, ConvNode) and p % n.run_period == 0)
            for p in range(sched.phases)]
    convs = [n for n in nodes if isinstance(n, ConvNode)]
    return CPlan(
        model_name=spec.name,
        phases=sched.phases,
        freq=f,
        in_channels=spec.in_channels,
        out_channels=sched.channels[sched.output],
        input_scale=float(inp.scale[0]),
        input_zero_point=int(inp.zero_point[0]),
        output_scale=float(outp.scale[0]),
        output_zero_point=int(outp.zero_point[0]),
        output_buffer=buf[sched.output],
        buffers=buffers,
        nodes=tuple(nodes),
        scratch_bytes=max(scratch_bytes_for(n.cin, n.kt, n.kf) for n in convs),
        macs_by_phase=tuple(macs),
    )


def _same_quant(layer: str, a: Tensor, b: Tensor) -> None:
    if not (np.allclose(a.scale, b.scale, rtol=0, atol=0) and np.array_equal(a.zero_point, b.zero_point)):
        raise SoiError(
            f"layer '{layer}': concatenated inputs have different quantization from the output "
            f"({a.scale[0]:.6g}/{a.zero_point[0]} vs {b.scale[0]:.6g}/{b.zero_point[0]}); requantizing concat is not supported yet"
        )


def _conv_node(layer: Conv, m: MatchedConv, source: str, sched, freq: int) -> ConvNode:
    cin = sched.channels[layer.input]
    if m.filter.shape != (layer.cout, layer.kt, layer.kf, cin):
        raise SoiError(f"layer '{layer.name}': filter shape {m.filter.shape} in the .tflite, expected "
                       f"{(layer.cout, layer.kt, layer.kf, cin)}")
    if m.stride != (layer.stride, 1) or m.dilation != (layer.dilation, 1) or m.act != layer.act:
        raise SoiError(f"layer '{layer.name}': stride/dilation/activation in the .tflite differ from the spec")
    in_scale = float(m.input.scale[0])
    out_scale = float(m.output.scale[0])
    w_scales = m.filter.scale.astype(np.float64)
    if w_scales.size == 1:
        w_scales = np.repeat(w_scales, layer.cout)
    qs = [quantize_multiplier(in_scale * float(ws) / out_scale) for ws in w_scales]
    act_min, act_max = activation_range(layer.act, m.output)
    in_zp = int(m.input.zero_point[0])
    bias = m.bias.data if m.bias.data is not None else np.zeros(layer.cout, np.int32)
    return ConvNode(
        name=layer.name,
        source=source,
        target=f"soi_buf_{layer.name}",
        cin=cin,
        cout=layer.cout,
        kt=layer.kt,
        kf=layer.kf,
        dilation=layer.dilation,
        window=layer.window,
        freq=freq,
        push_period=sched.period[layer.input],
        run_period=sched.period[layer.name],
        input_offset=-in_zp,
        output_offset=int(m.output.zero_point[0]),
        act_min=act_min,
        act_max=act_max,
        state_zero_point=in_zp,
        weights=np.asarray(m.filter.data, dtype=np.int8),
        bias=np.asarray(bias, dtype=np.int32),
        multipliers=tuple(q for q, _ in qs),
        shifts=tuple(s for _, s in qs),
        macs=conv_macs(layer, cin, freq),
    )
