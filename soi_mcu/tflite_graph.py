"""Read an int8 .tflite into plain records and match its ops to the model spec's layers.

The match is structural (which op consumes which tensor), so the code generator gets, for every
layer of the spec, exactly the tensors and quantization parameters the reference interpreter uses.
Anything the converter added that the spec does not explain (a float island, a requantize) is an
error that names the op, never silently dropped.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from soi_mcu.errors import SoiError
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
)

_DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8, 7: np.int16}
_ACT = {0: "none", 1: "relu", 3: "relu6"}
_SLICES = ("STRIDED_SLICE", "SLICE")


@dataclass(frozen=True)
class Tensor:
    index: int
    name: str
    shape: tuple[int, ...]
    dtype: type
    scale: np.ndarray  # float32, one per tensor or per channel
    zero_point: np.ndarray
    data: np.ndarray | None  # constant contents, None for activations


@dataclass(frozen=True)
class Op:
    index: int
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    consumers: dict[int, list[Op]] = field(default_factory=dict)


@dataclass(frozen=True)
class MatchedConv:
    input: Tensor
    output: Tensor
    filter: Tensor
    bias: Tensor | None
    stride: tuple[int, int]  # (h, w)
    dilation: tuple[int, int]
    act: str
    crop: tuple[int, ...] = ()  # a TRANSPOSE_CONV cut by a STRIDED_SLICE: where the kept part begins (n, h, w, c)
    elu: Tensor | None = None  # output of the int8 ELU op that follows (act "elu"); `output` is the conv's


@dataclass(frozen=True)
class MatchedAdd:
    sources: tuple[str, ...]  # spec layer names, in the ADD op's input order
    inputs: tuple[Tensor, ...]
    output: Tensor
    act: str


def load_graph(path: Path) -> Graph:
    """Parse the flatbuffer with the generated schema (it reads the op options the interpreter hides)."""
    from ai_edge_litert import schema_py_generated as schema  # the same schema, without importing TensorFlow

    try:
        buf = path.read_bytes()
        model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(buf, 0))
        sub = model.subgraphs[0]
    except Exception as exc:  # a corrupt file fails anywhere inside the flatbuffer reader
        raise SoiError(f"{path}: not a readable .tflite model ({type(exc).__name__}); re-export it") from None
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    tensors = [_tensor(i, t, model.buffers) for i, t in enumerate(sub.tensors)]
    ops = []
    for i, op in enumerate(sub.operators):
        code = model.operatorCodes[op.opcodeIndex]
        kind = names.get(max(code.builtinCode, code.deprecatedBuiltinCode), "CUSTOM")
        opts = dict(vars(op.builtinOptions)) if op.builtinOptions is not None else {}
        ops.append(Op(i, kind, tuple(int(x) for x in op.inputs), tuple(int(x) for x in op.outputs), opts))
    graph = Graph(tensors, ops, tuple(int(x) for x in sub.inputs), tuple(int(x) for x in sub.outputs))
    for op in ops:
        for t in op.inputs:
            graph.consumers.setdefault(t, []).append(op)
    return graph


def _tensor(index: int, t, buffers) -> Tensor:
    q = t.quantization
    scale = np.asarray(q.scale if q is not None and q.scale is not None else [], dtype=np.float32)
    zp = np.asarray(q.zeroPoint if q is not None and q.zeroPoint is not None else [], dtype=np.int64)
    dtype = _DTYPES.get(t.type, np.float32)
    raw = buffers[t.buffer].data if t.buffer < len(buffers) else None
    shape = tuple(int(s) for s in t.shape) if t.shape is not None else ()
    data = None
    if raw is not None and len(raw):
        data = np.frombuffer(bytes(bytearray(raw)), dtype=dtype).reshape(shape)
    name = t.name.decode() if isinstance(t.name, bytes) else str(t.name)
    return Tensor(index, name, shape, dtype, scale, zp, data)


def check_int8(graph: Graph) -> None:
    """Refuse a model with float ops left in it: name them."""
    floats = [op for op in graph.ops if op.kind in ("DEQUANTIZE", "QUANTIZE")
              or any(graph.tensors[t].dtype == np.float32 for t in op.outputs)]
    if floats:
        listed = ", ".join(f"{op.kind} (op {op.index})" for op in floats[:5])
        raise SoiError(f"the converted model is not fully int8: float ops {listed}; change or remove those layers")


def _match_tconv_freq(graph: Graph, layer: TConvFreq, src: Tensor, used: set[int]) -> MatchedConv:
    """TRANSPOSE_CONV (bias and activation fused) and the STRIDED_SLICE that keeps the causal frames
    and PyTorch's bins (absent when it would keep everything)."""
    cands = [op for op in graph.consumers.get(src.index, []) if op.kind == "TRANSPOSE_CONV"
             and op.index not in used and op.inputs[2] == src.index]
    if not cands:
        raise SoiError(f"layer '{layer.name}': no TRANSPOSE_CONV reads its input in the .tflite")
    op = cands[0]
    used.add(op.index)
    out = graph.tensors[op.outputs[0]]
    crop: tuple[int, ...] = (0, 0, 0, 0)
    cuts = [c for c in graph.consumers.get(op.outputs[0], []) if c.kind == "STRIDED_SLICE" and c.index not in used]
    if cuts:
        cut = cuts[0]
        used.add(cut.index)
        begin = graph.tensors[cut.inputs[1]].data
        strides = graph.tensors[cut.inputs[3]].data
        if begin is None or strides is None or any(int(v) != 1 for v in strides):
            raise SoiError(f"layer '{layer.name}': the STRIDED_SLICE after its TRANSPOSE_CONV is not a plain crop")
        mask = int(cut.options.get("beginMask", 0))
        crop = tuple(0 if mask >> i & 1 else int(b) for i, b in enumerate(begin))
        kept = graph.tensors[cut.outputs[0]]
        if not (np.array_equal(kept.scale, out.scale) and np.array_equal(kept.zero_point, out.zero_point)):
            raise SoiError(f"layer '{layer.name}': the crop after its TRANSPOSE_CONV requantizes; not supported")
        out = kept
    o = op.options
    return MatchedConv(
        input=src,
        output=out,
        filter=graph.tensors[op.inputs[1]],
        bias=graph.tensors[op.inputs[3]] if len(op.inputs) > 3 and op.inputs[3] >= 0 else None,
        stride=(o["strideH"], o["strideW"]),
        dilation=(1, 1),
        act=_ACT.get(o.get("fusedActivationFunction", 0), "unsupported"),
        crop=crop,
    )


def _with_elu(graph: Graph, name: str, conv: MatchedConv, used: set[int]) -> MatchedConv:
    from dataclasses import replace

    cands = [op for op in graph.consumers.get(conv.output.index, []) if op.kind == "ELU" and op.index not in used]
    if not cands:
        raise SoiError(f"layer '{name}': no ELU op follows its conv in the .tflite")
    used.add(cands[0].index)
    return replace(conv, elu=graph.tensors[cands[0].outputs[0]])


def match_layers(graph: Graph, spec: ModelSpec) -> dict[str, object]:
    """Map each spec layer to its tensors: MatchedConv for convs, the output Tensor otherwise."""
    check_int8(graph)
    acts = {"input": graph.inputs[0]}
    used: set[int] = set()
    matched: dict[str, object] = {}

    def consumer(tensor: int, kind: str, layer: str) -> Op:
        for op in graph.consumers.get(tensor, []):
            if op.kind == kind and op.index not in used:
                used.add(op.index)
                return op
        raise SoiError(f"layer '{layer}': no {kind} op reads tensor '{graph.tensors[tensor].name}' in the .tflite")

    for layer in spec.layers:
        if isinstance(layer, Conv):
            src = acts[layer.input]
            kind = "DEPTHWISE_CONV_2D" if layer.depthwise else "CONV_2D"
            pads = [op for op in graph.consumers.get(src, []) if op.kind == "PAD" and op.index not in used
                    and any(c.kind == kind for c in graph.consumers.get(op.outputs[0], []))]
            conv_in = src
            if pads:  # the causal/frequency padding; the firmware does it with state and kernel padding
                used.add(pads[0].index)
                conv_in = pads[0].outputs[0]
            op = consumer(conv_in, kind, layer.name)
            o = op.options
            matched[layer.name] = MatchedConv(
                input=graph.tensors[src],
                output=graph.tensors[op.outputs[0]],
                filter=graph.tensors[op.inputs[1]],
                bias=graph.tensors[op.inputs[2]],
                stride=(o["strideH"], o["strideW"]),
                dilation=(o["dilationHFactor"], o["dilationWFactor"]),
                act=_ACT.get(o["fusedActivationFunction"], "unsupported"),
            )
            acts[layer.name] = op.outputs[0]
            if layer.act == "elu":
                matched[layer.name] = _with_elu(graph, layer.name, matched[layer.name], used)
                acts[layer.name] = matched[layer.name].elu.index
        elif isinstance(layer, Duplicate | Upsample):
            # Both are a concatenation of the frame with itself and a reshape: along frequency
            # (axis 2) it repeats frames in time, along channels (axis 3) it repeats bins.
            axis = 2 if isinstance(layer, Duplicate) else 3
            cands = [op for op in graph.consumers.get(acts[layer.input], []) if op.kind == "CONCATENATION"
                     and op.index not in used and op.options.get("axis") % 4 == axis
                     and set(op.inputs) == {acts[layer.input]}]
            if not cands:
                raise SoiError(f"layer '{layer.name}': no self-CONCATENATION on axis {axis} in the .tflite")
            cat = cands[0]
            used.add(cat.index)
            reshape = consumer(cat.outputs[0], "RESHAPE", layer.name)
            acts[layer.name] = reshape.outputs[0]
            matched[layer.name] = graph.tensors[acts[layer.name]]
        elif isinstance(layer, FreqPool):
            op = consumer(acts[layer.input], "AVERAGE_POOL_2D", layer.name)
            acts[layer.name] = op.outputs[0]
            matched[layer.name] = graph.tensors[op.outputs[0]]
        elif isinstance(layer, TConvFreq):
            matched[layer.name] = _match_tconv_freq(graph, layer, graph.tensors[acts[layer.input]], used)
            acts[layer.name] = matched[layer.name].output.index
            if layer.act == "elu":
                matched[layer.name] = _with_elu(graph, layer.name, matched[layer.name], used)
                acts[layer.name] = matched[layer.name].elu.index
        elif isinstance(layer, TConv):
            cands = [op for op in graph.consumers.get(acts[layer.input], []) if op.kind == "TRANSPOSE_CONV"
                     and op.index not in used and op.inputs[2] == acts[layer.input]]
            if not cands:
                raise SoiError(f"layer '{layer.name}': no TRANSPOSE_CONV reads its input in the .tflite")
            op = cands[0]
            used.add(op.index)
            o = op.options
            matched[layer.name] = MatchedConv(
                input=graph.tensors[acts[layer.input]],
                output=graph.tensors[op.outputs[0]],
                filter=graph.tensors[op.inputs[1]],
                bias=graph.tensors[op.inputs[3]] if len(op.inputs) > 3 and op.inputs[3] >= 0 else None,
                stride=(o["strideH"], o["strideW"]),
                dilation=(1, 1),
                act=_ACT.get(o.get("fusedActivationFunction", 0), "unsupported"),
            )
            acts[layer.name] = op.outputs[0]
        elif isinstance(layer, Add):
            srcs = {acts[s] for s in layer.inputs}
            cands = [op for op in graph.consumers.get(acts[layer.inputs[0]], [])
                     if op.kind == "ADD" and set(op.inputs) == srcs and op.index not in used]
            if not cands:
                raise SoiError(f"layer '{layer.name}': no ADD of {layer.inputs} in the .tflite")
            op = cands[0]
            used.add(op.index)
            acts[layer.name] = op.outputs[0]
            by_tensor = {acts[s]: s for s in layer.inputs}
            matched[layer.name] = MatchedAdd(
                sources=tuple(by_tensor[t] for t in op.inputs),
                inputs=tuple(graph.tensors[t] for t in op.inputs),
                output=graph.tensors[op.outputs[0]],
                act=_ACT.get(op.options.get("fusedActivationFunction", 0), "unsupported"),
            )
        elif isinstance(layer, Shift):
            pads = [op for op in graph.consumers.get(acts[layer.input], []) if op.kind == "PAD" and op.index not in used
                    and any(c.kind in _SLICES for c in graph.consumers.get(op.outputs[0], []))]
            if not pads:
                raise SoiError(f"layer '{layer.name}': no PAD + STRIDED_SLICE (time shift) in the .tflite")
            used.add(pads[0].index)
            cut = next(c for c in graph.consumers[pads[0].outputs[0]] if c.kind in _SLICES)
            used.add(cut.index)
            acts[layer.name] = cut.outputs[0]
            matched[layer.name] = graph.tensors[acts[layer.name]]
        elif isinstance(layer, Concat):
            srcs = [acts[s] for s in layer.inputs]
            cands = [op for op in graph.consumers.get(srcs[0], [])
                     if op.kind == "CONCATENATION" and list(op.inputs) == srcs and op.index not in used]
            if not cands:
                raise SoiError(f"layer '{layer.name}': no CONCATENATION of {layer.inputs} in the .tflite")
            used.add(cands[0].index)
            acts[layer.name] = cands[0].outputs[0]
            matched[layer.name] = graph.tensors[acts[layer.name]]
    left = [op for op in graph.ops if op.index not in used]
    if left:
        listed = ", ".join(f"{op.kind} (op {op.index})" for op in left[:5])
        raise SoiError(f"the .tflite has ops the model spec does not explain: {listed}")
    return matched
