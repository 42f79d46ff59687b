"""The streaming form: one frame in, one frame out, with explicit partial states (STMC + SOI).

Each conv keeps the last `window` frames of its input (its partial state) and computes one output
frame when its phase comes: a layer with period p runs on steps where step % p == 0, so the layers
between a strided conv and its duplication run on every other step only (partially predictive).
A duplication keeps its input's last frame, which is what it outputs until the next one arrives.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from soi_mcu.errors import SoiError
from soi_mcu.model import Concat, Conv, Duplicate, OfflineModel, conv_macs


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
        f = self.spec.freq_bins
        self.step_index = 0
        self.states = {
            layer.name: torch.zeros(ch[layer.input], layer.window, f)
            for layer in self.spec.layers
            if isinstance(layer, Conv)
        }
        self.frames: dict[str, torch.Tensor] = {
            name: torch.zeros(c, f) for name, c in ch.items()
        }
        self.macs_done = 0

    @torch.no_grad()
    def step(self, frame: torch.Tensor) -> torch.Tensor:
        """frame: (freq, channels) -> (freq, out_channels) for this step."""
        expected = (self.spec.freq_bins, self.spec.in_channels)
        if tuple(frame.shape) != expected:
            raise SoiError(f"input frame has shape {tuple(frame.shape)}, expected {expected} (freq, channels)")
        t = self.step_index
        period = self.schedule.period
        self.frames["input"] = frame.T.float()
        for layer in self.spec.layers:
            if isinstance(layer, Conv):
                if t % period[layer.input] == 0:
                    self._push(layer)  # a new input frame arrived: it enters the partial state
                if t % period[layer.name] == 0:
                    self.frames[layer.name] = self._conv_frame(layer)
            elif t % period[layer.name]:
                continue  # not this layer's phase: its last output frame stays as it is
            elif isinstance(layer, Duplicate):
                self.frames[layer.name] = self.frames[layer.input]
            elif isinstance(layer, Concat):
                self.frames[layer.name] = torch.cat([self.frames[s] for s in layer.inputs], dim=0)
        self.step_index += 1
        return self.frames[self.schedule.output].T.clone()

    def _push(self, layer: Conv) -> None:
        # The state holds the last `window` input frames, oldest first.
        state = self.states[layer.name]
        self.states[layer.name] = torch.cat([state[:, 1:], self.frames[layer.input][:, None]], dim=1)

    def _conv_frame(self, layer: Conv) -> torch.Tensor:
        state = self.states[layer.name]
        conv = self.offline.convs[layer.name]
        x = state[:, :: layer.dilation][None]  # the kt taps the kernel reads
        x = torch.nn.functional.pad(x, (layer.kf // 2, layer.kf // 2))
        y = torch.nn.functional.conv2d(x, conv.weight, conv.bias)[0, :, 0]
        self.macs_done += conv_macs(layer, state.shape[0], self.spec.freq_bins)
        return torch.relu(y) if layer.act == "relu" else y

    def run(self, frames: torch.Tensor) -> torch.Tensor:
        """frames: (time, freq, channels) -> (time, freq, out_channels), from the current state."""
        return torch.stack([self.step(f) for f in frames])


@dataclass(frozen=True)
class EquivalenceResult:
    frames: int
    max_abs_diff: float

    @property
    def ok(self) -> bool:
        return self.max_abs_diff <= 1e-5


def check_equivalence(offline: OfflineModel, frames: torch.Tensor) -> EquivalenceResult:
    """Compare offline (whole sequence) and streaming (frame by frame) outputs."""
    with torch.no_grad():
        ref = offline(frames[None])[0]
    out = StreamingModel(offline).run(frames)
    diff = float((ref - out).abs().max())
    return EquivalenceResult(frames=int(frames.shape[0]), max_abs_diff=diff)


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()
