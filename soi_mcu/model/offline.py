"""The whole-sequence form of a spec: used for training and as the float oracle of the stepper.

Layout inside PyTorch is (batch, channels, time, freq); each layer kind computes its own offline
form (soi_mcu/ops/), this module holds the parameters and runs the layers in order."""

from __future__ import annotations

import torch
from torch import nn

from soi_mcu.model.spec import ModelSpec, analyze


class OfflineModel(nn.Module):
    """Parameters live in one ModuleDict per group a kind names (`convs`, `norms`, ...), keyed by
    layer name: checkpoints keep those keys."""

    def __init__(self, spec: ModelSpec, seed: int = 0) -> None:
        super().__init__()
        self.spec = spec
        self.schedule = analyze(spec)
        torch.manual_seed(seed)
        self.convs = nn.ModuleDict()
        self.norms = nn.ModuleDict()
        for layer in spec.layers:
            module = layer.torch_module(self.schedule)
            if module is not None:
                self._group(layer.torch_group)[layer.name] = module
            norm = layer.norm_module(self.schedule)
            if norm is not None:
                self.norms[layer.name] = norm

    def _group(self, name: str) -> nn.ModuleDict:
        if not hasattr(self, name):
            self.add_module(name, nn.ModuleDict())
        return getattr(self, name)

    def params_of(self, layer: str, group: str) -> nn.Module:
        return self._group(group)[layer]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, time, freq, channels) -> (batch, time, freq, out_channels)."""
        t_len = x.shape[1]
        y = self.activations(x)[self.schedule.output][:, :, :t_len]
        return y.permute(0, 2, 3, 1)

    def activations(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every layer's output (batch, channels, time, freq) for x (batch, time, freq, channels)."""
        acts = {"input": x.permute(0, 3, 1, 2)}
        for layer in self.spec.layers:
            acts[layer.name] = layer.offline(self, acts)
        return acts

    def conv_params(self, name: str) -> tuple[torch.Tensor, torch.Tensor]:
        """Weight and bias of conv `name` with its batch norm folded in (inference statistics):
        what the streaming stepper and the int8 export compute with. A transposed conv's weight is
        (cin, cout, kt, kf), PyTorch's layout."""
        conv = self.convs[name]
        weight = conv.weight.detach()
        transposed = isinstance(conv, nn.ConvTranspose2d)  # a torch module type, not a layer kind
        cout = weight.shape[1] if transposed else weight.shape[0]
        bias = conv.bias.detach() if conv.bias is not None else torch.zeros(cout)
        if name not in self.norms:
            return weight, bias
        bn = self.norms[name]
        scale = bn.weight.detach() / torch.sqrt(bn.running_var + bn.eps)
        folded = weight * (scale[None, :, None, None] if transposed else scale[:, None, None, None])
        return folded, (bias - bn.running_mean) * scale + bn.bias.detach()
