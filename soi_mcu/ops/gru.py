"""GRU: a unidirectional GRU over time (PyTorch's nn.GRU: gates r, z, n with
n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) and h' = (1 - z) * n + z * h), run for every frequency
bin with shared weights; its hidden state is its partial state, carried from frame to frame
(streaming == offline exactly: the offline form is the same recurrence over the whole sequence).
Or, with over="freq", a GRU over the bins of each frame (GTCRN's intra-frame RNN on (B*T, F, C)),
from the zero state in every frame, bin 0 first or (reverse, the backward half of a bidirectional
GRU) the last bin first: it keeps no state between frames.

In int8 there is no TFLite GRU op, and neither Keras form of a GRU gives one step with one set of
scales: Keras' GRU layer converts into a WHILE loop that the full-int8 quantizer crashes on, and
unroll=True gives every time step its own calibrated scales (the firmware runs one step, with one
set). So the export writes the cell out with TensorFlow ops, unrolled over the export window, and
fixes the range of every intermediate (fake_quant_with_min_max_vars) to what the layer's float
activations on the calibration frames span: all steps then convert to the same int8 ops with the
same scales (LOGISTIC and TANH outputs have TFLite's fixed ones). gru_tflite.py matches those ops,
checks that every step has the same scales and weights, and lowers them to one node whose kernel
(soi_gru_step_s8, firmware/kernels/soi/) computes one step per frame, each op as LiteRT's reference
kernel does (FULLY_CONNECTED, ADD, LOGISTIC, MUL, TANH, SUB)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import Facts, LayerOp, LowerContext, Lowered
from soi_mcu.ops.concat import Concat
from soi_mcu.ops.gru_tflite import lower_gru, match_gru
from soi_mcu.ops.recurrent import (
    frame_as_batch,
    freq_sequences,
    from_freq_sequences,
    from_sequences,
    keras_over_bins,
    keras_over_freq,
    recurrent_facts,
    to_sequences,
)

GATES = ("r", "z", "n")
# The intermediates of one step whose int8 range the export fixes, in the order the cell computes them:
# the six matrix-vector products (x side with the bias, h side with b_hn for n), the sums before the
# sigmoids, r * (W_hn h + b_hn), the sum before tanh, h - n, z * (h - n) and the new state n + z * (h - n).
STAGES = ("gx_r", "gx_z", "gx_n", "gh_r", "gh_z", "gh_n", "a_r", "a_z", "m", "a_n", "d", "e", "h")
MIN_SPAN = 2.0**-6  # narrowest range fixed (a tensor that is ~0 on all calibration data): keeps multipliers sane


def _import_gru(builder, path: str, module: nn.GRU) -> None:
    """nn.GRU -> one GRU layer per stacked layer (num_layers) and direction, fed the output of the
    layer before (both directions concatenated, as nn.GRU does)."""
    where = f"{path} (GRU)"
    over = getattr(builder, "rnn_over", "time")  # optional in the importer contract (LayerBuilder sets it)
    if module.bidirectional and over == "time":
        raise SoiError(f"{where}: bidirectional=True reads future frames; a streaming model needs a unidirectional "
                       "GRU over time (bidirectional=False); over the bins of a frame, (B*T, F, C), it may be bidirectional")
    for k in range(module.num_layers):
        src, directions = builder.source, ("", "_reverse") if module.bidirectional else ("",)
        base = path if module.num_layers == 1 else f"{path}_l{k}"
        for suffix in directions:
            name = builder.layer_name(base + ("" if not module.bidirectional else suffix or "_forward"))
            layer = GRU(name, src, hidden=module.hidden_size, over=over, reverse=bool(suffix))
            builder.append(layer, _loader(module, layer.name, f"l{k}{suffix}", where))
        if module.bidirectional:
            builder.append(Concat(builder.layer_name(base),
                                  tuple(lay.name for lay in builder.layers[-2:])))


def _loader(module: nn.GRU, name: str, suffix: str, where: str):
    def load(offline) -> None:
        target = offline.grus[name]
        w_ih = getattr(module, f"weight_ih_{suffix}").detach()
        if w_ih.shape != target.weight_ih_l0.shape:
            raise SoiError(f"{where}: input_size {w_ih.shape[1]} but its input has {target.weight_ih_l0.shape[1]} channels")
        target.weight_ih_l0.copy_(w_ih)
        target.weight_hh_l0.copy_(getattr(module, f"weight_hh_{suffix}").detach())
        for b in ("bias_ih", "bias_hh"):  # bias=False: zeros
            src = getattr(module, f"{b}_{suffix}", None)
            getattr(target, f"{b}_l0").copy_(src.detach() if src is not None else torch.zeros_like(getattr(target, f"{b}_l0")))

    return load


@dataclass(frozen=True)
class GRU(LayerOp):
    hidden: int = 16  # hidden state size: the output channels
    over: str = "time"  # or "freq": over the bins of each frame, from the zero state in every frame
    reverse: bool = False  # over "freq": the last bin first (a bidirectional GRU's backward half)

    kind: ClassVar[str] = "gru"
    torch_group: ClassVar[str] = "grus"
    buffer_rank: ClassVar[int] = 8
    torch_imports: ClassVar[dict] = {nn.GRU: _import_gru}

    def infer(self, period, channels, width, rf) -> Facts:
        if self.over not in ("time", "freq") or (self.reverse and self.over == "time"):
            raise SoiError(f"layer '{self.name}': a GRU runs over 'time' or 'freq' (reverse only over 'freq'); got "
                           f"over='{self.over}', reverse={self.reverse}")
        return recurrent_facts(self, self.hidden, period, width, rf)

    def macs(self, sched) -> int:
        """Three gates, each an input and a recurrent matrix-vector product, for every bin."""
        return sched.width[self.name] * 3 * self.hidden * (sched.channels[self.input] + self.hidden)

    # -- float ------------------------------------------------------------------------------
    def torch_module(self, sched) -> nn.Module:
        return nn.GRU(sched.channels[self.input], self.hidden, batch_first=True)

    def offline(self, model, acts):
        x = acts[self.input]
        if self.over == "freq":
            y, _ = model.grus[self.name](freq_sequences(x, self.reverse))
            return from_freq_sequences(y, x.shape[0], self.reverse)
        y, _ = model.grus[self.name](to_sequences(x))
        return from_sequences(y, x.shape[0], x.shape[3])

    def state_shape(self, sched) -> tuple[int, int, int] | None:
        return None if self.over == "freq" else (self.hidden, 1, sched.width[self.name])  # h of every bin

    def stream(self, stepper, phase: int) -> torch.Tensor:
        if self.over == "freq":  # the frame's bins as one sequence, from the zero state
            frame = stepper.frames[self.input]  # (channels, bins)
            y, _ = stepper.offline.grus[self.name](freq_sequences(frame[None, :, None, :], self.reverse))
            stepper.count_macs(self.macs(stepper.schedule))
            return from_freq_sequences(y, 1, self.reverse)[0, :, 0]
        h = stepper.states[self.name][:, 0].T[None].contiguous()  # (1, bins, hidden)
        y, h = stepper.offline.grus[self.name](frame_as_batch(stepper.frames[self.input]), h)
        stepper.states[self.name] = h[0].T[:, None]
        stepper.count_macs(self.macs(stepper.schedule))
        return y[:, 0].T.contiguous()  # (hidden, bins)

    # -- int8 -------------------------------------------------------------------------------
    def keras(self, keras, offline, acts):
        import tensorflow as tf

        weights = cell_weights(offline.grus[self.name])
        frames = acts.calibration(self.input)
        seqs = freq_sequences(frames, self.reverse) if self.over == "freq" else to_sequences(frames)
        ranges = cell_ranges(weights, seqs.numpy())

        def fq(x, stage: str):
            lo, hi = ranges[stage]
            return tf.quantization.fake_quant_with_min_max_vars(x, lo, hi, num_bits=8)

        def run(seq):
            xs = tf.unstack(seq, axis=1)
            xs = xs[::-1] if self.reverse else xs
            # The zero initial state computed from the input (x * 0 + 0), not a constant: from a constant
            # the converter folds the first step's recurrent products into constants, and that step's
            # int8 ops would differ from every other step's.
            h = fq(xs[0][:, :1] * 0.0 + tf.zeros((seq.shape[0], self.hidden)), "h")
            outs = []
            for x in xs:
                h = _cell_step(tf.matmul, tf.sigmoid, tf.tanh, fq, weights, x, h)
                outs.append(h)
            return tf.stack(outs[::-1] if self.reverse else outs, axis=1)

        if self.over == "freq":
            return keras_over_freq(keras, self.name, run, self.hidden)(acts[self.input])
        return keras_over_bins(keras, self.name, run, self.hidden)(acts[self.input])

    def match(self, m):
        return match_gru(self, m)

    def lower(self, ctx: LowerContext) -> Lowered:
        return lower_gru(self, ctx)


@dataclass(frozen=True)
class CellWeights:
    """nn.GRU's parameters as the cell uses them: wx[g] (input, hidden), wh[g] (hidden, hidden), the
    x-side biases (r and z carry both of PyTorch's biases; n only b_in) and b_hn."""

    wx: tuple[np.ndarray, ...]
    wh: tuple[np.ndarray, ...]
    bx: tuple[np.ndarray, ...]
    bhn: np.ndarray


def cell_weights(gru: nn.GRU) -> CellWeights:
    def split(t: torch.Tensor) -> list[np.ndarray]:
        return [a.astype(np.float32) for a in np.split(t.detach().numpy(), 3, axis=0)]

    wx, wh = split(gru.weight_ih_l0), split(gru.weight_hh_l0)
    bi, bh = split(gru.bias_ih_l0), split(gru.bias_hh_l0)
    return CellWeights(tuple(w.T.copy() for w in wx), tuple(w.T.copy() for w in wh),
                       (bi[0] + bh[0], bi[1] + bh[1], bi[2]), bh[2])


def _cell_step(matmul, sigmoid, tanh, fq, w: CellWeights, x, h):
    """One GRU step, written once for TensorFlow (the export, fq = fake quantization) and NumPy (the
    ranges, fq records the values): the op sequence gru_tflite.py matches."""
    gx = [fq(matmul(x, w.wx[g]) + w.bx[g], f"gx_{GATES[g]}") for g in range(3)]
    gh = [fq(matmul(h, w.wh[0]), "gh_r"), fq(matmul(h, w.wh[1]), "gh_z"), fq(matmul(h, w.wh[2]) + w.bhn, "gh_n")]
    r = sigmoid(fq(gx[0] + gh[0], "a_r"))
    z = sigmoid(fq(gx[1] + gh[1], "a_z"))
    n = tanh(fq(gx[2] + fq(r * gh[2], "m"), "a_n"))
    # (1 - z) * n + z * h as n + z * (h - n): three two-input ops, no constant 1
    return fq(n + fq(z * fq(h - n, "d"), "e"), "h")


def cell_ranges(w: CellWeights, seq: np.ndarray) -> dict[str, tuple[float, float]]:
    """The range each stage spans over the float steps of `seq` (sequences, time, input) from the zero
    state, widened to hold 0 (as TFLite's ranges do) and to at least MIN_SPAN."""
    lo = {s: 0.0 for s in STAGES}
    hi = {s: 0.0 for s in STAGES}

    def record(v: np.ndarray, stage: str) -> np.ndarray:
        lo[stage], hi[stage] = min(lo[stage], float(v.min())), max(hi[stage], float(v.max()))
        return v

    def sigmoid(v: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-v))

    seq = np.asarray(seq, np.float32)
    h = np.zeros((seq.shape[0], w.wh[0].shape[0]), np.float32)
    with np.errstate(over="ignore"):
        for t in range(seq.shape[1]):
            h = _cell_step(np.matmul, sigmoid, np.tanh, record, w, seq[:, t], h)
    return {s: (lo[s], max(hi[s], lo[s] + MIN_SPAN)) for s in STAGES}

