"""A user's PyTorch model -> the layer spec (and its trained weights), with clear refusals.

Users who train their own streaming CNN in PyTorch hand it over as an `nn.Sequential` (nested
Sequentials are flattened) working on (batch, channels, time, freq). Causality is explicit, as in
most streaming code: each Conv2d pads the past itself, with `nn.ZeroPad2d((f, f, (kt-1)*dilation, 0))`
in front and `padding=(0, ...)`. Anything that would let an output see a later frame (padding in
time on both sides, padding the future, a kernel taller than the past padding) is refused with the
layer and the fix, and so is every layer type the firmware cannot run. SOI's own pieces come as the
small modules below, which also work offline for training. After the conversion the imported model
is run against the user's module on random input: a mismatch is an error, never silent.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.model import KINDS, Conv, Duplicate, Layer, ModelSpec, OfflineModel, Shift, TConv, Upsample

# Layer kinds that say which PyTorch modules import as them (soi_mcu/ops/: `torch_imports`).
_REGISTERED = {module_type: handler for kind in KINDS for module_type, handler in kind.torch_imports.items()}


class TimeShift(nn.Module):
    """SC: delay by `frames` frames (what follows sees only the past and can be precomputed)."""

    def __init__(self, frames: int = 1) -> None:
        super().__init__()
        self.frames = frames

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return nn.functional.pad(x, (0, 0, self.frames, 0))[:, :, : x.shape[2]]


class RepeatFrames(nn.Module):
    """Extrapolation of an S-CC pair: repeat each frame `factor` times, restoring the frame rate."""

    def __init__(self, factor: int = 2) -> None:
        super().__init__()
        self.factor = factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.repeat_interleave(x, self.factor, dim=2)


SUPPORTED = ("Conv2d (causal: past-only time padding; depthwise or groups=1)", "BatchNorm2d (after a Conv2d)",
             "ReLU", "ReLU6", "ELU (alpha 1; after a Conv2d or its BatchNorm2d)", "ZeroPad2d / ConstantPad2d(value 0)",
             "ConvTranspose2d (in time, kernel = stride, 1 in frequency)",
             "Upsample (nearest, in frequency)", "Identity", "Dropout",
             "soi_mcu.model.from_torch.TimeShift", "soi_mcu.model.from_torch.RepeatFrames", "Sequential",
             *sorted(t.__name__ for t in _REGISTERED))


def from_torch(module: nn.Module, freq_bins: int, name: str = "user", frame_rate_hz: float = 125.0) -> OfflineModel:
    """Convert `module` (an nn.Sequential) into an OfflineModel with the same weights and outputs."""
    if not isinstance(module, nn.Module):
        raise SoiError(f"expected a torch.nn.Module, got {type(module).__name__}")
    leaves = list(_flatten(module, "model"))
    if not leaves:
        raise SoiError("the model has no layers")
    builder = _Builder(freq_bins)
    for path, layer in leaves:
        builder.add(path, layer)
    builder.finish()
    in_channels = builder.in_channels
    if in_channels is None:
        raise SoiError("the model has no Conv2d: nothing tells its number of input channels")
    spec = ModelSpec(name, freq_bins, in_channels, tuple(builder.layers), frame_rate_hz=frame_rate_hz)
    offline = OfflineModel(spec)
    with torch.no_grad():
        for lname, (conv, bn) in builder.weights.items():
            target = offline.convs[lname]
            target.weight.copy_(conv.weight.reshape(target.weight.shape))
            target.bias.copy_(conv.bias if conv.bias is not None else torch.zeros_like(target.bias))
            if bn is not None:
                offline.norms[lname].load_state_dict(bn.state_dict())
        for load in builder.loaders:
            load(offline)
    _check_same_outputs(module, offline)
    return offline.eval()


def _flatten(module: nn.Module, path: str):
    if isinstance(module, nn.Sequential):
        for child_name, child in module.named_children():
            yield from _flatten(child, f"{path}.{child_name}")
    elif type(module) is nn.Module or list(module.children()):  # a container other than Sequential
        raise SoiError(f"{path} ({type(module).__name__}): only nn.Sequential models (and the layers "
                       f"listed here) can be imported; supported: {', '.join(SUPPORTED)}. "
                       "Graphs with skip connections are built with soi_mcu.model's layer spec instead")
    else:
        yield path, module


class _Builder:
    """Walks the layers in order, turning pads, convs, norms and activations into spec layers."""

    def __init__(self, freq_bins: int) -> None:
        self.layers: list[Layer] = []
        self.weights: dict[str, tuple[nn.Module, nn.BatchNorm2d | None]] = {}
        self.loaders: list = []  # functions(offline) that copy a registered kind's parameters in
        self.pad = [0, 0, 0, 0]  # pending (freq left, freq right, time past, time future)
        self.pad_path = ""
        self.source = "input"
        self.in_channels: int | None = None
        self.last_conv: int | None = None  # index in self.layers of a conv that a norm/activation may still join
        self.freq_bins = freq_bins

    def add(self, path: str, layer: nn.Module) -> None:
        if isinstance(layer, nn.Identity | nn.Dropout):
            return
        if isinstance(layer, nn.ZeroPad2d | nn.ConstantPad2d):
            self._pad(path, layer)
            return
        if any(self.pad) and not isinstance(layer, nn.Conv2d):
            raise SoiError(f"{self.pad_path}: padding must be followed directly by the Conv2d it pads "
                           f"(found {type(layer).__name__} at {path})")
        if isinstance(layer, nn.Conv2d):
            self._conv(path, layer)
        elif isinstance(layer, nn.BatchNorm2d):
            self._norm(path, layer)
        elif isinstance(layer, nn.ReLU | nn.ReLU6):
            self._activation(path, "relu" if isinstance(layer, nn.ReLU) else "relu6")
        elif isinstance(layer, nn.ELU):
            if layer.alpha != 1.0:
                raise SoiError(f"{path} (ELU): alpha={layer.alpha}; only alpha=1.0 (TFLite's ELU) is supported")
            self._activation(path, "elu")
        elif isinstance(layer, nn.ConvTranspose2d):
            self._tconv(path, layer)
        elif isinstance(layer, TimeShift):
            self._append(Shift(self._name(path), self.source, frames=layer.frames))
        elif isinstance(layer, RepeatFrames):
            self._append(Duplicate(self._name(path), self.source, factor=layer.factor))
        elif isinstance(layer, nn.Upsample):
            self._upsample(path, layer)
        elif type(layer) in _REGISTERED:
            _REGISTERED[type(layer)](self, path, layer)
        else:
            raise SoiError(f"{path} ({type(layer).__name__}) is not supported; supported layers: {', '.join(SUPPORTED)}")

    def finish(self) -> None:
        if any(self.pad):
            raise SoiError(f"{self.pad_path}: padding at the end of the model pads nothing; remove it")

    def _name(self, path: str) -> str:
        return path.replace(".", "_")

    def layer_name(self, path: str) -> str:
        """The spec name of the module at `path` (for a kind's import function)."""
        return self._name(path)

    def append(self, layer: Layer, load=None) -> None:
        """Add a registered kind's layer after the current one; `load(offline)` copies its parameters."""
        self._append(layer)
        if load is not None:
            self.loaders.append(load)

    def _append(self, layer: Layer, joinable: bool = False) -> None:
        self.layers.append(layer)
        self.source = layer.name
        self.last_conv = len(self.layers) - 1 if joinable else None

    def _pad(self, path: str, layer: nn.Module) -> None:
        if isinstance(layer, nn.ConstantPad2d) and float(layer.value) != 0.0:
            raise SoiError(f"{path} (ConstantPad2d): pads with {layer.value}; only zero padding is supported")
        left, right, top, bottom = layer.padding
        if bottom:
            raise SoiError(f"{path} ({type(layer).__name__}): pads {bottom} future frame(s), so outputs would look "
                           "ahead in time; pad only the past: padding=(f, f, past, 0)")
        self.pad = [a + b for a, b in zip(self.pad, (left, right, top, bottom), strict=True)]
        self.pad_path = path

    def _conv(self, path: str, conv: nn.Conv2d) -> None:
        kt, kf = conv.kernel_size
        st, sf = conv.stride
        dt, df = conv.dilation
        pt, pf = conv.padding if not isinstance(conv.padding, str) else (-1, -1)
        where = f"{path} (Conv2d {kt}x{kf})"
        if isinstance(conv.padding, str):
            raise SoiError(f"{where}: padding='{conv.padding}' pads time on both sides (looks ahead); use "
                           f"nn.ZeroPad2d(({kf // 2}, {kf // 2}, {(kt - 1) * dt}, 0)) before it and padding=(0, {kf // 2})")
        if conv.padding_mode != "zeros":
            raise SoiError(f"{where}: padding_mode '{conv.padding_mode}' is not supported; use zeros")
        if pt:
            raise SoiError(f"{where}: padding={conv.padding} pads time on both sides, so each output looks {pt} "
                           f"frame(s) ahead; use padding=(0, {pf}) and nn.ZeroPad2d(({kf // 2}, {kf // 2}, "
                           f"{(kt - 1) * dt}, 0)) before it")
        past = self.pad[2]
        needed = (kt - 1) * dt
        if past < needed:
            raise SoiError(f"{where}: the kernel spans {needed + 1} frames but only {past} past frame(s) are padded, "
                           f"so each output looks {needed - past} frame(s) ahead; pad {needed} past frames "
                           f"(nn.ZeroPad2d(({kf // 2}, {kf // 2}, {needed}, 0)))")
        if past > needed:
            raise SoiError(f"{where}: {past} past frames padded where the kernel needs {needed}; the extra delay is "
                           "not a supported layer (use soi_mcu.model.from_torch.TimeShift for a delay)")
        left, right = self.pad[0] + pf, self.pad[1] + pf
        if kf % 2 == 0 or left != kf // 2 or right != kf // 2:
            raise SoiError(f"{where}: frequency padding ({left}, {right}) must be 'same' for an odd kernel: "
                           f"({kf // 2}, {kf // 2})")
        if df != 1:
            raise SoiError(f"{where}: dilation {df} in frequency is not supported (dilation in time is)")
        if st > 1 and dt > 1:
            raise SoiError(f"{where}: a time-strided conv cannot also be dilated in time")
        cin = conv.in_channels
        depthwise = conv.groups == cin and conv.groups > 1
        if conv.groups not in (1, cin):
            raise SoiError(f"{where}: grouped convolution (groups={conv.groups}) is not supported; "
                           "use groups=1 or depthwise (groups=in_channels)")
        if self.in_channels is None:  # layers before the first conv keep the channels
            self.in_channels = cin
        lname = self._name(path)
        self._append(Conv(lname, self.source, cout=conv.out_channels, kt=kt, kf=kf, dilation=dt, stride=st,
                          fstride=sf, act="none", depthwise=depthwise), joinable=True)
        self.weights[lname] = (conv, None)
        self.pad = [0, 0, 0, 0]

    def _joinable_conv(self, path: str, what: str) -> tuple[int, Conv]:
        if self.last_conv is None:
            raise SoiError(f"{path} ({what}): must follow a Conv2d directly (its batch norm and activation are fused "
                           "into it in int8)")
        layer = self.layers[self.last_conv]
        return self.last_conv, layer

    def _norm(self, path: str, bn: nn.BatchNorm2d) -> None:
        i, layer = self._joinable_conv(path, "BatchNorm2d")
        if layer.norm or layer.act != "none":
            raise SoiError(f"{path} (BatchNorm2d): must come right after its Conv2d, before the activation")
        if bn.num_features != layer.cout or not bn.affine or not bn.track_running_stats:
            raise SoiError(f"{path} (BatchNorm2d): needs {layer.cout} features, affine and running statistics")
        self.layers[i] = replace(layer, norm=True)
        self.weights[layer.name] = (self.weights[layer.name][0], bn)

    def _activation(self, path: str, act: str) -> None:
        i, layer = self._joinable_conv(path, act)
        if layer.act != "none":
            raise SoiError(f"{path}: a second activation after {layer.name} is not supported")
        self.layers[i] = replace(layer, act=act)
        self.last_conv = None

    def _tconv(self, path: str, tconv: nn.ConvTranspose2d) -> None:
        (kt, kf), (st, sf) = tconv.kernel_size, tconv.stride
        if not (kt == st and kf == 1 and sf == 1 and tconv.padding == (0, 0) and tconv.output_padding == (0, 0)
                and tconv.groups == 1 and tconv.dilation == (1, 1)):
            raise SoiError(f"{path} (ConvTranspose2d): only the S-CC extrapolation in time is supported: "
                           f"kernel (k, 1) = stride (k, 1), no padding, groups=1; got kernel {tconv.kernel_size}, "
                           f"stride {tconv.stride}, padding {tconv.padding}")
        lname = self._name(path)
        self._append(TConv(lname, self.source, cout=tconv.out_channels, factor=kt))
        self.weights[lname] = (tconv, None)

    def _upsample(self, path: str, up: nn.Upsample) -> None:
        factor = up.scale_factor
        ft, ff = factor if isinstance(factor, tuple) else (factor, factor)
        if up.mode != "nearest" or ft != 1 or ff is None or int(ff) != ff or ff < 2:
            raise SoiError(f"{path} (Upsample): only nearest upsampling in frequency is supported: "
                           f"scale_factor=(1, k), mode='nearest'; got scale_factor={factor}, mode='{up.mode}'")
        self._append(Upsample(self._name(path), self.source, factor=int(ff)))


def _check_same_outputs(module: nn.Module, offline: OfflineModel) -> None:
    """Run the user's module and the imported model on the same input: they must agree."""
    spec = offline.spec
    frames = 3 * offline.schedule.receptive_field + offline.schedule.phases
    frames += -frames % offline.schedule.phases
    x = torch.randn(1, frames, spec.freq_bins, spec.in_channels, generator=torch.Generator().manual_seed(0))
    training = module.training
    module.eval()
    offline.eval()
    try:
        with torch.no_grad():
            theirs = module(x.permute(0, 3, 1, 2))
            ours = offline(x).permute(0, 3, 1, 2)
    except RuntimeError as exc:
        raise SoiError(f"the model cannot run on frames of {spec.freq_bins} frequency bins and "
                       f"{spec.in_channels} channel(s): {str(exc).splitlines()[0]}") from None
    finally:
        module.train(training)
    if theirs.shape != ours.shape:
        raise SoiError(f"the imported model's output {tuple(ours.shape)} differs in shape from the module's "
                       f"{tuple(theirs.shape)} (batch, channels, time, freq); is every time stride undone by "
                       "a RepeatFrames or ConvTranspose2d?")
    diff = float((theirs - ours).abs().max())
    if diff > 1e-4:
        raise SoiError(f"the imported model differs from the module by {diff:.3g}: a layer's semantics were not "
                       "captured; please report it with the model")
