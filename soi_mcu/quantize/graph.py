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
from soi_mcu.model.spec import ModelSpec
from soi_mcu.ops.records import MatchedAdd, MatchedConv, Tensor

__all__ = ["Graph", "MatchedAdd", "MatchedConv", "Matcher", "Op", "Tensor", "check_int8", "load_graph", "match_layers"]

_DTYPES = {0: np.float32, 2: np.int32, 3: np.uint8, 4: np.int64, 9: np.int8, 7: np.int16}


@dataclass(frozen=True)
class Op:
    index: int
    kind: str
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    options: dict
    intermediates: tuple[int, ...] = ()  # an integer LSTM's: the tensors whose quantization it reads


@dataclass
class Graph:
    tensors: list[Tensor]
    ops: list[Op]
    inputs: tuple[int, ...]
    outputs: tuple[int, ...]
    consumers: dict[int, list[Op]] = field(default_factory=dict)


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
        mids = tuple(int(x) for x in op.intermediates) if op.intermediates is not None else ()
        ops.append(Op(i, kind, tuple(int(x) for x in op.inputs), tuple(int(x) for x in op.outputs), opts, mids))
    graph = Graph(tensors, ops, tuple(int(x) for x in sub.inputs), tuple(int(x) for x in sub.outputs))
    for op in ops:
        for t in op.inputs:
            graph.consumers.setdefault(t, []).append(op)  # -1: an optional input left out
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
    """Refuse a model with float ops left in it: name them. A QUANTIZE from int8 to int8 (a requantize
    the converter puts after an op with a fixed output quantization) is int8; a layer must claim it."""
    floats = [op for op in graph.ops if op.kind == "DEQUANTIZE"
              or (op.kind == "QUANTIZE" and graph.tensors[op.inputs[0]].dtype != np.int8)
              or any(graph.tensors[t].dtype == np.float32 for t in op.outputs)]
    if floats:
        listed = ", ".join(f"{op.kind} (op {op.index})" for op in floats[:5])
        raise SoiError(f"the converted model is not fully int8: float ops {listed}; change or remove those layers")


class Matcher:
    """What a layer kind's `match` works with: the graph, the tensor of every matched layer's output
    frame (`acts`), and the ops already claimed (`used`), so that no op explains two layers."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.acts: dict[str, int] = {"input": graph.inputs[0]}
        self.used: set[int] = set()

    def readers(self, tensor: int) -> list[Op]:
        """The ops not yet claimed that read `tensor`."""
        return [op for op in self.graph.consumers.get(tensor, []) if op.index not in self.used]

    def consumer(self, tensor: int, kind: str, layer: str) -> Op:
        """Claim the first unclaimed `kind` op reading `tensor`."""
        for op in self.readers(tensor):
            if op.kind == kind:
                self.used.add(op.index)
                return op
        raise SoiError(f"layer '{layer}': no {kind} op reads tensor '{self.graph.tensors[tensor].name}' in the .tflite")

    def self_concat(self, layer, axis: int) -> Tensor:
        """A frame repeated by concatenating it with itself on `axis` and reshaping (duplication in
        time on axis 2, upsampling in frequency on axis 3)."""
        src = self.acts[layer.input]
        cands = [op for op in self.readers(src) if op.kind == "CONCATENATION" and op.options.get("axis") % 4 == axis
                 and set(op.inputs) == {src}]
        if not cands:
            raise SoiError(f"layer '{layer.name}': no self-CONCATENATION on axis {axis} in the .tflite")
        self.used.add(cands[0].index)
        reshape = self.consumer(cands[0].outputs[0], "RESHAPE", layer.name)
        self.acts[layer.name] = reshape.outputs[0]
        return self.graph.tensors[reshape.outputs[0]]


def match_layers(graph: Graph, spec: ModelSpec) -> dict[str, object]:
    """Map each spec layer to its tensors (each kind's `match`: MatchedConv for convs, the output
    Tensor for kinds without arithmetic); an op nothing explains is an error."""
    check_int8(graph)
    m = Matcher(graph)
    matched = {layer.name: layer.match(m) for layer in spec.layers}
    left = [op for op in graph.ops if op.index not in m.used]
    if left:
        listed = ", ".join(f"{op.kind} (op {op.index})" for op in left[:5])
        raise SoiError(f"the .tflite has ops the model spec does not explain: {listed}")
    return matched
