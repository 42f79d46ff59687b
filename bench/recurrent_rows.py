"""The kernel benchmark's recurrent rows: one time step of a recurrent layer (one frame of a streamed
model), with random int8 weights and requantization chosen so that the gates stay in range."""

from __future__ import annotations

import numpy as np

RECURRENT = ("lstm", "gru")


def recurrent_macs(kind: str, cin: int, hidden: int) -> int:
    """Four gates (LSTM) or three (GRU), each an input and a recurrent matrix-vector product."""
    return (4 if kind == "lstm" else 3) * hidden * (cin + hidden)


def recurrent_row(i: int, kind: str, cin: int, hidden: int, rng: np.random.Generator, arr) -> tuple[list[str], str]:
    """(C declarations, the measured call) for shape i; `arr(name, ctype, values)` declares an array.
    The input frame is in{i} (declared by the caller), the output goes to `out`."""
    return (_lstm_row if kind == "lstm" else _gru_row)(i, cin, hidden, rng, arr)


def _lstm_row(i: int, cin: int, hidden: int, rng: np.random.Generator, arr) -> tuple[list[str], str]:
    data = [arr(f"wx{i}", "int8_t", rng.integers(-127, 128, size=4 * hidden * cin)),
            arr(f"wh{i}", "int8_t", rng.integers(-127, 128, size=4 * hidden * hidden)),
            arr(f"bx{i}", "int32_t", rng.integers(-5000, 5000, size=4 * hidden)),
            arr(f"bh{i}", "int32_t", rng.integers(-5000, 5000, size=4 * hidden)),
            arr(f"c{i}", "int16_t", rng.integers(-3000, 3000, size=hidden), const=False)]
    # the gate sums of random data are about sqrt(n) x 64 x 64: bring them to about 2^12 (Q3.12 ~ 1)
    sx = -int(np.ceil(np.log2(np.sqrt(cin) * 64 * 64 / 4096)))
    sh = -int(np.ceil(np.log2(np.sqrt(hidden) * 64 * 64 / 4096)))
    m = ", ".join(["1518500250"] * 4)
    call = f"""    {{
        static const soi_lstm_params p = {{{cin}, {hidden}, {{{m}}}, {{{sx}, {sx}, {sx}, {sx}}},
                                           {{{m}}}, {{{sh}, {sh}, {sh}, {sh}}}, 1288490189, -23, -3, -12, 0}};
        for (int32_t k = 0; k < {hidden}; k++) out[k] = (int8_t)(k * 7 - 64); /* the hidden state */
        soi_mark_begin();
        st = soi_lstm_step_s8(&p, in{i}, 1, wx{i}, bx{i}, wh{i}, bh{i}, out, c{i}, (int16_t *)scratch);
        soi_mark_end();
        report({i}, st, {hidden});
    }}
"""
    return data, call


def _gru_row(i: int, cin: int, hidden: int, rng: np.random.Generator, arr) -> tuple[list[str], str]:
    """One soi_gru_step_s8 (six products, five ADD/SUB, two MUL, three table lookups per value) with
    TFLite-like parameters: products requantized to about +-50, ADD/SUB/MUL as the add/mul bench rows."""
    sx = -int(np.ceil(np.log2(np.sqrt(cin) * 64 * 64 / 50.0)))
    sh = -int(np.ceil(np.log2(np.sqrt(hidden) * 64 * 64 / 50.0)))
    data = [arr(f"wx{i}", "int8_t", rng.integers(-127, 128, size=3 * hidden * cin)),
            arr(f"wh{i}", "int8_t", rng.integers(-127, 128, size=3 * hidden * hidden)),
            arr(f"b{i}", "int32_t", rng.integers(-5000, 5000, size=6 * hidden)),
            arr(f"m{i}", "int32_t", rng.integers(1 << 30, (1 << 31) - 1, size=6 * hidden)),
            arr(f"s{i}", "int32_t", np.repeat([sx, sh], 3 * hidden)),
            arr(f"t{i}", "int8_t", rng.integers(-128, 128, size=3 * 256))]
    add = "{3, 1073741824, 0, -7, 1518500250, -1, -2, 1395864371, -19}"
    sub = "{3, 1073741824, 0, -7, -1518500250, -1, -2, 1395864371, -19}"
    mul = "{3, -7, -2, 1395864371, -8}"
    call = f"""    {{
        static const soi_gru_params p = {{{cin}, {hidden}, {{-3, 5, -1, 2, 0, -4}}, {add}, {add}, {add}, {sub}, {add},
                                          {mul}, {mul}}};
        for (int32_t k = 0; k < {hidden}; k++) out[k] = (int8_t)(k * 7 - 64); /* the hidden state */
        soi_mark_begin();
        st = soi_gru_step_s8(&p, in{i}, 1, wx{i}, wh{i}, b{i}, m{i}, s{i}, t{i}, out, (int8_t *)scratch);
        soi_mark_end();
        report({i}, st, {hidden});
    }}
"""
    return data, call
