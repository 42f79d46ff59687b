"""The kernel benchmark's rows of one tensor in, one out: an int8 activation as the generator runs it
(soi_table_s8 over its 256-entry table: sigmoid = TFLite LOGISTIC, tanh = TANH, tables.py) and a LayerNorm
(soi_layernorm_s8 with gamma and beta, over the channels of each bin or over a whole frame), with
parameters derived, as the generator derives them, from plausible scales of the converter's ops."""

from __future__ import annotations

import numpy as np

from soi_mcu.ops.int8_ref import add_params, mean_params, rsqrt_params, rsqrt_s8
from soi_mcu.ops.layernorm import layernorm_tables
from soi_mcu.ops.records import Tensor
from soi_mcu.ops.requant import quantize_multiplier
from soi_mcu.ops.tables import sigmoid_table, tanh_table

UNARY = ("sigmoid", "tanh", "ln_ch", "ln_frame")  # ln_ch: statistics per bin (cLN), ln_frame: per frame


def _tensor(scale: float, zero_point: int) -> Tensor:
    return Tensor(0, "t", (1,), np.int8, np.array([scale], dtype=np.float32), np.array([zero_point]), None)


def _activation(i: int, kind: str, n: int, arr) -> tuple[list[str], str]:
    # an input of scale 0.05 (about -6.4..6.4) at zero point 3; LiteRT's fixed output quantizations
    inp = _tensor(0.05, 3)
    table = sigmoid_table(inp, _tensor(1 / 256, -128)) if kind == "sigmoid" else tanh_table(inp, _tensor(1 / 128, 0))
    call = f"""    {{
        soi_mark_begin();
        soi_table_s8(in{i}, out, {n}u, tab{i});
        soi_mark_end();
        report({i}, ARM_CMSIS_NN_SUCCESS, {n});
    }}
"""
    return [arr(f"tab{i}", "int8_t", np.array(table))], call


def _layernorm(i: int, kind: str, bins: int, channels: int, rng: np.random.Generator, arr) -> tuple[list[str], str]:
    size = channels if kind == "ln_ch" else bins * channels
    groups = bins * channels // size
    x, m, d, sq, v, r, y, g, gy, b, o = 0.05, 0.01, 0.05, 0.02, 0.01, 0.05, 0.03, 0.01, 0.03, 0.005, 0.03

    def add(s1: float, s2: float, so: float, z1: int, z2: int, zo: int) -> tuple[int, ...]:
        (m1, h1), (m2, h2), (mo, ho) = add_params(s1, s2, so)
        return -z1, -z2, m1, h1, m2, h2, mo, ho, zo

    def mul(s1: float, s2: float, so: float, z1: int, z2: int, zo: int) -> tuple[int, ...]:
        q = quantize_multiplier(s1 * s2 / so)
        return -z1, -z2, q[0], q[1], zo

    mean, var, rs = mean_params(x, m, size), mean_params(sq, v, size), rsqrt_params(v, r)
    sub, square, beta_add = add(x, m, d, 3, 0, 0), mul(d, d, sq, 0, 0, -128), add(gy, b, o, 0, 0, 0)
    beta = rng.integers(-128, 128, size=size)
    t = layernorm_tables(sub, square, beta_add, beta)
    data = [arr(f"rs{i}", "int8_t", np.array([rsqrt_s8(val, -128, -128, *rs) for val in range(-128, 128)])),
            arr(f"g{i}", "int8_t", rng.integers(-128, 128, size=size)),
            arr(f"sq{i}", "int8_t", t.square), arr(f"s1{i}", "int32_t", t.sub_input1),
            arr(f"b1{i}", "int32_t", t.beta_input1), arr(f"b2{i}", "int32_t", t.beta_input2)]

    def fields(values: tuple[int, ...]) -> str:
        return "{" + ", ".join(str(v) for v in values) + "}"

    call = f"""    {{
        static const soi_layernorm_params p = {{
            {{-3, {mean[0]}, {mean[1]}, 0}}, {fields(sub)}, {fields(square)},
            {{128, {var[0]}, {var[1]}, -128}}, {fields(mul(d, r, y, 0, -128, 0))}, {fields(mul(y, g, gy, 0, -128, 0))},
            {fields(beta_add)}}};
        static const soi_layernorm_tables tb = {{rs{i}, sq{i}, s1{i}, b1{i}, b2{i}, {size}}};
        soi_mark_begin();
        st = soi_layernorm_s8(&p, &tb, in{i}, g{i}, {size}, {groups}, {size}, out);
        soi_mark_end();
        report({i}, st, {bins * channels});
    }}
"""
    return data, call


def unary_row(i: int, kind: str, bins: int, channels: int, rng: np.random.Generator, arr) -> tuple[list[str], str]:
    """(C declarations, the measured call) for shape i of `bins` x `channels` values; the input is in{i}
    (declared by the caller), the output goes to `out`."""
    if kind in ("sigmoid", "tanh"):
        return _activation(i, kind, bins * channels, arr)
    return _layernorm(i, kind, bins, channels, rng, arr)
