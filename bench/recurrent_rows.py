"""The kernel benchmark's recurrent rows: one time step of a recurrent layer (one frame of a streamed
model), with random int8 weights and requantization chosen so that the gates stay in range."""

from __future__ import annotations

import numpy as np

RECURRENT = ("lstm",)


def recurrent_macs(kind: str, cin: int, hidden: int) -> int:
    """Four gates (LSTM), each an input and a recurrent matrix-vector product."""
    return 4 * hidden * (cin + hidden)


def recurrent_row(i: int, kind: str, cin: int, hidden: int, rng: np.random.Generator, arr) -> tuple[list[str], str]:
    """(C declarations, the measured call) for shape i; `arr(name, ctype, values)` declares an array.
    The input frame is in{i} (declared by the caller), the output goes to `out`."""
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
