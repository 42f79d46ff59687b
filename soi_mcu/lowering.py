"""Decisions for the C code: spec + int8 graph -> a plan of buffers, states and kernel calls.

Everything numeric (requantization multipliers, offsets, activation ranges, dims, buffer sizes,
which step phases run what) is decided here; the templates only print it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from functools import cached_property
from typing import ClassVar

import numpy as np

from soi_mcu.errors import SoiError
from soi_mcu.kernel_layout import S16W_CORES, s16w_applies, s16w_lanes, s16w_stream
from soi_mcu.memory import MemoryPlan, plan_memory
from soi_mcu.model import (
    Add,
    Concat,
    Conv,
    Duplicate,
    FreqPool,
    ModelSpec,
    Shift,
    TConv,
    TConvFreq,
    Upsample,
    analyze,
    conv_macs,
    fully_connected,
    layer_inputs,
    tconv_freq_macs,
)
from soi_mcu.tflite_graph import Graph, MatchedAdd, MatchedConv, Tensor, match_layers


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
    in_width: int  # frequency bins in / out
    out_width: int
    fstride: int
    depthwise: bool
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
    # tSTMC: each input frame enters the state spread out, bin w at insert_offset + w * insert_stride,
    # the zero point between (zero insertion): a transposed conv is then this plain conv, unpadded,
    # with the kernel flipped in time and frequency. insert_stride 1: an ordinary conv.
    insert_stride: int = 1
    insert_offset: int = 0
    src_width: int = 0  # bins of the input frame before insertion
    lut: tuple[int, ...] = ()  # activation as a 256-entry int8 table (ELU) applied in place, indexed by x + 128
    # A 1x1 conv over frames of one bin (a classifier head) runs as arm_fully_connected_s8: one call
    # per run of output channels with the same multiplier and shift (its quantization is per tensor).
    fully_connected: bool = False
    # Runs as the project's soi_conv_s16w_s8 (DSP cores, shapes and quantizations it takes) from one stream
    # of words (kernel_layout.s16w_stream) instead of arm_convolve_wrapper_s8 with the int8 filter.
    s16w: bool = False

    @cached_property
    def s16w_words(self) -> np.ndarray | None:
        """soi_conv_s16w_s8's stream for this layer (None: its requantization is not exact here)."""
        return s16w_stream(self.weights, self.bias, self.multipliers, self.shifts, self.input_offset,
                           self.output_offset)

    @property
    def constant_bytes(self) -> int:
        """Flash of the layer's constants: the stream, or filter, bias, multipliers and shifts."""
        if self.s16w:
            words = self.s16w_words
            assert words is not None
            return words.nbytes
        return self.weights.nbytes + 4 * self.bias.size + 8 * self.cout

    @property
    def fc_sums(self) -> tuple[int, ...]:
        """Kernel sums as arm_vector_sum_s8 makes them (bias + input_offset x row sum, filter offset 0):
        what arm_fully_connected_s8 reads from ctx.buf on MVE, computed here so they live in flash."""
        rows = self.weights.reshape(self.cout, -1).astype(np.int64).sum(axis=1)
        return tuple(int(v) for v in self.bias.astype(np.int64) + self.input_offset * rows)

    @property
    def fc_groups(self) -> tuple[tuple[int, int, int, int], ...]:
        """(first channel, channels, multiplier, shift) of each arm_fully_connected_s8 call."""
        groups: list[tuple[int, int, int, int]] = []
        for c, q in enumerate(zip(self.multipliers, self.shifts, strict=True)):
            if groups and (groups[-1][2], groups[-1][3]) == q:
                start, count, mult, shift = groups[-1]
                groups[-1] = (start, count + 1, mult, shift)
            else:
                groups.append((c, 1, *q))
        return tuple(groups)

    @property
    def has_state(self) -> bool:
        """Reads its input from a ring (a window of frames, or one zero-inserted frame)."""
        return self.window > 1 or self.src_width > 0

    @property
    def pad_w(self) -> int:
        """Zero padding in frequency ('same' for a conv; none over a zero-inserted state)."""
        return self.kf // 2 if self.insert_stride == 1 and not self.src_width else 0


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
class AddNode:
    """TFLite int8 ADD: both inputs rescaled to a common scale with 20 bits of headroom, summed,
    requantized to the output (the parameters TFLite's reference kernel derives)."""

    kind: ClassVar[str] = "add"
    name: str
    sources: tuple[str, str]
    target: str
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


@dataclass(frozen=True)
class PoolNode:
    kind: ClassVar[str] = "pool"
    name: str
    source: str
    target: str
    width: int
    channels: int


@dataclass(frozen=True)
class UpsampleNode:
    kind: ClassVar[str] = "upsample"
    name: str
    source: str
    target: str
    width: int  # input bins
    channels: int
    factor: int


@dataclass(frozen=True)
class ShiftNode:
    kind: ClassVar[str] = "shift"
    name: str
    source: str
    frames: int  # delay, in input frames
    frame_size: int
    zero_point: int
    copy_to: str  # buffer the delayed frame is copied to when it runs, "" to read the ring in place


@dataclass(frozen=True)
class Action:
    """One thing a step does, in order: `what` of `node` on the phases set in `mask`."""

    what: str  # "push" (into a conv's state), "conv", "concat", "shift_copy", "shift_push"
    node: ConvNode | ConcatNode | ShiftNode | UpsampleNode | AddNode | PoolNode
    mask: int


@dataclass(frozen=True)
class CPlan:
    model_name: str
    phases: int
    input_size: int  # bytes of an input frame
    output_size: int  # bytes of an output frame
    in_width: int
    in_channels: int
    out_width: int
    out_channels: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    output_buffer: str
    buffers: dict[str, int]  # activation frame buffers: name -> bytes
    memory: MemoryPlan  # which of them persist, and the arena the others share
    nodes: tuple[ConvNode | ConcatNode | ShiftNode | UpsampleNode | AddNode | PoolNode, ...]
    scratch_bytes: int
    macs_by_phase: tuple[int, ...]
    precomputed_macs_by_phase: tuple[int, ...]  # part of macs_by_phase done by precompute()
    early_actions: tuple[Action, ...]  # precompute(), before the frame: needs past frames only
    step_actions: tuple[Action, ...]
    deferred_actions: tuple[Action, ...]  # precompute(), after the output: for later outputs only
    copies_input: bool

    @property
    def all_phases(self) -> int:
        return (1 << self.phases) - 1

    @property
    def state_bytes(self) -> int:
        conv = sum(2 * n.window * n.in_width * n.cin for n in self.nodes if isinstance(n, ConvNode) and n.has_state)
        return conv + sum(2 * n.frames * n.frame_size for n in self.nodes if isinstance(n, ShiftNode))

    @property
    def weight_bytes(self) -> int:
        return sum(n.constant_bytes for n in self.nodes if isinstance(n, ConvNode))


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


def elu_table(inp: Tensor, out: Tensor) -> tuple[int, ...]:
    """TFLite's int8 ELU table (LUTPopulate in activations.cc), entry x + 128 for input x: in float32,
    y = scale_in * (x - zp_in), ELU(y) = exp(y) - 1 below 0, then round(ELU(y) * (1 / scale_out))
    half away from zero, + zp_out, clamped to int8."""
    x = np.arange(-128, 128, dtype=np.int32)
    y = np.float32(inp.scale[0]) * (x - int(inp.zero_point[0])).astype(np.float32)
    with np.errstate(over="ignore"):
        f = np.where(y < 0, np.exp(y, dtype=np.float32) - np.float32(1), y).astype(np.float32)
    scaled = (f * (np.float32(1) / np.float32(out.scale[0]))).astype(np.float64)  # float32 product, exact in float64
    rounded = np.sign(scaled) * np.floor(np.abs(scaled) + 0.5)  # TfLiteRound
    q = rounded.astype(np.int64) + int(out.zero_point[0])
    return tuple(int(v) for v in np.clip(q, -128, 127))


def activation_range(act: str, out: Tensor) -> tuple[int, int]:
    zp = int(out.zero_point[0])
    scale = float(out.scale[0])
    if act == "none":
        return -128, 127
    if act == "relu":
        return max(-128, zp), 127
    if act == "relu6":
        return max(-128, zp), min(127, zp + math.floor(6.0 / scale + 0.5))  # TfLiteRound(6 / scale)
    raise SoiError(f"fused activation '{act}' is not supported by the code generator")


def scratch_bytes_for(node: ConvNode) -> int:
    """Kernel scratch a conv may ask for, for either kernel library and any ISA of the board family:
    conv im2col (two int16 columns, MVE rounding, margin) or, for a depthwise conv, CMSIS-NN's MVE
    path, which reserves 4 x 124 channels x the kernel area whatever the channel count.

    The generated init() checks each layer's *_get_buffer_size() against this at run time, so a
    kernel library that needs more fails loudly instead of overrunning the buffer.
    """
    col = node.cin * node.kt * node.kf
    if node.s16w:  # soi_conv_s16w_s8_get_buffer_size
        return s16w_lanes(node.kt, node.cin) * 8 * 4 + 4
    if node.depthwise:
        return max(4 * col, 4 * 124 * node.kt * node.kf) + 16
    return 4 * (col + 16) * 2


def _on_s16w(n: object) -> object:
    """n as an s16w conv where soi_conv_s16w_s8 takes it (its stream, built here, stays cached on it)."""
    if not isinstance(n, ConvNode) or not s16w_applies(
            kt=n.kt, kf=n.kf, fstride=n.fstride, cin=n.cin, out_width=n.out_width, depthwise=n.depthwise,
            fully_connected=n.fully_connected, transposed=n.src_width > 0):
        return n
    fast = replace(n, s16w=True)
    return fast if fast.s16w_words is not None else n


def lower(spec: ModelSpec, graph: Graph, core: str | None = None, fast_kernels: bool = True) -> CPlan:
    """core: the target core (None: any), which decides where the project's DSP kernel replaces the CMSIS-NN
    call; fast_kernels=False keeps every conv on the CMSIS-NN API (the int8 filters, half the flash)."""
    sched = analyze(spec)
    matched = match_layers(graph, spec)
    f = spec.freq_bins
    nodes, buf = _nodes(spec, graph, matched, sched)
    if fast_kernels and core in S16W_CORES:
        nodes = [_on_s16w(n) for n in nodes]
    groups = _schedule(spec, sched, {n.name: n for n in nodes})
    needs_input_copy = any(getattr(a.node, "source", None) == "input" or "input" in getattr(a.node, "sources", ())
                           for a in groups["deferred"])
    if needs_input_copy:  # deferred work reads the frame after step() returned: keep a copy
        nodes = [_replace_input(n) for n in nodes]
        by_name = {n.name: n for n in nodes}
        groups = {g: tuple(Action(a.what, by_name[a.node.name], a.mask) for a in acts) for g, acts in groups.items()}
    inp, outp = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    convs = [n for n in nodes if isinstance(n, ConvNode)]
    macs = [sum(n.macs for n in convs if p % n.run_period == 0) for p in range(sched.phases)]
    pre = [sum(a.node.macs for g in ("early", "deferred") for a in groups[g] if a.what == "conv" and a.mask >> p & 1)
           for p in range(sched.phases)]
    buffers = {n.target: n.out_width * n.cout for n in convs if n.target.isidentifier()}
    buffers |= {n.target: n.size for n in nodes if isinstance(n, AddNode)}
    buffers |= {n.target: n.channels for n in nodes if isinstance(n, PoolNode)}
    buffers |= {f"soi_buf_{t.name}": t.factor * sched.width[t.name] * t.cout for t in spec.layers if isinstance(t, TConv)}
    buffers |= {n.target: n.freq * sum(n.channels) for n in nodes if isinstance(n, ConcatNode)}
    buffers |= {n.target: n.width * n.factor * n.channels for n in nodes if isinstance(n, UpsampleNode)}
    buffers |= {n.copy_to: n.frame_size for n in nodes if isinstance(n, ShiftNode) and n.copy_to}
    if needs_input_copy:
        buffers["soi_input_copy"] = f * spec.in_channels
    return CPlan(
        model_name=spec.name,
        phases=sched.phases,
        input_size=f * spec.in_channels,
        output_size=sched.width[sched.output] * sched.channels[sched.output],
        in_width=f,
        in_channels=spec.in_channels,
        out_width=sched.width[sched.output],
        out_channels=sched.channels[sched.output],
        input_scale=float(inp.scale[0]),
        input_zero_point=int(inp.zero_point[0]),
        output_scale=float(outp.scale[0]),
        output_zero_point=int(outp.zero_point[0]),
        output_buffer=_input_expr(buf[sched.output], needs_input_copy),
        buffers=buffers,
        memory=plan_memory(buffers, groups, sched.phases, _input_expr(buf[sched.output], needs_input_copy)),
        nodes=tuple(nodes),
        scratch_bytes=max([scratch_bytes_for(n) for n in convs]
                          + [4 * n.channels for n in nodes if isinstance(n, PoolNode)] + [64]),
        macs_by_phase=tuple(macs),
        precomputed_macs_by_phase=tuple(pre),
        early_actions=groups["early"],
        step_actions=groups["step"],
        deferred_actions=groups["deferred"],
        copies_input=needs_input_copy,
    )


def _input_expr(expr: str, copied: bool) -> str:
    return "soi_input_copy" if copied and expr == "input" else expr


def _replace_input(node):
    if isinstance(node, ConcatNode | AddNode):
        return replace(node, sources=tuple(_input_expr(s, True) for s in node.sources))
    return replace(node, source=_input_expr(node.source, True))  # every other node has one source


def _nodes(spec: ModelSpec, graph: Graph, matched: dict, sched) -> tuple[list, dict[str, str]]:
    """One node per layer that does work, and the C expression of every layer's newest frame."""
    buf = {"input": "input"}
    quant = {"input": graph.tensors[graph.inputs[0]]}
    consumers: dict[str, list] = {}
    for layer in spec.layers:
        for src in layer_inputs(layer):
            consumers.setdefault(src, []).append(layer)
    nodes: list = []
    for layer in spec.layers:
        if isinstance(layer, Conv | TConvFreq):
            m = matched[layer.name]
            assert isinstance(m, MatchedConv)
            node_of = _conv_node if isinstance(layer, Conv) else _tconv_freq_node
            node = node_of(layer, m, buf[layer.input], sched)
            if m.elu is not None:
                node = replace(node, lut=elu_table(m.output, m.elu))
            nodes.append(node)
            buf[layer.name] = nodes[-1].target
            quant[layer.name] = m.elu if m.elu is not None else m.output
        elif isinstance(layer, TConv):
            # All `factor` frames are computed when the input frame arrives (one 1x1 conv each),
            # and handed out one per output period: the expression picks the frame of the phase.
            m = matched[layer.name]
            frame = sched.width[layer.name] * layer.cout
            for r in range(layer.factor):
                nodes.append(_tconv_node(layer, r, m, buf[layer.input], sched, f"(soi_buf_{layer.name} + {r * frame}u)"))
            buf[layer.name] = (f"(soi_buf_{layer.name} + ((phase % {sched.period[layer.input]}u) / "
                               f"{sched.period[layer.name]}u) * {frame}u)")
            quant[layer.name] = m.output
        elif isinstance(layer, Add):
            m = matched[layer.name]
            nodes.append(_add_node(layer, m, buf, sched))
            buf[layer.name] = nodes[-1].target
            quant[layer.name] = m.output
        elif isinstance(layer, Duplicate):
            # Duplication costs nothing: the input's buffer keeps its last frame until the next.
            buf[layer.name] = buf[layer.input]
            quant[layer.name] = quant[layer.input]
        elif isinstance(layer, Shift):
            _same_quant(layer.name, quant[layer.input], matched[layer.name])
            # Read the delayed frame in place unless someone reads it on phases where the shift
            # does not run (a duplication after it): the ring moves on under them.
            held = any(isinstance(c, Duplicate) for c in consumers.get(layer.name, []))
            node = ShiftNode(layer.name, buf[layer.input], layer.frames, sched.width[layer.name] * sched.channels[layer.name],
                             int(quant[layer.input].zero_point[0]), f"soi_buf_{layer.name}" if held else "")
            nodes.append(node)
            buf[layer.name] = node.copy_to or f"soi_ring_window(&{layer.name}_state)"
            quant[layer.name] = matched[layer.name]
        elif isinstance(layer, FreqPool):
            _same_quant(layer.name, quant[layer.input], matched[layer.name])
            nodes.append(PoolNode(layer.name, buf[layer.input], f"soi_buf_{layer.name}", sched.width[layer.input],
                                  sched.channels[layer.name]))
            buf[layer.name] = nodes[-1].target
            quant[layer.name] = matched[layer.name]
        elif isinstance(layer, Upsample):
            _same_quant(layer.name, quant[layer.input], matched[layer.name])
            nodes.append(UpsampleNode(layer.name, buf[layer.input], f"soi_buf_{layer.name}",
                                      sched.width[layer.input], sched.channels[layer.name], layer.factor))
            buf[layer.name] = nodes[-1].target
            quant[layer.name] = matched[layer.name]
        elif isinstance(layer, Concat):
            out = matched[layer.name]
            for src in layer.inputs:
                _same_quant(layer.name, quant[src], out)
            chans = tuple(sched.channels[s] for s in layer.inputs)
            nodes.append(ConcatNode(layer.name, tuple(buf[s] for s in layer.inputs), chans,
                                    f"soi_buf_{layer.name}", sched.width[layer.name], sched.period[layer.name]))
            buf[layer.name] = nodes[-1].target
            quant[layer.name] = out
    return nodes, buf


def _schedule(spec: ModelSpec, sched, nodes: dict) -> dict[str, tuple[Action, ...]]:
    """Order each step's work into the groups of Schedule.group: early and deferred work run in
    precompute(), the rest in step(). Masks have bit p set for the phases p an action runs on.
    Shifts take in their input's frame last, after everything that reads the delayed frame."""
    phases = range(sched.phases)
    groups: dict[str, list[Action]] = {"early": [], "step": [], "deferred": []}

    def add(what: str, node, group_of) -> None:
        for group, actions in groups.items():
            mask = sum(1 << p for p in phases if group_of(p) == group)
            if mask:
                actions.append(Action(what, node, mask))

    def own(layer):
        return lambda p: sched.group(layer.name, p) if sched.runs(layer.name, p) else None

    for layer in spec.layers:
        node = nodes.get(layer.name)
        if isinstance(layer, Conv | TConvFreq):
            if node.has_state:
                add("push", node, lambda p, c=layer: sched.push_group(c, p) if sched.runs(c.input, p) else None)
            add("conv", node, own(layer))
        elif isinstance(layer, Concat | Upsample | Add | FreqPool):
            add(node.kind, node, own(layer))
        elif isinstance(layer, TConv):
            for r in range(layer.factor):
                add("conv", nodes[f"{layer.name}_r{r}"], lambda p, t=layer: sched.group(t.name, p) if sched.works(t, p) else None)
        elif isinstance(layer, Shift) and node.copy_to:
            add("shift_copy", node, own(layer))
    for layer in spec.layers:
        if isinstance(layer, Shift):
            mask = sum(1 << p for p in phases if sched.runs(layer.input, p))
            groups["deferred"].append(Action("shift_push", nodes[layer.name], mask))
    return {g: tuple(a) for g, a in groups.items()}


def _same_quant(layer: str, a: Tensor, b: Tensor) -> None:
    if not (np.allclose(a.scale, b.scale, rtol=0, atol=0) and np.array_equal(a.zero_point, b.zero_point)):
        raise SoiError(
            f"layer '{layer}': concatenated inputs have different quantization from the output "
            f"({a.scale[0]:.6g}/{a.zero_point[0]} vs {b.scale[0]:.6g}/{b.zero_point[0]}); requantizing concat is not supported yet"
        )


def _tconv_node(layer: TConv, r: int, m: MatchedConv, source: str, sched, target: str) -> ConvNode:
    """Output frame r of a transposed conv in time (kernel = stride) is a 1x1 conv with slice r."""
    cin = sched.channels[layer.input]
    if m.filter.shape != (layer.cout, layer.factor, 1, cin) or m.stride != (layer.factor, 1) or m.act != "none":
        raise SoiError(f"layer '{layer.name}': TRANSPOSE_CONV in the .tflite differs from the spec "
                       f"(filter {m.filter.shape}, stride {m.stride}, activation {m.act})")
    qs = _requant(m, layer.cout)
    bias = m.bias.data if m.bias is not None and m.bias.data is not None else np.zeros(layer.cout, np.int32)
    width = sched.width[layer.name]
    return ConvNode(
        name=f"{layer.name}_r{r}", source=source, target=target, cin=cin, cout=layer.cout, kt=1, kf=1, dilation=1,
        window=1, in_width=width, out_width=width, fstride=1, depthwise=False, push_period=sched.period[layer.input],
        run_period=sched.period[layer.input], input_offset=-int(m.input.zero_point[0]),
        output_offset=int(m.output.zero_point[0]), act_min=-128, act_max=127, state_zero_point=0,
        weights=np.ascontiguousarray(np.asarray(m.filter.data, dtype=np.int8)[:, r:r + 1]),
        bias=np.asarray(bias, dtype=np.int32), multipliers=tuple(q for q, _ in qs), shifts=tuple(s for _, s in qs),
        macs=width * layer.cout * cin,
    )


def _tconv_freq_node(layer: TConvFreq, m: MatchedConv, source: str, sched) -> ConvNode:
    """tSTMC in the zero-insertion form: TFLite's TRANSPOSE_CONV adds (x - zp) * w for every input
    bin and tap into the output bins it reaches, then requantizes per channel like CONV_2D. The same
    int32 sums come from a plain conv over the input spread out with zero points between the bins
    (and kf - 1 - pad of them before), with the kernel flipped in time and frequency: zero-point
    entries contribute (zp - zp) * w = 0, exactly what the bins TRANSPOSE_CONV skips contribute."""
    cin = sched.channels[layer.input]
    window, width = layer.window, sched.width[layer.input]
    want = (layer.cout, window, layer.kf, cin)
    if m.filter.shape != want or m.stride != (1, layer.fstride) or m.act != ("none" if layer.act == "elu" else layer.act):
        raise SoiError(f"layer '{layer.name}': TRANSPOSE_CONV in the .tflite differs from the spec "
                       f"(filter {m.filter.shape}, expected {want}; stride {m.stride}; activation {m.act})")
    if tuple(m.crop[1:3]) != (0, layer.pad):
        raise SoiError(f"layer '{layer.name}': the .tflite keeps frames/bins from {tuple(m.crop[1:3])}, "
                       f"expected (0, {layer.pad})")
    filt = np.asarray(m.filter.data, dtype=np.int8)
    taps = filt[:, :: layer.dilation]
    if np.any(np.delete(filt, np.arange(0, window, layer.dilation), axis=1)):
        raise SoiError(f"layer '{layer.name}': the dilated TRANSPOSE_CONV kernel has non-zero rows between its taps")
    qs = _requant(m, layer.cout)
    act_min, act_max = activation_range(m.act, m.output)
    in_zp = int(m.input.zero_point[0])
    bias = m.bias.data if m.bias is not None and m.bias.data is not None else np.zeros(layer.cout, np.int32)
    return ConvNode(
        name=layer.name, source=source, target=f"soi_buf_{layer.name}", cin=cin, cout=layer.cout, kt=layer.kt,
        kf=layer.kf, dilation=layer.dilation, window=window,
        in_width=layer.fstride * width + layer.kf - 1, out_width=layer.fstride * width, fstride=1, depthwise=False,
        push_period=sched.period[layer.input], run_period=sched.period[layer.name], input_offset=-in_zp,
        output_offset=int(m.output.zero_point[0]), act_min=act_min, act_max=act_max, state_zero_point=in_zp,
        weights=np.ascontiguousarray(taps[:, ::-1, ::-1]), bias=np.asarray(bias, dtype=np.int32),
        multipliers=tuple(q for q, _ in qs), shifts=tuple(s for _, s in qs),
        macs=tconv_freq_macs(layer, cin, width),
        insert_stride=layer.fstride, insert_offset=layer.kf - 1 - layer.pad, src_width=width,
    )


def _requant(m: MatchedConv, cout: int) -> list[tuple[int, int]]:
    in_scale = float(m.input.scale[0])
    out_scale = float(m.output.scale[0])
    w_scales = m.filter.scale.astype(np.float64)
    if w_scales.size == 1:
        w_scales = np.repeat(w_scales, cout)
    return [quantize_multiplier(in_scale * float(ws) / out_scale) for ws in w_scales]


def _add_node(layer: Add, m: MatchedAdd, buf: dict[str, str], sched) -> AddNode:
    if len(layer.inputs) != 2:
        raise SoiError(f"layer '{layer.name}': an addition of {len(layer.inputs)} inputs; two are supported")
    s1, s2 = (float(t.scale[0]) for t in m.inputs)
    out_scale = float(m.output.scale[0])
    left_shift = 20  # TFLite's headroom for int8 ADD
    twice_max = 2 * max(s1, s2)
    q1, q2 = quantize_multiplier(s1 / twice_max), quantize_multiplier(s2 / twice_max)
    qo = quantize_multiplier(twice_max / ((1 << left_shift) * out_scale))
    act_min, act_max = activation_range(m.act, m.output)
    return AddNode(
        name=layer.name, sources=tuple(buf[s] for s in m.sources), target=f"soi_buf_{layer.name}",
        size=sched.width[layer.name] * sched.channels[layer.name],
        input_offsets=tuple(-int(t.zero_point[0]) for t in m.inputs), input_multipliers=(q1[0], q2[0]),
        input_shifts=(q1[1], q2[1]), left_shift=left_shift, output_offset=int(m.output.zero_point[0]),
        output_multiplier=qo[0], output_shift=qo[1], act_min=act_min, act_max=act_max,
    )


def _conv_node(layer: Conv, m: MatchedConv, source: str, sched) -> ConvNode:
    cin = sched.channels[layer.input]
    want = (1, layer.kt, layer.kf, layer.cout) if layer.depthwise else (layer.cout, layer.kt, layer.kf, cin)
    fc = fully_connected(layer, sched.width[layer.input])
    if m.filter.shape != want:
        raise SoiError(f"layer '{layer.name}': filter shape {m.filter.shape} in the .tflite, expected {want}")
    fused = "none" if layer.act == "elu" else layer.act  # ELU is its own op after the conv
    if m.stride != (layer.stride, layer.fstride) or m.dilation != (layer.dilation, 1) or m.act != fused:
        raise SoiError(f"layer '{layer.name}': stride/dilation/activation in the .tflite differ from the spec")
    qs = _requant(m, layer.cout)
    act_min, act_max = activation_range(fused, m.output)
    in_zp = int(m.input.zero_point[0])
    bias = m.bias.data if m.bias is not None and m.bias.data is not None else np.zeros(layer.cout, np.int32)
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
        in_width=sched.width[layer.input],
        out_width=sched.width[layer.name],
        fstride=layer.fstride,
        depthwise=layer.depthwise,
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
        macs=conv_macs(layer, cin, sched.width[layer.name]),
        fully_connected=fc,
    )
