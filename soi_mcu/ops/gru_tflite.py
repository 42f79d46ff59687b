"""The GRU's int8 ops in the .tflite and their lowering to one firmware node (the export: gru.py).

Every time step of the unrolled cell converts to these ops (operands as the cell writes them; the
converter may swap those of ADD and MUL):
    gx_g = FULLY_CONNECTED(x_t, W_ig, b_g)          g = r, z, n
    gh_g = FULLY_CONNECTED(h, W_hg [, b_hn])
    r = LOGISTIC(ADD(gx_r, gh_r))    z = LOGISTIC(ADD(gx_z, gh_z))
    n = TANH(ADD(gx_n, MUL(r, gh_n)))
    h' = ADD(n, MUL(z, SUB(h, n)))
x_t is the t-th output of one UNPACK of the sequences, step 0's h is STRIDED_SLICE, MUL by 0, ADD 0
of x_0 (gru.py says why), and one PACK takes every step's h'. The firmware runs one step per frame
with one set of parameters, so every step must have step 0's scales and weights: checked here."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from soi_mcu.errors import SoiError
from soi_mcu.ops.activation import ActivationNode
from soi_mcu.ops.base import BufRef, LowerContext, Lowered
from soi_mcu.ops.int8_ref import add_params
from soi_mcu.ops.records import Tensor
from soi_mcu.ops.recurrent import match_into_bins, match_out_of_bins
from soi_mcu.ops.requant import quantize_multiplier
from soi_mcu.ops.tables import ChainLink, chain_table, check_output_quant, sigmoid_table, tanh_table

PRODUCTS = ("x_r", "x_z", "x_n", "h_r", "h_z", "h_n")  # the six FULLY_CONNECTEDs, in the firmware's order
# role -> op kind, for the ops of one step besides the products
CELL_OPS = {"add_r": "ADD", "sig_r": "LOGISTIC", "add_z": "ADD", "sig_z": "LOGISTIC", "mul_r": "MUL",
            "add_n": "ADD", "tanh": "TANH", "sub": "SUB", "mul_z": "MUL", "add_h": "ADD"}
OpRecord = tuple[tuple["Tensor | None", ...], Tensor]  # an op's inputs (None: left out) and its output


@dataclass(frozen=True)
class GruNode:
    kind: ClassVar[str] = "gru"
    declare_rank: ClassVar[int] = 0
    headers: ClassVar[tuple[str, ...]] = ("soi_gru.h",)
    has_reset: ClassVar[bool] = True  # reset() sets the hidden state to its zero point (0.0)
    name: str
    source: BufRef
    target: BufRef  # the hidden state: it is the output frame, and persists to the next step
    batches: int  # frequency bins
    input_size: int
    hidden_size: int
    input_weights: np.ndarray  # int8 (3, hidden, input): gates r, z, n
    recurrent_weights: np.ndarray  # int8 (3, hidden, hidden)
    bias: np.ndarray  # int32 (6, hidden): each product's bias with its input zero point's share folded in
    multipliers: np.ndarray  # int32 (6, hidden): per output channel, as TFLite's FULLY_CONNECTED
    shifts: np.ndarray  # int32 (6, hidden)
    fc_offsets: tuple[int, ...]  # the six products' output zero points
    adds: tuple[tuple[int, ...], ...]  # a_r, a_z, a_n, d (SUB: m2 negated), h: the soi_gru_add fields
    muls: tuple[tuple[int, ...], ...]  # m = r * gh_n, e = z * d: the soi_gru_mul fields
    tables: np.ndarray  # int8 (3, 256): LOGISTIC of a_r, LOGISTIC of a_z, TANH of a_n; entry v + 128
    state_zero_point: int
    run_period: int
    macs: int
    over_freq: bool = False  # one sequence over the bins of each frame, from the zero state (target: its output)
    reverse: bool = False  # over the bins: the last bin first

    @property
    def state_size(self) -> int:
        return self.batches * self.hidden_size

    @property
    def state_bytes(self) -> int:
        return 0 if self.over_freq else self.state_size

    @property
    def constant_bytes(self) -> int:
        return int(self.input_weights.size + self.recurrent_weights.size + self.tables.size
                   + 4 * (self.bias.size + self.multipliers.size + self.shifts.size))

    @property
    def scratch_bytes(self) -> int:
        return 6 * self.hidden_size  # the six int8 products of one bin

    @property
    def kernels(self) -> tuple[str, ...]:
        return ("soi_gru_step_s8", "arm_elementwise_add_s8", "arm_elementwise_mul_s8")  # it calls both

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return (self.source,)

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


@dataclass(frozen=True)
class MatchedGru:
    """Step 0's ops by role (the others are checked equal to it), the initial state, the packed steps,
    the requantizations after them (where a reader needs another scale) and the output frame."""

    step: dict[str, OpRecord]
    h0: Tensor
    packed: Tensor
    requantize: tuple[ChainLink, ...]
    output: Tensor


def match_gru(layer: Any, m: Any) -> MatchedGru:
    t = m.graph.tensors
    producer = {out: op for op in m.graph.ops for out in op.outputs}
    unpack = match_into_bins(m, layer, "UNPACK")
    if unpack.options.get("axis") != 1:
        raise SoiError(f"layer '{layer.name}': the UNPACK of the GRU's sequences in the .tflite is not over time")
    xs = unpack.outputs[::-1] if layer.reverse else unpack.outputs  # the order the steps run in
    h = _initial_state(layer, m, xs[0])
    steps = []
    for x in xs:
        ops = _match_step(layer, m, producer, x, h)
        steps.append(ops)
        h = ops["add_h"].outputs[0]
    outs = tuple(ops["add_h"].outputs[0] for ops in steps)
    outs = outs[::-1] if layer.reverse else outs  # packed in bin order
    pack = next((op for op in m.readers(outs[0]) if op.kind == "PACK" and tuple(op.inputs) == outs), None)
    if pack is None:
        raise SoiError(f"layer '{layer.name}': the GRU's steps in the .tflite are not packed into one sequence")
    m.used.add(pack.index)
    width = m.graph.tensors[m.acts[layer.input]].shape[2]
    quantizes = match_out_of_bins(m, layer, "PACK", pack.outputs[0], width, requantize=True,
                                  layout_ops=1 if layer.over == "freq" else None)
    records = [{role: _record(t, op) for role, op in ops.items()} for ops in steps]
    for k, rec in enumerate(records[1:], start=1):
        _check_same_step(layer.name, k, records[0], rec)
    requant = tuple(("QUANTIZE", t[a], None, t[b], "none") for a, b in quantizes)
    return MatchedGru(records[0], records[0]["sub"][0][0], t[pack.outputs[0]], requant, t[m.acts[layer.name]])


def _record(tensors: list[Tensor], op: Any) -> OpRecord:
    return tuple(tensors[i] if i >= 0 else None for i in op.inputs), tensors[op.outputs[0]]


def _is_zeros(tensor: Tensor) -> bool:
    return tensor.data is not None and not np.any(tensor.data.astype(np.int64) - tensor.zero_point.reshape(-1)[0])


def _initial_state(layer: Any, m: Any, x0: int) -> int:
    """Claim x_0 -> STRIDED_SLICE -> MUL by 0 [-> ADD 0] (the zero state; the converter drops the ADD
    where it broadcasts nothing, hidden 1); returns that state's tensor."""
    t = m.graph.tensors
    tensor, chain = x0, []
    for kind in ("STRIDED_SLICE", "MUL", "ADD"):
        op = next((o for o in m.readers(tensor) if o.kind == kind and o.inputs[0] == tensor
                   and (kind == "STRIDED_SLICE" or _is_zeros(t[o.inputs[1]]))), None)
        if op is None and kind == "ADD":
            break
        if op is None:
            raise SoiError(f"layer '{layer.name}': no {kind} of the GRU's zero initial state in the .tflite")
        chain.append(op)
        tensor = op.outputs[0]
    m.used.update(op.index for op in chain)
    return tensor


def _match_step(layer: Any, m: Any, producer: dict, x: int, h: int) -> dict[str, Any]:
    """The ops of one step, by role (PRODUCTS as fc_<product>, then CELL_OPS), claimed."""

    def fail(what: str):
        raise SoiError(f"layer '{layer.name}': {what} in the .tflite is not the GRU cell the export writes")

    def made_by(tensor: int, kind: str):
        op = producer.get(tensor)
        if op is None or op.kind != kind or op.index in m.used:
            fail(f"the {kind} making tensor '{m.graph.tensors[tensor].name}'")
        return op

    def split(op, among: dict) -> tuple[int, int]:
        """(the operand of `op` in `among`, the other operand)."""
        a, b = op.inputs[:2]
        if a in among and b not in among:
            return a, b
        if b in among and a not in among:
            return b, a
        return fail(f"the operands of {op.kind} (op {op.index})")

    fc_x = {op.outputs[0]: op for op in m.readers(x) if op.kind == "FULLY_CONNECTED" and op.inputs[0] == x}
    fc_h = {op.outputs[0]: op for op in m.readers(h) if op.kind == "FULLY_CONNECTED" and op.inputs[0] == h}
    subs = [op for op in m.readers(h) if op.kind == "SUB" and op.inputs[0] == h]
    # x may be read by more cells than this one: a bidirectional GRU's two directions share the sequences
    fc_x = {out: op for out, op in fc_x.items() if op.index not in m.used}
    if len(fc_x) < 3 or len(fc_h) != 3 or len(subs) != 1:
        fail(f"step input: {len(fc_x)} FULLY_CONNECTED of x, {len(fc_h)} of h, {len(subs)} SUB of h")
    ops: dict[str, Any] = {"sub": subs[0]}
    ops["tanh"] = made_by(ops["sub"].inputs[1], "TANH")
    ops["add_n"] = made_by(ops["tanh"].inputs[0], "ADD")
    gx_n, m_t = split(ops["add_n"], fc_x)
    ops["mul_r"] = made_by(m_t, "MUL")
    gh_n, r_t = split(ops["mul_r"], fc_h)
    ops["sig_r"] = made_by(r_t, "LOGISTIC")
    ops["add_r"] = made_by(ops["sig_r"].inputs[0], "ADD")
    gx_r, gh_r = split(ops["add_r"], fc_x)
    d = ops["sub"].outputs[0]
    ops["mul_z"] = next((op for op in m.readers(d) if op.kind == "MUL"), None) or fail("the MUL z * (h - n)")
    _, z_t = split(ops["mul_z"], {d: None})
    ops["sig_z"] = made_by(z_t, "LOGISTIC")
    ops["add_z"] = made_by(ops["sig_z"].inputs[0], "ADD")
    gx_z, gh_z = split(ops["add_z"], fc_x)
    e = ops["mul_z"].outputs[0]
    ops["add_h"] = next((op for op in m.readers(e) if op.kind == "ADD" and set(op.inputs) == {ops["sub"].inputs[1], e}),
                        None) or fail("the ADD n + z * (h - n)")
    if len({gx_r, gx_z, gx_n}) != 3 or len({gh_r, gh_z, gh_n}) != 3 or gh_r not in fc_h or gh_z not in fc_h:
        fail("the gates' products")
    for name, tensor in zip(PRODUCTS, (gx_r, gx_z, gx_n, gh_r, gh_z, gh_n), strict=True):
        ops[f"fc_{name}"] = (fc_x if name[0] == "x" else fc_h)[tensor]
    for op in ops.values():
        if op.index in m.used:
            fail(f"{op.kind} (op {op.index}), claimed twice")
        if op.options.get("fusedActivationFunction", 0) or op.options.get("keepNumDims"):
            fail(f"{op.kind} (op {op.index}) with a fused activation")
    m.used.update(op.index for op in ops.values())
    return ops


def _quant(t: Tensor | None) -> tuple:
    return () if t is None else (tuple(np.asarray(t.scale, np.float32).tolist()), tuple(t.zero_point.tolist()))


def _check_same_step(layer: str, k: int, first: dict[str, OpRecord], step: dict[str, OpRecord]) -> None:
    """Step k's quantization (every input and output of every op) and constants are step 0's."""
    for role in (*(f"fc_{p}" for p in PRODUCTS), *CELL_OPS):  # in the order the cell computes them
        (ins, out), (other_ins, other_out) = first[role], step[role]
        for a, b in zip((*ins, out), (*other_ins, other_out), strict=True):
            same = _quant(a) == _quant(b) and (a is None or a.data is None) == (b is None or b.data is None)
            if same and a is not None and a.data is not None:
                same = np.array_equal(a.data, b.data)
            if not same:
                raise SoiError(f"layer '{layer}': step {k} of the unrolled GRU in the .tflite has other scales or "
                               f"weights than step 0 at its {role} ('{b.name if b is not None else '-'}'); the "
                               "firmware runs every step with one set")


def lower_gru(layer: Any, ctx: LowerContext) -> Lowered:
    mt: MatchedGru = ctx.matched[layer.name]
    s, sched = mt.step, ctx.sched
    cin, n = sched.channels[layer.input], layer.hidden
    h = s["sub"][0][0]
    if _quant(mt.h0) != _quant(h) or _quant(s["add_h"][1]) != _quant(h) or _quant(mt.packed) != _quant(h):
        raise SoiError(f"layer '{layer.name}': the GRU's state and output in the .tflite have different quantization")
    products = [_product(layer.name, s[f"fc_{p}"], cin if p[0] == "x" else n, n) for p in PRODUCTS]
    out = {role: rec[1] for role, rec in s.items()}
    check_output_quant("LOGISTIC", out["sig_r"], 1 / 256, -128)
    check_output_quant("LOGISTIC", out["sig_z"], 1 / 256, -128)
    check_output_quant("TANH", out["tanh"], 1 / 128, 0)
    gx = {g: out[f"fc_x_{g}"] for g in "rzn"}
    gh = {g: out[f"fc_h_{g}"] for g in "rzn"}
    over_freq = layer.over == "freq"
    # over time the hidden state is the output frame; over the bins each bin's state is its output
    target = BufRef(f"soi_buf_{layer.name}" + ("_gru" if mt.requantize else "")) if over_freq else \
        BufRef(f"{layer.name}_hidden")
    node = GruNode(
        name=layer.name, source=ctx.buf[layer.input], target=target,
        batches=sched.width[layer.name], input_size=cin, hidden_size=n,
        input_weights=np.stack([p[0] for p in products[:3]]), recurrent_weights=np.stack([p[0] for p in products[3:]]),
        bias=np.stack([p[1] for p in products]), multipliers=np.stack([p[2] for p in products]),
        shifts=np.stack([p[3] for p in products]), fc_offsets=tuple(int(out[f"fc_{p}"].zero_point[0]) for p in PRODUCTS),
        # in the kernel's operand order (ADD and MUL are symmetric in their operands' parameters)
        adds=(_add(gx["r"], gh["r"], out["add_r"]), _add(gx["z"], gh["z"], out["add_z"]),
              _add(gx["n"], out["mul_r"], out["add_n"]), _add(h, out["tanh"], out["sub"], sign=-1),
              _add(out["tanh"], out["mul_z"], out["add_h"])),
        muls=(_mul(out["sig_r"], gh["n"], out["mul_r"]), _mul(out["sig_z"], out["sub"], out["mul_z"])),
        tables=np.array([sigmoid_table(out["add_r"], out["sig_r"]), sigmoid_table(out["add_z"], out["sig_z"]),
                         tanh_table(out["add_n"], out["tanh"])], np.int8),
        state_zero_point=int(h.zero_point[0]), run_period=sched.period[layer.name], macs=layer.macs(sched),
        over_freq=over_freq, reverse=layer.reverse,
    )
    own = {node.target.buffer: node.state_size} if over_freq else {}
    if not mt.requantize:
        return Lowered((node,), node.target, mt.output, own)
    # the converter requantizes the state for a reader that needs another scale: that is one more table
    size = node.batches * n
    out = ActivationNode(name=f"{layer.name}_out", fn="requantize", ops=("QUANTIZE",) * len(mt.requantize),
                         source=node.target, target=BufRef(f"soi_buf_{layer.name}"), size=size,
                         table=np.asarray(chain_table(mt.requantize), np.int8), run_period=node.run_period)
    return Lowered((node, out), out.target, mt.output, {**own, out.target.buffer: size})


def _product(layer: str, rec: OpRecord, cols: int, rows: int) -> tuple[np.ndarray, ...]:
    """One FULLY_CONNECTED: (int8 weights (rows, cols), int32 bias + input offset x row sums, per-row
    multipliers, shifts), as TFLite's per-channel FULLY_CONNECTED Prepare derives them."""
    (inp, w, b, *_), out = rec
    if w is None or w.data is None or w.dtype != np.int8 or np.any(w.zero_point) or w.data.size != rows * cols:
        raise SoiError(f"layer '{layer}': GRU weights '{getattr(w, 'name', '-')}' are not int8 ({rows}, {cols})")
    weights = np.asarray(w.data, np.int8).reshape(rows, cols)
    bias = np.zeros(rows, np.int64) if b is None else np.asarray(b.data, np.int64).reshape(rows)
    bias = bias - int(inp.zero_point[0]) * weights.astype(np.int64).sum(axis=1)  # input offset x row sums
    w_scales = np.broadcast_to(np.asarray(w.scale, np.float32), (rows,))
    # double products of the float32 scales, as PopulateConvolutionQuantizationParams computes them
    q = [quantize_multiplier(float(inp.scale[0]) * float(ws) / float(out.scale[0])) for ws in w_scales]
    return (weights, bias.astype(np.int32), np.array([a for a, _ in q], np.int32),
            np.array([sh for _, sh in q], np.int32))


def _add(a: Tensor, b: Tensor, out: Tensor, sign: int = 1) -> tuple[int, ...]:
    """An int8 ADD (SUB: sign -1, TFLite's negated second multiplier): the soi_gru_add fields."""
    (m1, s1), (m2, s2), (mo, so) = add_params(float(a.scale[0]), float(b.scale[0]), float(out.scale[0]))
    return -int(a.zero_point[0]), m1, s1, -int(b.zero_point[0]), sign * m2, s2, int(out.zero_point[0]), mo, so


def _mul(a: Tensor, b: Tensor, out: Tensor) -> tuple[int, ...]:
    """An int8 MUL: the soi_gru_mul fields (its multiplier from the double product of the scales)."""
    mult, shift = quantize_multiplier(float(a.scale[0]) * float(b.scale[0]) / float(out.scale[0]))
    return -int(a.zero_point[0]), -int(b.zero_point[0]), int(out.zero_point[0]), mult, shift
