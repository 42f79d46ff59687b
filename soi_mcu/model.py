"""Model description (a small layer graph over time x frequency x channels) and its offline form.

The spec is the single source of truth for structure: the offline PyTorch module, the streaming
stepper, the TFLite export and the code generator all read it. Layout inside PyTorch is
(batch, channels, time, freq); frames handed in and out of a model are (freq, channels).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import torch
from torch import nn

from soi_mcu.errors import SoiError

ACTIVATIONS = ("relu", "relu6", "elu", "none")


@dataclass(frozen=True)
class Conv:
    """Causal in time (left padding (kt-1)*dilation), 'same' in frequency (kf odd)."""

    name: str
    input: str
    cout: int
    kt: int = 3
    kf: int = 3
    dilation: int = 1
    stride: int = 1  # stride in time: >1 makes this the compressing half of an S-CC pair
    act: str = "relu"
    fstride: int = 1  # stride in frequency (encoders of a U-Net)
    depthwise: bool = False  # one filter per input channel (cout = cin x channel multiplier)
    norm: bool = False  # batch norm between conv and activation (folded into the conv for streaming and int8)

    def out_width(self, width: int) -> int:
        return (width + 2 * (self.kf // 2) - self.kf) // self.fstride + 1

    @property
    def window(self) -> int:
        """Input frames one output frame depends on (the partial state keeps window-1 of them)."""
        return (self.kt - 1) * self.dilation + 1


@dataclass(frozen=True)
class TConvFreq:
    """tSTMC: causal in time like Conv (kernel kt, dilation; its partial state keeps the last
    window-1 input frames), transposed in frequency with stride `fstride`: the output has
    fstride x the input's bins (a U-Net decoder's upsampling, learned).

    Offline it is PyTorch's ConvTranspose2d(kernel (kt, kf), stride (1, fstride), dilation
    (dilation, 1), padding (0, p), output_padding (0, op)) with p = max(0, ceil((kf - fstride) / 2))
    and op = fstride + 2p - kf (kf 3, stride 2: padding 1, output_padding 1, the usual doubling),
    cut to the input's frames in time, which makes it causal: y[t] = sum_k w[:, :, k] * x[t - k*dilation].
    """

    name: str
    input: str
    cout: int
    kt: int = 3
    kf: int = 3
    dilation: int = 1
    fstride: int = 2
    act: str = "relu"
    norm: bool = False  # batch norm after the transposed conv (folded for streaming and int8)

    @property
    def pad(self) -> int:
        """PyTorch's `padding` in frequency: bins cut from the start of the full transposed output."""
        return max(0, -(-(self.kf - self.fstride) // 2))

    @property
    def output_padding(self) -> int:
        return self.fstride + 2 * self.pad - self.kf

    def out_width(self, width: int) -> int:
        return self.fstride * width

    @property
    def window(self) -> int:
        return (self.kt - 1) * self.dilation + 1


@dataclass(frozen=True)
class Duplicate:
    """Extrapolation of an S-CC pair: repeat each frame `factor` times, restoring the frame rate."""

    name: str
    input: str
    factor: int = 2


@dataclass(frozen=True)
class TConv:
    """Extrapolation of an S-CC pair by a transposed conv in time: each input frame becomes `factor`
    output frames (kernel = stride = factor in time, pointwise in frequency), restoring the rate."""

    name: str
    input: str
    cout: int
    factor: int = 2


@dataclass(frozen=True)
class Add:
    """Skip connection by addition (inputs of equal shape)."""

    name: str
    inputs: tuple[str, ...]


@dataclass(frozen=True)
class FreqPool:
    """Average over all frequency bins (a classifier's global pooling, frame by frame)."""

    name: str
    input: str


@dataclass(frozen=True)
class Upsample:
    """Nearest-neighbour upsampling in frequency by `factor` (decoders of a U-Net)."""

    name: str
    input: str
    factor: int = 2


@dataclass(frozen=True)
class Shift:
    """SC: delay by `frames` frames at the input's rate, so that what follows sees only the past
    and can be precomputed between frames (fully predictive)."""

    name: str
    input: str
    frames: int = 1


@dataclass(frozen=True)
class Concat:
    """Skip connection by concatenation along channels."""

    name: str
    inputs: tuple[str, ...]


Layer = Conv | TConvFreq | Duplicate | TConv | Upsample | FreqPool | Shift | Concat | Add


@dataclass(frozen=True)
class ModelSpec:
    name: str
    freq_bins: int
    in_channels: int
    layers: tuple[Layer, ...]
    output: str = ""  # name of the output layer; the last layer when empty
    frame_rate_hz: float = 125.0  # input frames per second (sample rate / hop), for CPU load


def layer_inputs(layer: Layer) -> tuple[str, ...]:
    return layer.inputs if isinstance(layer, Concat | Add) else (layer.input,)


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

    def works(self, layer: Layer, phase: int) -> bool:
        """A transposed conv computes all its frames when its input frame arrives; others when they run."""
        if isinstance(layer, TConv):
            return self.runs(layer.input, phase)
        return self.runs(layer.name, phase)

    def push_group(self, conv: Conv, phase: int) -> str:
        """A conv takes its input's new frame with its own work, or after the step when it does not run."""
        return self.group(conv.name, phase) if self.runs(conv.name, phase) else "deferred"


def analyze(spec: ModelSpec) -> Schedule:
    """Check the graph and derive each layer's period (1 = every step, 2 = every other step...)."""
    if spec.freq_bins < 1 or spec.in_channels < 1:
        raise SoiError(f"model '{spec.name}': freq_bins and in_channels must be >= 1")
    period = {"input": 1}
    channels = {"input": spec.in_channels}
    width = {"input": spec.freq_bins}
    rf = {"input": 1}
    for layer in spec.layers:
        if layer.name in period:
            raise SoiError(f"model '{spec.name}': layer name '{layer.name}' is used twice")
        for src in layer_inputs(layer):
            if src not in period:
                raise SoiError(f"layer '{layer.name}': input '{src}' is not defined before it")
        if isinstance(layer, Conv):
            _check_conv(layer)
            period[layer.name] = period[layer.input] * layer.stride
            channels[layer.name] = layer.cout
            width[layer.name] = layer.out_width(width[layer.input])
            if width[layer.name] < 1:
                raise SoiError(f"layer '{layer.name}': frequency stride {layer.fstride} leaves no bins")
            rf[layer.name] = rf[layer.input] + (layer.window - 1) * period[layer.input]
            if layer.depthwise and layer.cout % channels[layer.input]:
                raise SoiError(f"layer '{layer.name}': a depthwise conv needs cout ({layer.cout}) to be a multiple "
                               f"of its input channels ({channels[layer.input]})")
        elif isinstance(layer, TConvFreq):
            _check_tconv_freq(layer)
            period[layer.name] = period[layer.input]
            channels[layer.name] = layer.cout
            width[layer.name] = layer.out_width(width[layer.input])
            rf[layer.name] = rf[layer.input] + (layer.window - 1) * period[layer.input]
        elif isinstance(layer, Duplicate | TConv):
            p = period[layer.input]
            if layer.factor < 1 or p % layer.factor:
                raise SoiError(
                    f"layer '{layer.name}': extrapolation by {layer.factor} needs an input period "
                    f"divisible by it (input runs every {p} steps); put a stride-{layer.factor} conv before it"
                )
            period[layer.name] = p // layer.factor
            channels[layer.name] = layer.cout if isinstance(layer, TConv) else channels[layer.input]
            width[layer.name] = width[layer.input]
            rf[layer.name] = rf[layer.input] + p - 1
        elif isinstance(layer, Shift):
            if layer.frames < 1:
                raise SoiError(f"layer '{layer.name}': a shift must delay by at least 1 frame")
            period[layer.name] = period[layer.input]
            channels[layer.name] = channels[layer.input]
            width[layer.name] = width[layer.input]
            rf[layer.name] = rf[layer.input] + layer.frames * period[layer.input]
        elif isinstance(layer, FreqPool):
            period[layer.name] = period[layer.input]
            channels[layer.name] = channels[layer.input]
            width[layer.name] = 1
            rf[layer.name] = rf[layer.input]
        elif isinstance(layer, Upsample):
            if layer.factor < 1:
                raise SoiError(f"layer '{layer.name}': upsampling factor must be >= 1")
            period[layer.name] = period[layer.input]
            channels[layer.name] = channels[layer.input]
            width[layer.name] = width[layer.input] * layer.factor
            rf[layer.name] = rf[layer.input]
        else:
            if len(layer.inputs) < 2:
                raise SoiError(f"layer '{layer.name}': a skip connection (concat or add) needs at least two inputs")
            periods = {period[s] for s in layer.inputs}
            if len(periods) != 1:
                raise SoiError(f"layer '{layer.name}': concatenated inputs run at different rates {sorted(periods)}")
            widths = {width[s] for s in layer.inputs}
            if len(widths) != 1:
                raise SoiError(f"layer '{layer.name}': concatenated inputs have different frequency bins {sorted(widths)}")
            period[layer.name] = periods.pop()
            width[layer.name] = widths.pop()
            if isinstance(layer, Add) and len({channels[s] for s in layer.inputs}) != 1:
                raise SoiError(f"layer '{layer.name}': added inputs have different channels {[channels[s] for s in layer.inputs]}")
            channels[layer.name] = (channels[layer.inputs[0]] if isinstance(layer, Add)
                                    else sum(channels[s] for s in layer.inputs))
            rf[layer.name] = max(rf[s] for s in layer.inputs)
    out = spec.output or spec.layers[-1].name
    if out not in period:
        raise SoiError(f"model '{spec.name}': output '{out}' is not a layer")
    if period[out] != 1:
        raise SoiError(f"model '{spec.name}': output '{out}' must run every step (restore the rate with a Duplicate)")
    phases = math.lcm(*period.values())
    if phases > 32:
        raise SoiError(f"model '{spec.name}': the step pattern repeats every {phases} steps; at most 32 are supported")
    return Schedule(period=period, channels=channels, width=width, phases=phases, output=out, receptive_field=rf[out],
                    needed=_needed(spec, period, phases, out), fresh=_fresh(spec, period, phases))


def _fresh(spec: ModelSpec, period: dict[str, int], phases: int) -> dict[str, tuple[bool, ...]]:
    fresh = {"input": (True,) * phases}
    for layer in spec.layers:
        runs = [p % period[layer.name] == 0 for p in range(phases)]
        if isinstance(layer, Shift):
            fresh[layer.name] = (False,) * phases  # it hands on a frame from an earlier step
        else:  # fresh when it runs on a frame that one of its inputs made in this very step
            fresh[layer.name] = tuple(r and any(fresh[s][p] for s in layer_inputs(layer)) for p, r in enumerate(runs))
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
        if isinstance(layer, Shift):
            continue  # a shift hands on an earlier frame: what feeds it is never needed now
        for src in layer_inputs(layer):
            for p in range(phases):
                needed[src][p] |= needed[layer.name][p] and runs[src][p]
    return {name: tuple(v) for name, v in needed.items()}


def _check_conv(layer: Conv) -> None:
    if layer.kt < 1 or layer.kf < 1 or layer.kf % 2 == 0:
        raise SoiError(f"layer '{layer.name}': kernel ({layer.kt}, {layer.kf}) must have kt >= 1 and odd kf >= 1")
    if layer.dilation < 1 or layer.stride < 1 or layer.fstride < 1:
        raise SoiError(f"layer '{layer.name}': dilation and strides must be >= 1")
    if layer.stride > 1 and layer.dilation > 1:
        raise SoiError(f"layer '{layer.name}': a time-strided conv cannot also be dilated")
    if layer.act not in ACTIVATIONS:
        raise SoiError(f"layer '{layer.name}': activation '{layer.act}' is not one of {ACTIVATIONS}")
    if layer.cout < 1:
        raise SoiError(f"layer '{layer.name}': cout must be >= 1")


def _check_tconv_freq(layer: TConvFreq) -> None:
    if layer.kt < 1 or layer.kf < 1 or layer.dilation < 1 or layer.fstride < 1:
        raise SoiError(f"layer '{layer.name}': kernel ({layer.kt}, {layer.kf}), dilation and frequency stride must be >= 1")
    if layer.output_padding >= max(layer.fstride, 1) and layer.output_padding:
        raise SoiError(f"layer '{layer.name}': an even kf ({layer.kf}) needs a frequency stride >= 2")
    if layer.act not in ACTIVATIONS:
        raise SoiError(f"layer '{layer.name}': activation '{layer.act}' is not one of {ACTIVATIONS}")
    if layer.cout < 1:
        raise SoiError(f"layer '{layer.name}': cout must be >= 1")


def fully_connected(layer: Conv, in_width: int) -> bool:
    """A 1x1 conv over frames of one bin (a classifier head after FreqPool) is a fully connected
    layer: the firmware runs it with arm_fully_connected_s8. (The .tflite keeps it a CONV_2D: LiteRT's
    reference FULLY_CONNECTED requantizes with single rounding, CMSIS-NN's FC with TFLite's double
    rounding, as CONV_2D does.)"""
    return (layer.kt == 1 and layer.kf == 1 and in_width == 1 and layer.stride == 1 and layer.fstride == 1
            and not layer.depthwise)


def layer_macs(layer: Conv | TConvFreq | TConv, sched: Schedule) -> int:
    """MACs of one run: a conv's output frame, or all `factor` frames of a transposed conv."""
    if isinstance(layer, TConv):
        return layer.factor * sched.width[layer.name] * layer.cout * sched.channels[layer.input]
    if isinstance(layer, TConvFreq):
        return tconv_freq_macs(layer, sched.channels[layer.input], sched.width[layer.input])
    return conv_macs(layer, sched.channels[layer.input], sched.width[layer.name])


def conv_macs(layer: Conv, cin: int, out_width: int) -> int:
    """Multiply-accumulates of one output frame (nominal kernel, as the paper counts)."""
    return out_width * layer.cout * layer.kt * layer.kf * (1 if layer.depthwise else cin)


def tconv_freq_macs(layer: TConvFreq, cin: int, in_width: int) -> int:
    """Multiply-accumulates of one tSTMC output frame, counted as the paper does: every input bin
    meets the whole kernel (cin x cout x kt x kf per input bin)."""
    return in_width * cin * layer.cout * layer.kt * layer.kf


def activate(y: torch.Tensor, act: str) -> torch.Tensor:
    if act == "relu":
        return torch.relu(y)
    if act == "relu6":
        return torch.clamp(y, 0.0, 6.0)
    if act == "elu":
        return nn.functional.elu(y)
    return y


class OfflineModel(nn.Module):
    """The whole-sequence form: used for training and as the float oracle of the stepper."""

    def __init__(self, spec: ModelSpec, seed: int = 0) -> None:
        super().__init__()
        self.spec = spec
        self.schedule = analyze(spec)
        torch.manual_seed(seed)
        self.convs = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        for layer in spec.layers:
            if isinstance(layer, Conv):
                cin = self.schedule.channels[layer.input]
                self.convs[layer.name] = nn.Conv2d(
                    cin, layer.cout, (layer.kt, layer.kf), stride=(layer.stride, layer.fstride),
                    dilation=(layer.dilation, 1), groups=cin if layer.depthwise else 1
                )
                if layer.norm:
                    self.norms[layer.name] = nn.BatchNorm2d(layer.cout)
            elif isinstance(layer, TConvFreq):
                cin = self.schedule.channels[layer.input]
                self.convs[layer.name] = nn.ConvTranspose2d(
                    cin, layer.cout, (layer.kt, layer.kf), stride=(1, layer.fstride), dilation=(layer.dilation, 1),
                    padding=(0, layer.pad), output_padding=(0, layer.output_padding)
                )
                if layer.norm:
                    self.norms[layer.name] = nn.BatchNorm2d(layer.cout)
            elif isinstance(layer, TConv):
                cin = self.schedule.channels[layer.input]
                self.convs[layer.name] = nn.ConvTranspose2d(cin, layer.cout, (layer.factor, 1), stride=(layer.factor, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, time, freq, channels) -> (batch, time, freq, out_channels)."""
        t_len = x.shape[1]
        acts = {"input": x.permute(0, 3, 1, 2)}
        for layer in self.spec.layers:
            acts[layer.name] = self._apply_layer(layer, acts)
        y = acts[self.schedule.output][:, :, :t_len]
        return y.permute(0, 2, 3, 1)

    def conv_params(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight and bias of conv `name` with its batch norm folded in (inference statistics):
        what the streaming stepper and the int8 export compute with. A transposed conv's weight is
        (cin, cout, kt, kf), PyTorch's layout."""
        conv = self.convs[name]
        weight = conv.weight.detach()
        transposed = isinstance(conv, nn.ConvTranspose2d)
        cout = weight.shape[1] if transposed else weight.shape[0]
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(cout)
        if name not in self.norms:
            return weight, bias
        bn = self.norms[name]
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        folded = weight * (scale[None, :, None, None] if transposed else scale[:, None, None, None])
        return folded, (bias - bn.running_mean) * scale + bn.bias.detach()

    def _apply_layer(self, layer: Layer, acts: dict[str, torch.Tensor]) -> torch.Tensor:
        if isinstance(layer, Conv):
            x = acts[layer.input]
            pad_t = (layer.kt - 1) * layer.dilation
            x = nn.functional.pad(x, (layer.kf // 2, layer.kf // 2, pad_t, 0))
            y = self.convs[layer.name](x)
            if layer.name in self.norms:
                y = self.norms[layer.name](y)
            return activate(y, layer.act)
        if isinstance(layer, TConvFreq):
            x = acts[layer.input]
            y = self.convs[layer.name](x)[:, :, : x.shape[2]]  # causal: the first T frames of the full output
            if layer.name in self.norms:
                y = self.norms[layer.name](y)
            return activate(y, layer.act)
        if isinstance(layer, Duplicate):
            return torch.repeat_interleave(acts[layer.input], layer.factor, dim=2)
        if isinstance(layer, TConv):
            return self.convs[layer.name](acts[layer.input])
        if isinstance(layer, Upsample):
            return torch.repeat_interleave(acts[layer.input], layer.factor, dim=3)
        if isinstance(layer, FreqPool):
            return acts[layer.input].mean(dim=3, keepdim=True)
        if isinstance(layer, Shift):
            x = acts[layer.input]
            return nn.functional.pad(x, (0, 0, layer.frames, 0))[:, :, : x.shape[2]]
        parts = [acts[s] for s in layer.inputs]
        t_len = min(p.shape[2] for p in parts)
        parts = [p[:, :, :t_len] for p in parts]
        return torch.stack(parts).sum(0) if isinstance(layer, Add) else torch.cat(parts, dim=1)


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


def macs_by_phase(spec: ModelSpec) -> tuple[tuple[int, ...], tuple[int, ...]]:
    """Analytic MACs of each step phase, and the part of them that precompute() does (FP)."""
    sched = analyze(spec)
    total = [0] * sched.phases
    deferred = [0] * sched.phases
    for layer in spec.layers:
        if not isinstance(layer, Conv | TConvFreq | TConv):
            continue
        macs = layer_macs(layer, sched)
        for p in range(sched.phases):
            if sched.works(layer, p):
                total[p] += macs
                if sched.group(layer.name, p) != "step":
                    deferred[p] += macs
    return tuple(total), tuple(deferred)
