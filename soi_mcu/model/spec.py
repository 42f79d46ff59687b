"""The model spec (a small layer graph over time x frequency x channels) and its schedule.

The spec is the single source of truth for structure: the offline PyTorch module, the streaming
stepper, the TFLite export and the code generator all read it, through the layer kinds' own
methods (soi_mcu/ops/). Frames handed in and out of a model are (freq, channels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from soi_mcu.errors import SoiError
from soi_mcu.ops import Concat, Conv, Duplicate, LayerOp

MAX_PHASES = 32


@dataclass(frozen=True)
class ModelSpec:
    name: str
    freq_bins: int
    in_channels: int
    layers: tuple[LayerOp, ...]
    output: str = ""  # name of the output layer; the last layer when empty
    frame_rate_hz: float = 125.0  # input frames per second (sample rate / hop), for CPU load
    # (layer name, what the user wrote: "model.enc.0 (Conv2d)") for an imported model, for messages
    origins: tuple[tuple[str, str], ...] = ()

    def shown(self, layer: str) -> str:
        """A layer as a message names it: the user's module where the layer came from one."""
        return dict(self.origins).get(layer, f"'{layer}'")


@dataclass(frozen=True)
class Schedule:
    """When each layer's output frames appear: every `period[name]` steps, at phase 0."""

    period: dict[str, int]
    channels: dict[str, int]
    width: dict[str, int]  # frequency bins of each layer's frames
    phases: int  # steps after which the whole pattern repeats
    output: str = ""
    receptive_field: int = 1  # input frames the newest output depends on, worst case
    # needed[name][p]: at phase p, the layer's work feeds that step's output. Work that runs but is
    # not needed is deferred to after the output: the next step's precompute (FP SOI).
    needed: dict[str, tuple[bool, ...]] = field(default_factory=dict)
    # fresh[name][p]: at phase p, the layer's work depends on the frame that arrives in that step.
    # Needed work that is not fresh can run before the frame arrives: also precompute.
    fresh: dict[str, tuple[bool, ...]] = field(default_factory=dict)

    def runs(self, name: str, phase: int) -> bool:
        return phase % self.period[name] == 0

    def group(self, name: str, phase: int) -> str:
        """When a layer's work of this phase happens: "early" (precompute, before the frame),
        "step" (after the frame, before the output), "deferred" (precompute, after the output)."""
        if not self.needed[name][phase]:
            return "deferred"
        return "step" if self.fresh[name][phase] else "early"

    def works(self, layer: LayerOp, phase: int) -> bool:
        """Whether the layer computes at this phase (a transposed conv: when its input frame arrives)."""
        return layer.works(self, phase)

    def push_group(self, layer: LayerOp, phase: int) -> str:
        """A stateful layer takes its input's new frame with its own work, or after the step when it does not run."""
        return self.group(layer.name, phase) if self.runs(layer.name, phase) else "deferred"


def layer_facts(spec: ModelSpec) -> tuple[dict[str, int], dict[str, int], dict[str, int], dict[str, int]]:
    """Each layer checked against its inputs, in order: (period, channels, width, receptive field) by name."""
    period = {"input": 1}
    channels = {"input": spec.in_channels}
    width = {"input": spec.freq_bins}
    rf = {"input": 1}
    by_name = {}
    for layer in spec.layers:
        if layer.name in period:
            raise SoiError(f"model '{spec.name}': layer name '{layer.name}' is used twice")
        layer.check_inputs()
        for src in layer.inputs:
            if src not in period:
                raise SoiError(f"layer '{layer.name}': input '{src}' is not defined before it")
        layer.check_neighbours(by_name)
        by_name[layer.name] = layer
        facts = layer.infer(period, channels, width, rf)
        period[layer.name], channels[layer.name] = facts.period, facts.channels
        width[layer.name], rf[layer.name] = facts.width, facts.receptive_field
    return period, channels, width, rf


def _rate_not_restored(spec: ModelSpec, out: str, period: dict[str, int]) -> str:
    """The output runs every n-th step: name the layers that lowered the rate on its way, and the fix."""
    by_name = {layer.name: layer for layer in spec.layers}
    lowered, seen, todo = [], set(), [out]
    while todo:
        name = todo.pop()
        if name in seen or name not in by_name:
            continue
        seen.add(name)
        inputs = by_name[name].inputs
        if period[name] > max(period[i] for i in inputs):
            lowered.append(name)
        todo.extend(inputs)
    order = [layer.name for layer in spec.layers if layer.name in lowered]
    strided = ", ".join(spec.shown(name) for name in order) or "a strided layer"
    return (f"model '{spec.name}': its output {spec.shown(out)} has one frame every {period[out]} steps: {strided} "
            f"{'strides' if len(order) == 1 else 'stride'} time and nothing after restores the frame rate; repeat "
            f"the frames after the strided part "
            f"(RepeatFrames({period[out]}) of soi_mcu.model.torch_modules in a PyTorch model, a Duplicate layer in a "
            f"spec) or upsample with a ConvTranspose2d of kernel = stride ({period[out]}, 1)")


def analyze(spec: ModelSpec) -> Schedule:
    """Check the graph and derive each layer's period (1 = every step, 2 = every other step...)."""
    if spec.freq_bins < 1 or spec.in_channels < 1:
        raise SoiError(f"model '{spec.name}': freq_bins and in_channels must be >= 1")
    if not spec.layers:
        raise SoiError(f"model '{spec.name}': it has no layers")
    period, channels, width, rf = layer_facts(spec)
    out = spec.output or spec.layers[-1].name
    if out not in period:
        raise SoiError(f"model '{spec.name}': output '{out}' is not a layer")
    if period[out] != 1:
        raise SoiError(_rate_not_restored(spec, out, period))
    phases = math.lcm(*period.values())
    if phases > MAX_PHASES:
        raise SoiError(f"model '{spec.name}': the step pattern repeats every {phases} steps; at most "
                       f"{MAX_PHASES} are supported")
    return Schedule(period=period, channels=channels, width=width, phases=phases, output=out, receptive_field=rf[out],
                    needed=_needed(spec, period, phases, out), fresh=_fresh(spec, period, phases))


def _fresh(spec: ModelSpec, period: dict[str, int], phases: int) -> dict[str, tuple[bool, ...]]:
    fresh = {"input": (True,) * phases}
    for layer in spec.layers:
        runs = [p % period[layer.name] == 0 for p in range(phases)]
        if layer.delays:
            fresh[layer.name] = (False,) * phases  # it hands on a frame from an earlier step
        else:  # fresh when it runs on a frame that one of its inputs made in this very step
            fresh[layer.name] = tuple(r and any(fresh[s][p] for s in layer.inputs) for p, r in enumerate(runs))
    return fresh


def _needed(spec: ModelSpec, period: dict[str, int], phases: int, output: str) -> dict[str, tuple[bool, ...]]:
    """Which layers' work at each phase the output of that same step consumes.

    Work that runs at a phase but is not needed then (it feeds a shift, directly or not) can be
    deferred until after the output is out: it becomes the next step's precompute (FP SOI).
    """
    runs = {name: [p % period[name] == 0 for p in range(phases)] for name in period}
    needed = {name: [False] * phases for name in period}
    needed[output] = list(runs[output])
    for layer in reversed(spec.layers):
        if layer.delays:
            continue  # a shift hands on an earlier frame: what feeds it is never needed now
        for src in layer.inputs:
            for p in range(phases):
                needed[src][p] |= needed[layer.name][p] and runs[src][p]
    return {name: tuple(v) for name, v in needed.items()}


def macs_by_phase(spec: ModelSpec) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Analytic MACs of each step phase, and the part of them that precompute() does (FP)."""
    sched = analyze(spec)
    total = [0] * sched.phases
    deferred = [0] * sched.phases
    for layer in spec.layers:
        macs = layer.macs(sched)
        for p in range(sched.phases):
            if macs and sched.works(layer, p):
                total[p] += macs
                if sched.group(layer.name, p) != "step":
                    deferred[p] += macs
    return tuple(total), tuple(deferred)


def demo_spec() -> ModelSpec:
    """The demo: 6 convs, one S-CC pair (PP) with a skip from the strided conv's input."""
    return ModelSpec(
        name="demo_scc",
        freq_bins=16,
        frame_rate_hz=16000 / 256,  # 16 kHz audio, hop of 256 samples
        in_channels=1,
        layers=(
            Conv("enc0", "input", cout=8),
            Conv("enc1_s", "enc0", cout=16, stride=2),  # S-CC: compress to half rate
            Conv("enc2", "enc1_s", cout=16),
            Conv("dec2", "enc2", cout=16, dilation=2),
            Duplicate("dup", "dec2", factor=2),  # S-CC: restore the rate
            Concat("skip", ("dup", "enc0")),
            Conv("dec1", "skip", cout=8),
            Conv("head", "dec1", cout=1, kt=1, kf=1, act="none"),
        ),
    )
