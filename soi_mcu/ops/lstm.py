"""LSTM: a unidirectional LSTM over time, run for every frequency bin with shared weights; its hidden
and cell states are its partial state, carried from frame to frame (streaming == offline exactly:
the offline form is the same recurrence over the whole sequence).

In int8 it is TFLite's full-integer UNIDIRECTIONAL_SEQUENCE_LSTM (int8 activations and weights,
int16 cell state, gates in Q3.12): the Keras export calls a function marked as a Keras LSTM
("api_implements": "lstm_..."), which the converter fuses into that op (Keras 3's own LSTM layer
converts into a WHILE loop, and that loop does not quantize). The firmware runs one time step per
frame with soi_lstm_step_s8 (firmware/kernels/soi/), bit-exact with LiteRT's kernel."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.ops.base import BufRef, Facts, LayerOp, LowerContext, Lowered
from soi_mcu.ops.recurrent import frame_as_batch, from_sequences, keras_over_bins, match_over_bins, recurrent_facts, to_sequences
from soi_mcu.ops.requant import quantize_multiplier

GATE_Q = np.float32(2.0**-12)  # TFLite's integer LSTM: gates are Q3.12 before their activations
TANH = 4  # ActivationFunctionType.TANH


@dataclass(frozen=True)
class LstmNode:
    kind: ClassVar[str] = "lstm"
    declare_rank: ClassVar[int] = 0
    headers: ClassVar[tuple[str, ...]] = ("soi_lstm.h",)
    has_reset: ClassVar[bool] = True  # reset() sets the hidden state to its zero point, the cell state to 0
    name: str
    source: BufRef
    target: BufRef  # the hidden state: it is the output frame, and persists to the next step
    batches: int  # frequency bins
    input_size: int
    hidden_size: int
    input_weights: np.ndarray  # int8 (4, hidden, input): gates i, f, g, o
    input_bias: np.ndarray  # int32 (4, hidden): bias + input zero point x row sums
    recurrent_weights: np.ndarray  # int8 (4, hidden, hidden)
    recurrent_bias: np.ndarray  # int32 (4, hidden): hidden zero point x row sums
    input_multipliers: tuple[int, ...]
    input_shifts: tuple[int, ...]
    recurrent_multipliers: tuple[int, ...]
    recurrent_shifts: tuple[int, ...]
    hidden_multiplier: int
    hidden_shift: int
    hidden_offset: int  # zero point of the hidden state
    state_zero_point: int  # what reset() fills the hidden state with
    cell_scale_log2: int
    cell_clip: int
    run_period: int
    macs: int

    @property
    def state_size(self) -> int:
        return self.batches * self.hidden_size

    @property
    def state_bytes(self) -> int:
        return 3 * self.state_size  # int8 hidden, int16 cell

    @property
    def constant_bytes(self) -> int:
        return int(self.input_weights.size + self.recurrent_weights.size + 4 * (self.input_bias.size
                                                                                + self.recurrent_bias.size))

    @property
    def scratch_bytes(self) -> int:
        return 8 * self.hidden_size  # four int16 gate vectors

    @property
    def kernels(self) -> tuple[str, ...]:
        return ("soi_lstm_step_s8",)

    def reads(self, what: str) -> tuple[BufRef, ...]:
        return (self.source,)

    def writes(self, what: str) -> tuple[BufRef, ...]:
        return (self.target,)


def _import_lstm(builder, path: str, module: nn.LSTM) -> None:
    """nn.LSTM -> one LSTM layer per stacked layer (num_layers), fed the output of the one before."""
    where = f"{path} (LSTM)"
    if getattr(builder, "rnn_over", "time") != "time":  # optional in the importer contract
        raise SoiError(f"{where}: an LSTM over the bins of each frame ((B*T, F, C) sequences) is not supported; use an "
                       "nn.GRU there, or run the LSTM over time ((B*F, T, C))")
    if module.bidirectional:
        raise SoiError(f"{where}: bidirectional=True reads future frames; a streaming model needs a unidirectional LSTM")
    if module.proj_size:
        raise SoiError(f"{where}: proj_size={module.proj_size} is not supported (TFLite's converted LSTM has no projection)")
    for k in range(module.num_layers):
        name = builder.layer_name(path if module.num_layers == 1 else f"{path}_l{k}")
        layer = LSTM(name, builder.source, hidden=module.hidden_size)

        def load(offline, layer=layer, k=k) -> None:
            target = offline.lstms[layer.name]
            w_ih = getattr(module, f"weight_ih_l{k}").detach()
            if w_ih.shape != target.weight_ih_l0.shape:
                raise SoiError(f"{where}: input_size {w_ih.shape[1]} but its input has {target.weight_ih_l0.shape[1]} channels")
            target.weight_ih_l0.copy_(w_ih)
            target.weight_hh_l0.copy_(getattr(module, f"weight_hh_l{k}").detach())
            for b in ("bias_ih", "bias_hh"):
                src = getattr(module, f"{b}_l{k}", None)
                getattr(target, f"{b}_l0").copy_(src.detach() if src is not None else torch.zeros_like(getattr(target, f"{b}_l0")))

        builder.append(layer, load)


@dataclass(frozen=True)
class LSTM(LayerOp):
    hidden: int = 16  # hidden (and cell) state size: the output channels

    kind: ClassVar[str] = "lstm"
    torch_group: ClassVar[str] = "lstms"
    buffer_rank: ClassVar[int] = 8
    torch_imports: ClassVar[dict] = {nn.LSTM: _import_lstm}

    def infer(self, period, channels, width, rf) -> Facts:
        return recurrent_facts(self, self.hidden, period, width, rf)

    def macs(self, sched) -> int:
        """Four gates, each an input and a recurrent matrix-vector product, for every bin."""
        return sched.width[self.name] * 4 * self.hidden * (sched.channels[self.input] + self.hidden)

    # -- float ------------------------------------------------------------------------------
    def torch_module(self, sched) -> nn.Module:
        return nn.LSTM(sched.channels[self.input], self.hidden, batch_first=True)

    def offline(self, model, acts):
        x = acts[self.input]
        y, _ = model.lstms[self.name](to_sequences(x))
        return from_sequences(y, x.shape[0], x.shape[3])

    def state_shape(self, sched) -> tuple[int, int, int]:
        return self.hidden, 2, sched.width[self.name]  # frame 0: hidden state h, frame 1: cell state c

    def stream(self, stepper, phase: int) -> torch.Tensor:
        state = stepper.states[self.name]
        h, c = state[:, 0].T[None].contiguous(), state[:, 1].T[None].contiguous()  # (1, bins, hidden)
        y, (h, c) = stepper.offline.lstms[self.name](frame_as_batch(stepper.frames[self.input]), (h, c))
        stepper.states[self.name] = torch.stack([h[0].T, c[0].T], dim=1)
        stepper.count_macs(self.macs(stepper.schedule))
        return y[:, 0].T.contiguous()  # (hidden, bins)

    # -- int8 -------------------------------------------------------------------------------
    def keras(self, keras, offline, acts):
        import tensorflow as tf

        lstm = offline.lstms[self.name]
        kernel = lstm.weight_ih_l0.detach().numpy().T  # (in, 4h), gates i, f, g, o in both PyTorch and Keras
        recurrent = lstm.weight_hh_l0.detach().numpy().T
        bias = (lstm.bias_ih_l0 + lstm.bias_hh_l0).detach().numpy()
        # The converter fuses a function with these attributes (Keras 2's LSTM sets them) into one
        # UNIDIRECTIONAL_SEQUENCE_LSTM and drops its body; the body is the same recurrence, for tracing.
        fused = tf.function(_lstm_sequence, autograph=False, experimental_attributes={
            "api_implements": f"lstm_soi_{self.name}", "api_preferred_device": "CPU",
            "time_major": False, "go_backwards": False})

        def run(seq):
            zeros = tf.zeros((seq.shape[0], self.hidden))
            return fused(seq, zeros, zeros, tf.constant(kernel), tf.constant(recurrent), tf.constant(bias))[1]

        return keras_over_bins(keras, self.name, run, self.hidden)(acts[self.input])

    def match(self, m):
        op = match_over_bins(m, self, "UNIDIRECTIONAL_SEQUENCE_LSTM", m.graph.tensors[m.acts[self.input]].shape[2])
        ins = op.inputs
        if len(ins) < 20 or ins[1] < 0 or any(i >= 0 for i in (*ins[9:12], *ins[16:18], *ins[20:])):
            raise SoiError(f"layer '{self.name}': the .tflite LSTM has CIFG, peephole, projection or layer norm weights")
        if op.options.get("fusedActivationFunction") != TANH or op.options.get("timeMajor"):
            raise SoiError(f"layer '{self.name}': the .tflite LSTM is not a batch-major LSTM with tanh")
        t = m.graph.tensors
        return {"op": op, "input": t[ins[0]], "wx": [t[i] for i in ins[1:5]], "wh": [t[i] for i in ins[5:9]],
                "bias": [t[i] for i in ins[12:16]], "h": t[ins[18]], "c": t[ins[19]],
                "hidden": t[op.intermediates[4]] if len(op.intermediates) == 5 else None,
                "output": t[m.acts[self.name]]}

    def lower(self, ctx: LowerContext) -> Lowered:
        m, sched = ctx.matched[self.name], ctx.sched
        cin, n = sched.channels[self.input], self.hidden
        if m["hidden"] is None or any(w.data is None or w.dtype != np.int8 for w in m["wx"] + m["wh"]) \
                or m["c"].dtype != np.int16:
            raise SoiError(f"layer '{self.name}': the .tflite LSTM is not the int8 LSTM with an int16 cell state")
        wx = np.stack([np.asarray(w.data, np.int8).reshape(n, cin) for w in m["wx"]])
        wh = np.stack([np.asarray(w.data, np.int8).reshape(n, n) for w in m["wh"]])
        bias = np.stack([np.asarray(b.data, np.int32).reshape(n) for b in m["bias"]])
        in_zp, h_zp = int(m["input"].zero_point[0]), int(m["h"].zero_point[0])
        # TFLite's precomputed effective biases: the zero points' share of each product
        bias_x = (bias.astype(np.int64) - in_zp * wx.astype(np.int64).sum(axis=2)).astype(np.int32)
        bias_h = (-h_zp * wh.astype(np.int64).sum(axis=2)).astype(np.int32)
        # Effective scales in float32, as TFLite's Prepare computes them, then QuantizeMultiplier.
        in_scale, h_scale = np.float32(m["input"].scale[0]), np.float32(m["h"].scale[0])
        qx = [quantize_multiplier(float(np.float32(w.scale[0]) * in_scale / GATE_Q)) for w in m["wx"]]
        qh = [quantize_multiplier(float(np.float32(w.scale[0]) * h_scale / GATE_Q)) for w in m["wh"]]
        hidden_scale = np.float32(2.0**-15 / float(np.float32(m["hidden"].scale[0])) * 2.0**-15)
        qo = quantize_multiplier(float(hidden_scale))
        cell_scale = np.float32(m["c"].scale[0])
        log2 = float(np.log(cell_scale) * (np.float32(1) / np.log(np.float32(2))))
        # Below 2^-15 (a cell state that stays small) LiteRT's kernel skips tanh(c) (see soi_lstm_s8.c);
        # the firmware does the same, to stay bit-exact.
        if abs(log2 - round(log2)) >= 1e-3 or not -30 <= round(log2) <= -9:
            raise SoiError(f"layer '{self.name}': cell state scale {cell_scale} is not a power of two in 2^-30..2^-9")
        clip = float(m["op"].options.get("cellClip", 0.0))
        cell_clip = int(np.clip(np.float32(clip) / cell_scale, -32768, 32767)) if clip > 0 else 0
        node = LstmNode(
            name=self.name, source=ctx.buf[self.input], target=BufRef(f"{self.name}_hidden"),
            batches=sched.width[self.name], input_size=cin, hidden_size=n, input_weights=wx, input_bias=bias_x,
            recurrent_weights=wh, recurrent_bias=bias_h,
            input_multipliers=tuple(q for q, _ in qx), input_shifts=tuple(s for _, s in qx),
            recurrent_multipliers=tuple(q for q, _ in qh), recurrent_shifts=tuple(s for _, s in qh),
            hidden_multiplier=qo[0], hidden_shift=qo[1], hidden_offset=int(m["hidden"].zero_point[0]),
            state_zero_point=h_zp, cell_scale_log2=round(log2), cell_clip=cell_clip,
            run_period=sched.period[self.name], macs=self.macs(sched),
        )
        return Lowered((node,), node.target, m["output"])


def _lstm_sequence(inputs, init_h, init_c, kernel, recurrent_kernel, bias):
    """Keras 2's standard_lstm signature and outputs (last output, outputs, h, c, runtime): what the
    converter's LSTM fusion expects of the function it replaces."""
    import tensorflow as tf

    def step(carry, x):
        h, c = carry
        i, f, g, o = tf.split(tf.matmul(x, kernel) + tf.matmul(h, recurrent_kernel) + bias, 4, axis=1)
        c = tf.sigmoid(f) * c + tf.sigmoid(i) * tf.tanh(g)
        return tf.sigmoid(o) * tf.tanh(c), c

    hs, cs = tf.scan(step, tf.transpose(inputs, (1, 0, 2)), initializer=(init_h, init_c))
    outputs = tf.transpose(hs, (1, 0, 2))
    return outputs[:, -1], outputs, hs[-1], cs[-1], tf.constant(0.0)
