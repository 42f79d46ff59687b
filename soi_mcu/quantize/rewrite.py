"""Rewrites of the converter's .tflite: ELU's float island made int8, and the flatbuffer helpers the
reference runner shares."""

from __future__ import annotations

import copy

from soi_mcu.errors import SoiError

# Ops whose int8 form keeps its input's quantization: a float island around ELU passes through them.
_SAME_QUANT = {"PAD": (0,), "RESHAPE": (0,), "STRIDED_SLICE": (0,), "AVERAGE_POOL_2D": (0,), "MAX_POOL_2D": (0,),
               "CONCATENATION": None}


def int8_elu(data: bytes) -> bytes:
    """Make ELU int8. TensorFlow's converter (2.21) does not quantize ELU: it leaves
    DEQUANTIZE -> ELU -> (PAD, CONCATENATION, ...) -> QUANTIZE in float. TFLite has an int8 ELU
    (op version 1 with int8 tensors: a 256-entry table from the input and output quantization), so the island is
    rewritten to int8: a DEQUANTIZE's output becomes its int8 input, every other float tensor takes
    the quantization of the QUANTIZE it reaches through quantization-preserving ops (the converter's
    own calibration of that range), and QUANTIZEs that then change nothing are dropped. A graph
    without ELU is returned unchanged."""
    from ai_edge_litert import schema_py_generated as schema

    model, kinds = load_model(data)
    sub = model.subgraphs[0]

    def kind(op) -> str:
        return kinds[op.opcodeIndex]

    if not any(kind(op) == "ELU" for op in sub.operators):
        return data
    tensors = sub.tensors
    f32, i8 = schema.TensorType.FLOAT32, schema.TensorType.INT8
    alias = {int(op.outputs[0]): int(op.inputs[0]) for op in sub.operators if kind(op) == "DEQUANTIZE"}
    quant_of: dict[int, int] = {int(op.inputs[0]): int(op.outputs[0]) for op in sub.operators
                                if kind(op) == "QUANTIZE" and tensors[op.inputs[0]].type == f32}
    changed = True
    while changed:  # backwards through PAD, CONCATENATION...: their inputs share the output's quantization
        changed = False
        for op in sub.operators:
            out = int(op.outputs[0])
            if kind(op) in _SAME_QUANT and out in quant_of:
                picks = _SAME_QUANT[kind(op)] or range(len(op.inputs))
                for i in (int(op.inputs[k]) for k in picks):
                    if tensors[i].type == f32 and i not in alias and i not in quant_of:
                        quant_of[i] = quant_of[out]
                        changed = True
    for op in sub.operators:
        if kind(op) == "ELU" and int(op.outputs[0]) not in quant_of:
            raise SoiError("ELU: its output reaches no QUANTIZE through PAD/CONCATENATION/RESHAPE/STRIDED_SLICE; "
                           "the int8 rewrite cannot give it a scale")
    for t, src in quant_of.items():
        if tensors[t].type == f32 and t not in alias:
            tensors[t].type = i8
            tensors[t].quantization = _copy_quant(tensors[src].quantization)
    kept = []
    for op in sub.operators:
        if kind(op) == "DEQUANTIZE":
            continue
        op.inputs = [alias.get(int(i), int(i)) for i in op.inputs]
        src, dst = tensors[op.inputs[0]], tensors[op.outputs[0]]
        if kind(op) == "QUANTIZE" and src.type == i8 and _same_quant(src, dst):
            alias[int(op.outputs[0])] = int(op.inputs[0])  # now a no-op: its readers read its input
            continue
        kept.append(op)
    for op in kept:
        op.inputs = [alias.get(int(i), int(i)) for i in op.inputs]
    sub.outputs = [alias.get(int(i), int(i)) for i in sub.outputs]
    sub.operators = kept
    floats = [tensors[o].name for op in kept for o in op.outputs if tensors[o].type == f32]
    if floats:
        raise SoiError(f"ELU: float tensors are left after the int8 rewrite ({floats[0]!r}); change the layers around it")
    return pack_model(model)


def pack_model(model) -> bytes:
    import flatbuffers

    builder = flatbuffers.Builder(1024)
    builder.Finish(model.Pack(builder), file_identifier=b"TFL3")
    return bytes(builder.Output())


def drop_unused_codes(model) -> None:
    used = sorted({op.opcodeIndex for sub in model.subgraphs for op in sub.operators})
    new_index = {old: new for new, old in enumerate(used)}
    model.operatorCodes = [model.operatorCodes[i] for i in used]
    for sub in model.subgraphs:
        for op in sub.operators:
            op.opcodeIndex = new_index[op.opcodeIndex]


def load_model(data: bytes):
    from ai_edge_litert import schema_py_generated as schema

    model = schema.ModelT.InitFromObj(schema.Model.GetRootAsModel(data, 0))
    names = {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}
    kinds = [names.get(max(c.builtinCode, c.deprecatedBuiltinCode), "CUSTOM") for c in model.operatorCodes]
    return model, kinds


def _copy_quant(q):
    return copy.deepcopy(q)


def _same_quant(a, b) -> bool:
    qa, qb = a.quantization, b.quantization
    return (qa is not None and qb is not None and list(qa.scale) == list(qb.scale)
            and list(qa.zeroPoint) == list(qb.zeroPoint))
