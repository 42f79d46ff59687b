"""The streaming form: one frame in, one frame out, with explicit partial states (STMC + SOI).

Each stateful layer keeps the last frames of its input (its partial state) and computes one output
frame when its phase comes: a layer with period p runs on steps where step % p == 0, so the layers
between a strided conv and its duplication run on every other step only (partially predictive).
A duplication keeps its input's last frame, which is what it outputs until the next one arrives.
A shift outputs a frame from an earlier step; what depends only on such frames is computed by
`precompute()` before the new frame arrives (fully predictive), and `step()` does the rest.
Each layer kind computes its own frame (soi_mcu/ops/); this module only sequences them.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass

import torch

from soi_mcu.errors import SoiError
from soi_mcu.model.offline import OfflineModel


class StreamingModel:
    """Frame-by-frame stepper over the offline model's weights; states are plain tensors."""

    def __init__(self, offline: OfflineModel) -> None:
        self.offline = offline
        self.spec = offline.spec
        self.schedule = offline.schedule
        self.reset()

    def reset(self) -> None:
        """Zero partial states, as the offline model's causal zero padding implies."""
        ch = self.schedule.channels
        w = self.schedule.width
        self.step_index = 0
        self.pending = False  # the last step's deferred work is still to do
        self.early_done = False  # this step's early work (past frames only) is done
        self.states: dict[str, torch.Tensor] = {}
        for layer in self.spec.layers:
            shape = layer.state_shape(self.schedule)
            if shape is not None:
                self.states[layer.name] = torch.zeros(*shape)
        self.frames: dict[str, torch.Tensor] = {name: torch.zeros(c, w[name]) for name, c in ch.items()}
        self.held: dict[str, torch.Tensor] = {}  # frames a layer computed ahead (a transposed conv's)
        self.macs_done = 0
        self.macs_by_step: dict[int, int] = {}  # instrumented: MACs done for each step's output
        self.macs_precomputed = 0

    def count_macs(self, macs: int) -> None:
        self.macs_done += macs
        self.macs_by_step[self.step_index] = self.macs_by_step.get(self.step_index, 0) + macs

    @torch.no_grad()
    def precompute(self) -> None:
        """Work between frames (FP SOI): finish the last step's work that only later outputs need,
        then do the next step's work that needs only past frames.

        Call it between frames to take that work off the next step's critical path; step() calls
        it itself when it was not called.
        """
        before = self.macs_done
        if self.pending:
            self._run("deferred")
            t = self.step_index
            for layer in self.spec.layers:  # shifts take in this step's frame once everyone has read them
                if layer.delays and t % self.schedule.period[layer.input] == 0:
                    layer.take_in(self)
            self.step_index += 1
            self.pending = False
            self.early_done = False
        if not self.early_done:
            self._run("early")
            self.early_done = True
        self.macs_precomputed += self.macs_done - before

    @torch.no_grad()
    def step(self, frame: torch.Tensor) -> torch.Tensor:
        """frame: (freq, channels) -> (freq, out_channels) for this step."""
        expected = (self.spec.freq_bins, self.spec.in_channels)
        if tuple(frame.shape) != expected:
            raise SoiError(f"input frame has shape {tuple(frame.shape)}, expected {expected} (freq, channels)")
        if not frame.is_floating_point():
            raise SoiError(f"input frame has dtype {frame.dtype}; the float model takes float frames (quantize for the firmware)")
        self.precompute()
        self.frames["input"] = frame.T.float()
        self._run("step")
        self.pending = True
        return self.frames[self.schedule.output].T.clone()

    def _run(self, group: str) -> None:
        """Do one group of this step's work (see Schedule.group)."""
        phase = self.step_index % self.schedule.phases
        sched = self.schedule
        for layer in self.spec.layers:
            if layer.pushes and sched.runs(layer.input, phase) and sched.push_group(layer, phase) == group:
                self._push(layer.name, layer.input)  # a new input frame arrived: it enters the partial state
            if sched.runs(layer.name, phase) and sched.group(layer.name, phase) == group:
                self.frames[layer.name] = layer.stream(self, phase)

    def _push(self, name: str, source: str) -> None:
        # The state holds the last `window` input frames, oldest first.
        state = self.states[name]
        self.states[name] = torch.cat([state[:, 1:], self.frames[source][:, None]], dim=1)

    def run(self, frames: torch.Tensor, precompute_between: bool = False,
            progress: Callable[[int, int], None] | None = None) -> torch.Tensor:
        """frames: (time, freq, channels) -> (time, freq, out_channels), from the current state;
        `progress(done, total)` is called after each frame."""
        outs = []
        for i, f in enumerate(frames):
            outs.append(self.step(f))
            if precompute_between:
                self.precompute()
            if progress is not None:
                progress(i + 1, len(frames))
        return torch.stack(outs)


STREAMING_RTOL = 1e-5  # streaming and offline sum the same products in other orders: float32 rounding


@dataclass(frozen=True)
class EquivalenceResult:
    frames: int
    max_abs_diff: float
    scale: float = 1.0  # the largest offline output magnitude: float rounding grows with it
    finite: bool = True  # the offline output has no NaN or inf

    @property
    def tolerance(self) -> float:
        return STREAMING_RTOL * max(1.0, self.scale)

    @property
    def ok(self) -> bool:
        return self.finite and self.max_abs_diff <= self.tolerance


@contextmanager
def torch_threads(n: int):
    """Run torch with n threads: one frame's tiny ops are far slower with a thread pool (the TCN's
    check took 1.08 s per frame with the default count, 0.06 s with one)."""
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def check_equivalence(offline: OfflineModel, frames: torch.Tensor, precompute_between: bool = False,
                      progress: Callable[[int, int], None] | None = None) -> EquivalenceResult:
    """Compare offline (whole sequence) and streaming (frame by frame) outputs, in inference mode."""
    training = offline.training
    offline.eval()  # batch norm: running statistics, as the stepper (and the firmware) use them
    try:
        with torch.no_grad(), torch_threads(1):
            ref = offline(frames[None])[0]
            out = StreamingModel(offline).run(frames, precompute_between, progress)
    finally:
        offline.train(training)
    finite = bool(torch.isfinite(ref).all())
    diff = float((ref - out).abs().max()) if finite else float("nan")
    scale = float(ref.abs().max()) if finite else float("inf")
    return EquivalenceResult(frames=int(frames.shape[0]), max_abs_diff=diff, scale=scale, finite=finite)
