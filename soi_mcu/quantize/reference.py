"""The golden int8 reference: LiteRT's reference kernels on the exported .tflite."""

from __future__ import annotations

import numpy as np

from soi_mcu.errors import SoiError
from soi_mcu.quantize.export import TfliteArtifact
from soi_mcu.quantize.rewrite import drop_unused_codes, load_model, pack_model


def reference_outputs(artifact: TfliteArtifact, inputs_q: np.ndarray) -> np.ndarray:
    """Run LiteRT's reference kernels (bit-exact oracle) on int8 input (time, freq, channels).

    LiteRT's reference resolver has no ELU: a graph with ELU runs with the ELU ops cut out (their
    outputs made graph inputs, their inputs graph outputs) on the reference kernels, and each ELU on
    LiteRT's one ELU kernel (the builtin resolver's int8 table), repeated until every ELU's input is
    final (one pass per ELU at most: the graph is acyclic)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    t = inputs_q.shape[0]
    if t > artifact.frames:
        raise SoiError(f"reference: {t} frames given, the model was exported for {artifact.frames}")
    data = artifact.path.read_bytes()
    model, kinds = load_model(data)
    sub = model.subgraphs[0]
    elus = [op for op in sub.operators if kinds[op.opcodeIndex] == "ELU"]
    in_index, out_index = int(sub.inputs[0]), int(sub.outputs[0])
    if elus:
        sub.operators = [op for op in sub.operators if kinds[op.opcodeIndex] != "ELU"]
        sub.inputs = [in_index] + [int(op.outputs[0]) for op in elus]
        sub.outputs = [out_index] + [int(op.inputs[0]) for op in elus]
        drop_unused_codes(model)  # the resolver refuses a model that names an op it lacks
        data = pack_model(model)
    interp = Interpreter(model_content=data, experimental_op_resolver_type=OpResolverType.BUILTIN_REF)
    interp.allocate_tensors()
    shape = next(d["shape"] for d in interp.get_input_details() if d["index"] == in_index)
    padded = np.zeros((1, *shape[1:]), dtype=np.int8)
    padded[0, :t] = inputs_q
    elu_out = {int(op.outputs[0]): np.zeros(sub.tensors[op.outputs[0]].shape, np.int8) for op in elus}
    for _ in range(len(elus) + 1):
        interp.reset_all_variables()  # an LSTM's states are variables: every pass starts from zero state
        interp.set_tensor(in_index, padded)
        for index, value in elu_out.items():
            interp.set_tensor(index, value)
        interp.invoke()
        new = {int(op.outputs[0]): litert_elu(artifact.path.read_bytes(), int(op.inputs[0]),
                                              interp.get_tensor(int(op.inputs[0])))
               for op in elus}
        if all(np.array_equal(new[k], elu_out[k]) for k in new):
            break
        elu_out = new
    return interp.get_tensor(out_index)[0, :t].copy()


def litert_elu(model_data: bytes, input_tensor: int, values: np.ndarray) -> np.ndarray:
    """LiteRT's int8 ELU (builtin resolver: the reference resolver has none) on `values`, with the
    quantization of the ELU that reads `input_tensor` in the model."""
    model, kinds = load_model(model_data)
    op = next(i for i, o in enumerate(model.subgraphs[0].operators)
              if kinds[o.opcodeIndex] == "ELU" and int(o.inputs[0]) == input_tensor)
    return litert_ops(model_data, [op], values, reference=False)


def litert_ops(model_data: bytes, ops: list[int], values: np.ndarray, reference: bool = True) -> np.ndarray:
    """Run the chain of element-wise ops `ops` (operator indices, each reading the one before) of the
    model alone on int8 `values`, with the model's quantization: on LiteRT's reference kernels, or on
    its builtin ones (reference=False). The tests check the firmware's tables with it."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    model, _ = load_model(model_data)
    sub = model.subgraphs[0]
    sub.operators = [sub.operators[i] for i in ops]
    first, last = int(sub.operators[0].inputs[0]), int(sub.operators[-1].outputs[0])
    sub.inputs, sub.outputs = [first], [last]
    drop_unused_codes(model)
    for op in sub.operators:  # the activations take the values' shape; constants keep theirs
        for i in (int(op.inputs[0]), int(op.outputs[0])):
            sub.tensors[i].shape = list(values.shape)
            sub.tensors[i].shapeSignature = None
    resolver = OpResolverType.BUILTIN_REF if reference else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interp = Interpreter(model_content=pack_model(model), experimental_op_resolver_type=resolver)
    interp.allocate_tensors()
    interp.set_tensor(first, values.astype(np.int8))
    interp.invoke()
    return interp.get_tensor(last).copy()
