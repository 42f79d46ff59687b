"""A user's PyTorch model -> the layer spec (and its trained weights), with clear refusals.

Any `nn.Module` is accepted: its forward is captured with torch.fx (soi_mcu/model/torch_trace.py),
so residual adds, concatenated skips and element-wise masks come through as the graph they are, and
each call becomes a spec layer (soi_mcu/model/torch_layers.py). The model works on (batch, channels,
time, freq) with Conv2d, or on (batch, channels, time) with Conv1d (features as channels, one
frequency bin). Causality is explicit, as in most streaming code: each conv pads the past itself
(`nn.ZeroPad2d((f, f, (kt-1)*dilation, 0))` or `F.pad` in front, `padding=(0, ...)` on the conv).
Anything that would let an output see a later frame is refused with the layer and the fix, and so
is every layer type the firmware cannot run. SOI's own pieces come as the small modules below, which
also work offline for training. After the conversion the imported model is run against the user's
module on random input: a mismatch is an error, never silent.
"""

from __future__ import annotations

import torch
from torch import nn

from soi_mcu.errors import SoiError
from soi_mcu.model import ModelSpec, OfflineModel
from soi_mcu.model.torch_layers import REGISTERED, SUPPORTED, LayerBuilder
from soi_mcu.model.torch_modules import RepeatFrames, TimeShift
from soi_mcu.model.torch_reshape import unfolded_input_channels
from soi_mcu.model.torch_trace import trace

CONVS = (nn.Conv1d, nn.Conv2d, nn.ConvTranspose1d, nn.ConvTranspose2d)
LEAVES = (TimeShift, RepeatFrames, *REGISTERED)
__all__ = ["SUPPORTED", "RepeatFrames", "TimeShift", "from_torch"]


def from_torch(module: nn.Module, freq_bins: int = 0, name: str = "user", frame_rate_hz: float = 125.0) -> OfflineModel:
    """Convert `module` (any nn.Module of the layers above) into an OfflineModel with the same weights
    and outputs. `freq_bins`: frequency bins of an input frame (a Conv1d model has one)."""
    if not isinstance(module, nn.Module):
        raise SoiError(f"expected a torch.nn.Module, got {type(module).__name__}")
    traced = trace(module, LEAVES)
    if not traced.calls:
        raise SoiError("the model has no layers")
    convs = [c.target for c in traced.calls if c.what == "module" and isinstance(c.target, CONVS)]
    one_d = bool(convs) and isinstance(convs[0], nn.Conv1d | nn.ConvTranspose1d)
    if one_d and freq_bins not in (0, 1):
        raise SoiError(f"a Conv1d model's frames are its input channels over one frequency bin; --freq-bins "
                       f"{freq_bins} does not apply (leave it out)")
    if not one_d and freq_bins < 1:
        raise SoiError("give the number of frequency bins of an input frame (--freq-bins, or a freq_bins attribute on the module)")
    builder = LayerBuilder(one_d, freq_bins)
    builder.start(traced.input_node)
    builder.in_channels = unfolded_input_channels(traced.calls, traced.input_node)
    for call in traced.calls:
        builder.add(call)
    output = builder.output_layer(traced.output)
    if builder.in_channels is None:
        raise SoiError("the model has no conv reading its input: nothing tells its number of input channels")
    layers = _contributing(builder.layers, output)
    kept = {layer.name for layer in layers}
    spec = ModelSpec(name, 1 if one_d else freq_bins, builder.in_channels, layers, output=output,
                     frame_rate_hz=frame_rate_hz,
                     origins=tuple((layer.name, builder.origins[layer.name]) for layer in layers
                                   if layer.name in builder.origins))
    offline = OfflineModel(spec)
    with torch.no_grad():
        for lname, (conv, bn) in builder.weights.items():
            if lname not in kept:
                continue
            target = offline.convs[lname]
            target.weight.copy_(conv.weight.reshape(target.weight.shape))
            target.bias.copy_(conv.bias if conv.bias is not None else torch.zeros_like(target.bias))
            if bn is not None:
                offline.norms[lname].load_state_dict(bn.state_dict())
        for lname, load in builder.loaders:
            if lname in kept:
                load(offline)
    _check_same_outputs(module, offline, one_d)
    return offline.eval()


def _contributing(layers: list, output: str | None) -> tuple:
    """The layers the output depends on, in order. A forward may compute what it never returns (the
    last block's residual of a TCN whose output is the sum of the skips): the export drops that too."""
    by_name = {layer.name: layer for layer in layers}
    needed, todo = set(), [output or layers[-1].name]
    while todo:
        name = todo.pop()
        if name in needed or name not in by_name:
            continue
        needed.add(name)
        todo.extend(by_name[name].inputs)
    return tuple(layer for layer in layers if layer.name in needed)


def _check_same_outputs(module: nn.Module, offline: OfflineModel, one_d: bool = False) -> None:
    """Run the user's module and the imported model on the same input: they must agree (to float
    rounding at the output's scale)."""
    spec = offline.spec
    frames = 3 * offline.schedule.receptive_field + offline.schedule.phases
    frames += -frames % offline.schedule.phases
    x = torch.randn(1, frames, spec.freq_bins, spec.in_channels, generator=torch.Generator().manual_seed(0))
    training = module.training
    module.eval()
    offline.eval()
    try:
        with torch.no_grad():
            theirs = module(x.permute(0, 3, 1, 2)[..., 0] if one_d else x.permute(0, 3, 1, 2))
            ours = offline(x).permute(0, 3, 1, 2)
    except (RuntimeError, ValueError, TypeError) as exc:  # the user's forward on these frames
        shape = f"{spec.in_channels} channel(s)" if one_d else \
            f"frames of {spec.freq_bins} frequency bins and {spec.in_channels} channel(s)"
        raise SoiError(f"the model cannot run on {shape}: {str(exc).splitlines()[0]}") from None
    finally:
        module.train(training)
    if not isinstance(theirs, torch.Tensor):
        raise SoiError(f"the module returns {type(theirs).__name__}; a streaming model returns one tensor")
    if one_d:
        ours = ours[..., 0]
    if theirs.shape != ours.shape:
        layout = "(batch, channels, time)" if one_d else "(batch, channels, time, freq)"
        raise SoiError(f"the imported model's output {tuple(ours.shape)} differs in shape from the module's "
                       f"{tuple(theirs.shape)} {layout}; is every time stride undone by a RepeatFrames or "
                       "ConvTranspose2d?")
    if not bool(torch.isfinite(theirs).all()):
        bad = [name for name, t in [*module.named_parameters(), *module.named_buffers()]
               if t.is_floating_point() and not bool(torch.isfinite(t).all())]
        where = f": {', '.join(bad[:3])}{' ...' if len(bad) > 3 else ''} hold(s) NaN or inf" if bad else ""
        raise SoiError(f"the module's output has NaN or inf values on random input{where}: check its weights")
    scale = max(1.0, float(theirs.abs().max()))
    diff = float((theirs - ours).abs().max())
    if diff > 1e-4 * scale:
        raise SoiError(f"the imported model differs from the module by {diff:.3g} (output scale {scale:.3g}): a "
                       "layer's semantics were not captured; please report it with the model")
