"""The calls of a traced PyTorch model -> spec layers, with clear refusals.

Each value the model computes is the frames of one spec layer (or of the input), plus any zero
padding still waiting for the conv it pads. Causality is explicit, as in most streaming code: a conv
pads the past itself (`nn.ZeroPad2d((f, f, (kt-1)*dilation, 0))` or `F.pad` in front, `padding=(0, ...)`
on the conv); anything that would let an output see a later frame is refused with the layer and the
fix. A batch norm and an activation right after a conv (and read by nothing else) fold into it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import torch
from torch import fx, nn

from soi_mcu.errors import SoiError
from soi_mcu.model.torch_modules import RepeatFrames, TimeShift
from soi_mcu.model.torch_recurrent import RNNS, change_layout, is_layout_change, is_rnn_output, rnn_call, rnn_output
from soi_mcu.model.torch_reshape import PASS_METHODS, channel_dims, handles_module, import_call, import_module
from soi_mcu.model.torch_split import channel_slice, is_channel_slice, is_piece, is_split, piece, split
from soi_mcu.model.torch_squeeze import is_unsqueeze, linear, mean_over_frequency, propagate, tensor_layouts, unsqueeze
from soi_mcu.model.torch_trace import ARITHMETIC, ARITHMETIC_METHODS, CONCAT, Call
from soi_mcu.model.torch_values import CHANNELS_LAST, FRAMES, FREQ_SEQ, SQUEEZED, TIME_MAJOR, Value
from soi_mcu.ops import KINDS, Concat, Conv, Duplicate, LayerOp, Shift, TConvFreq, Upsample

KIND_BY_NAME = {k.kind: k for k in KINDS}
REGISTERED = {module_type: handler for kind in KINDS for module_type, handler in kind.torch_imports.items()}
PADS = (nn.ZeroPad2d, nn.ConstantPad2d, nn.ZeroPad1d, nn.ConstantPad1d)
PASS_THROUGH = (nn.Identity, nn.Dropout)
SUPPORTED = ("Conv2d / Conv1d (causal: past-only time padding; any groups, dilation and frequency padding)",
             "BatchNorm2d / BatchNorm1d (after a conv)", "ReLU", "ReLU6", "ELU (alpha 1; after a conv or its norm)",
             "ZeroPad2d / ConstantPad2d / ConstantPad1d / F.pad (zeros)",
             "ConvTranspose2d (in time: kernel = stride, 1 in frequency; or in frequency: kernel (1, kf), stride (1, s); "
             "stride 1: the flipped conv, causal as a conv is)",
             "Upsample (nearest, in frequency)",
             "Identity", "Dropout", "+ (residual add) and torch.cat over channels",
             "x.mean(dim=3, keepdim=True) (the mean over frequency)", "chunk / split / x[:, a:b] over channels",
             "permute / reshape to (B, T, F, C), (B, F, T, C), (B*T, F, C), (B*F, T, C) and back (dual-path RNNs)",
             "Unfold((1, k)) + reshape (subband features)", "torch.stack(dim=1) + reshape (channel shuffle)",
             *(f"element-wise {k.kind}" for k in KINDS if k.kind in ("sub", "mul")),
             "soi_mcu.model.from_torch.TimeShift", "soi_mcu.model.from_torch.RepeatFrames",
             *sorted(t.__name__ for t in REGISTERED))


class LayerBuilder:
    """Walks the calls in order, turning pads, convs, norms, activations and arithmetic into spec layers."""

    def __init__(self, one_d: bool, freq_bins: int = 1) -> None:
        self.one_d = one_d  # Conv1d model: (batch, channels, time), one frequency bin
        self.freq_bins = freq_bins
        self.splits: dict[fx.Node, tuple[str, list[tuple[int, int]]]] = {}  # a chunk's pieces (torch_split.py)
        self.pending: dict[fx.Node, object] = {}  # an unfold or stack waiting for its reshape (torch_reshape.py)
        self.rnn_over = "time"  # the axis the RNN being imported runs over: "time", or "freq" on (B*T, F, C)
        self.norm_transposed = False  # the LayerNorm being imported has (F, C) weights of (B, T, F, C) frames
        self.layers: list[LayerOp] = []
        self.origins: dict[str, str] = {}  # layer name -> "model.enc.0 (Conv2d)": the module or call it came from
        self.weights: dict[str, tuple[nn.Module, nn.Module | None]] = {}
        self.loaders: list = []  # functions(offline) that copy a registered kind's parameters in
        self.values: dict[fx.Node, Value] = {}
        self.joinable: dict[str, int] = {}  # conv layer -> index in self.layers, while a norm/act may still join
        self.in_channels: int | None = None
        self.source = "input"  # the input of the call being imported (read by registered kinds' importers)

    # -- the contract of a registered kind's importer (soi_mcu/ops: torch_imports) ------------
    def layer_name(self, path: str) -> str:
        """The layer's name from its module path; a module called more than once (one decoder shared by
        every source) makes one layer per call: model_decoder_1, model_decoder_1_2, ..."""
        name = path.replace(".", "_")
        taken = {layer.name for layer in self.layers}
        unique, k = name, 2
        while unique in taken:
            unique, k = f"{name}_{k}", k + 1
        return unique

    def append(self, layer: LayerOp, load=None) -> None:
        self.layers.append(layer)
        self.source = layer.name
        if load is not None:
            self.loaders.append((layer.name, load))

    def channels(self, layer: str, call: Call) -> int:
        """Channels of a layer imported so far (the spec analysis of the layers up to it)."""
        from soi_mcu.model.spec import ModelSpec, layer_facts

        if self.in_channels is None:
            raise SoiError(f"{call.path} ({call.label}){call.where}: splits the model's input; split after its first "
                           "conv")
        if layer == "input":
            return self.in_channels
        spec = ModelSpec("partial", 1 if self.one_d else self.freq_bins, self.in_channels, tuple(self.layers),
                         output=layer)
        return layer_facts(spec)[1][layer]

    def input_value(self, call: Call, node: fx.Node) -> Value:
        return self._input_value(call, node)

    def add_layer(self, call: Call, layer: LayerOp) -> None:
        self._new(call, layer)

    def conv(self, call: Call, src: Value, conv: nn.Conv2d) -> None:
        self._conv(call, src, conv)

    # -- the walk ---------------------------------------------------------------------------
    def start(self, input_node: fx.Node) -> None:
        self.values[input_node] = Value("input")

    def add(self, call: Call) -> None:
        layouts, before = tensor_layouts(self, call), len(self.layers)
        if call.what != "module" and is_unsqueeze(self, call):
            unsqueeze(self, call)
        elif call.what != "module" and import_call(self, call):  # a permute, a reshape: it sets the layout
            pass
        else:
            self._module(call) if call.what == "module" else self._function(call)
            propagate(self, call, layouts)
        for layer in self.layers[before:]:  # messages about a layer name the user's module, not the layer
            self.origins[layer.name] = f"{call.path} ({call.label})"

    def output_layer(self, output: Any) -> str:
        if not isinstance(output, fx.Node):
            raise SoiError(f"forward returns {type(output).__name__}; a streaming model returns one tensor")
        value = self.values[output]
        if value.layout != FRAMES:
            raise SoiError("the model returns an RNN's (batch, time, features) output; transpose it back to "
                           "(batch, channels, time) with .transpose(1, 2)")
        if any(value.pad):
            raise SoiError(f"{value.pad_path}: padding at the end of the model pads nothing; remove it")
        if value.layer == "input":
            raise SoiError("the model returns its input unchanged: it has no layers")
        return value.layer

    # -- modules ----------------------------------------------------------------------------
    def _input(self, call: Call, allow_pad: bool = False, index: int = 0) -> Value:
        args = call.args
        if len(args) <= index or not isinstance(args[index], fx.Node):
            raise SoiError(f"{call.path} ({call.label}){call.where}: expected a tensor input")
        if len(args) > 1 and call.what == "module":
            raise SoiError(f"{call.path} ({call.label}){call.where}: called with {len(args)} inputs; it takes one")
        value = self._framed(call, self.values[args[index]])
        if any(value.pad) and not allow_pad:
            raise SoiError(f"{value.pad_path}: padding must be followed directly by the Conv2d it pads "
                           f"(found {call.label} at {call.path})")
        return value

    def _module(self, call: Call) -> None:
        m = call.target
        if isinstance(m, RNNS):
            rnn_call(self, call, REGISTERED, SUPPORTED)
            return
        if isinstance(m, nn.Linear):
            linear(self, call, m)
            return
        if isinstance(m, nn.LayerNorm) and isinstance(call.args[0], fx.Node) and \
                self.values[call.args[0]].layout == TIME_MAJOR:
            # a Conv1d model's channel norm: nn.LayerNorm(C) on x.transpose(1, 2), features last
            self.source = self.values[call.args[0]].layer
            REGISTERED[nn.LayerNorm](self, call.path, m)
            self.values[call.node] = Value(self.source, layout=TIME_MAJOR)
            return
        if handles_module(self, call):  # nn.Unfold; a module on channels-last frames or sequences
            import_module(self, call, REGISTERED)
            return
        if isinstance(m, PADS):
            self._pad(call, self._input(call, allow_pad=True), m)
            return
        if isinstance(m, nn.Conv2d | nn.Conv1d):
            self._conv(call, self._input(call, allow_pad=True), m)
            return
        if isinstance(m, nn.ConvTranspose2d | nn.ConvTranspose1d) and all(s == 1 for s in m.stride):
            from soi_mcu.model.torch_conv import conv_of_tconv

            self._conv(call, self._input(call, allow_pad=True), conv_of_tconv(m, f"{call.path} ({call.label}){call.where}"))
            return
        src = self._input(call)
        self.source = src.layer
        if isinstance(m, PASS_THROUGH):
            self.values[call.node] = src
        elif isinstance(m, nn.BatchNorm2d | nn.BatchNorm1d):
            self._norm(call, src, m)
        elif isinstance(m, nn.ReLU | nn.ReLU6):
            self._activation(call, src, "relu" if isinstance(m, nn.ReLU) else "relu6")
        elif isinstance(m, nn.ELU):
            if m.alpha != 1.0:
                raise SoiError(f"{call.path} (ELU): alpha={m.alpha}; only alpha=1.0 (TFLite's ELU) is supported")
            self._activation(call, src, "elu")
        elif type(m) in REGISTERED:
            REGISTERED[type(m)](self, call.path, m)
            self.values[call.node] = Value(self.source)
        elif isinstance(m, nn.ConvTranspose2d):
            self._tconv(call, src, m)
        elif isinstance(m, nn.Upsample):
            self._upsample(call, src, m)
        elif isinstance(m, TimeShift):
            self._new(call, Shift(self.layer_name(call.path), src.layer, frames=m.frames))
        elif isinstance(m, RepeatFrames):
            self._new(call, Duplicate(self.layer_name(call.path), src.layer, factor=m.factor))
        else:
            self._registered_subclass(call, m)

    def _registered_subclass(self, call: Call, m: nn.Module) -> None:
        """A subclass of a layer type a kind imports: the type itself when it keeps the type's forward;
        refused with what to write instead when it has its own (its calls cannot be seen into)."""
        base = next((t for t in REGISTERED if isinstance(m, t)), None)
        if base is None:
            raise SoiError(f"{call.path} ({call.label}){call.where} is not supported; supported layers: "
                           f"{', '.join(SUPPORTED)}")
        if type(m).forward is not base.forward:
            raise SoiError(f"{call.path} ({call.label}){call.where}: a subclass of {base.__name__} with its own "
                           f"forward; hold an nn.{base.__name__} in a plain nn.Module and call it from that "
                           "module's forward (the calls around it, such as transposes, are then traced)")
        REGISTERED[base](self, call.path, m)
        self.values[call.node] = Value(self.source)

    def _new(self, call: Call, layer: LayerOp, joinable: bool = False) -> None:
        self.append(layer)
        self.values[call.node] = Value(layer.name)
        if joinable and call.users == 1:
            self.joinable[layer.name] = len(self.layers) - 1

    def _pad(self, call: Call, src: Value, layer: nn.Module) -> None:
        if isinstance(layer, nn.ConstantPad2d | nn.ConstantPad1d) and float(layer.value) != 0.0:
            raise SoiError(f"{call.path} ({call.label}): pads with {layer.value}; only zero padding is supported")
        self._padded(call, src, tuple(layer.padding))

    def _padded(self, call: Call, src: Value, padding: tuple[int, ...]) -> None:
        if self.one_d:
            if len(padding) != 2:
                raise SoiError(f"{call.path} ({call.label}): pads {len(padding)} values; a Conv1d model pads "
                               "time only: (past, 0)")
            padding = (0, 0, *padding)
        if len(padding) != 4:
            raise SoiError(f"{call.path} ({call.label}): pads {padding}; pad (freq left, freq right, past, 0)")
        left, right, top, bottom = padding
        if bottom:
            raise SoiError(f"{call.path} ({call.label}): pads {bottom} future frame(s), so outputs would look "
                           "ahead in time; pad only the past: padding=(f, f, past, 0)")
        pad = tuple(a + b for a, b in zip(src.pad, (left, right, top, bottom), strict=True))
        self.values[call.node] = Value(src.layer, pad, call.path)

    def _conv(self, call: Call, src: Value, conv: nn.Conv2d | nn.Conv1d) -> None:
        from soi_mcu.model.torch_conv import conv_layer

        if isinstance(conv, nn.Conv1d) != self.one_d:
            raise SoiError(f"{call.path} ({call.label}): a model mixes Conv1d and Conv2d; use one of them")
        layer = conv_layer(call, src, conv, self.layer_name(call.path), self.one_d)
        if self.in_channels is None and src.layer == "input":
            self.in_channels = conv.in_channels
        self._new(call, layer, joinable=True)
        self.weights[layer.name] = (conv, None)

    def _joinable_conv(self, call: Call, src: Value, what: str) -> tuple[int, Conv]:
        if src.layer not in self.joinable:
            raise SoiError(f"{call.path} ({what}){call.where}: must follow a Conv2d directly (or a ReLU an add, sub "
                           "or mul), with nothing else reading its output (it is fused into it in int8)")
        i = self.joinable.pop(src.layer)
        return i, self.layers[i]

    def _norm(self, call: Call, src: Value, bn: nn.Module) -> None:
        i, layer = self._joinable_conv(call, src, type(bn).__name__)
        if not isinstance(layer, Conv | TConvFreq):
            raise SoiError(f"{call.path} ({type(bn).__name__}){call.where}: a batch norm after a {layer.kind} is not "
                           "supported; only right after a conv (it is folded into the conv's weights)")
        if layer.norm or layer.act != "none":
            raise SoiError(f"{call.path} ({type(bn).__name__}): must come right after its conv, before the activation")
        if bn.num_features != layer.cout or not bn.affine or not bn.track_running_stats:
            raise SoiError(f"{call.path} ({type(bn).__name__}): needs {layer.cout} features, affine and running "
                           "statistics")
        self.layers[i] = replace(layer, norm=True)
        self.weights[layer.name] = (self.weights[layer.name][0], bn)
        self.values[call.node] = src
        if call.users == 1:
            self.joinable[layer.name] = i

    def _activation(self, call: Call, src: Value, act: str) -> None:
        i, layer = self._joinable_conv(call, src, act)
        if not isinstance(layer, Conv | TConvFreq) and act == "elu":
            raise SoiError(f"{call.path} (elu){call.where}: ELU after a {layer.kind} is not supported; only after a conv")
        if layer.act != "none":
            raise SoiError(f"{call.path}: a second activation after {layer.name} is not supported")
        self.layers[i] = replace(layer, act=act)
        self.values[call.node] = src

    def _tconv(self, call: Call, src: Value, tconv: nn.ConvTranspose2d) -> None:
        from soi_mcu.model.torch_conv import tconv_layer, ungrouped_tconv

        tconv = ungrouped_tconv(tconv)
        layer = tconv_layer(call, src, tconv, self.layer_name(call.path))
        self._new(call, layer, joinable=isinstance(layer, TConvFreq))
        self.weights[layer.name] = (tconv, None)

    def _upsample(self, call: Call, src: Value, up: nn.Upsample) -> None:
        factor = up.scale_factor
        ft, ff = factor if isinstance(factor, tuple) else (factor, factor)
        if up.mode != "nearest" or ft != 1 or ff is None or int(ff) != ff or ff < 2:
            raise SoiError(f"{call.path} (Upsample): only nearest upsampling in frequency is supported: "
                           f"scale_factor=(1, k), mode='nearest'; got scale_factor={factor}, mode='{up.mode}'")
        self._new(call, Upsample(self.layer_name(call.path), src.layer, factor=int(ff)))

    # -- functions and methods --------------------------------------------------------------
    def _function(self, call: Call) -> None:
        t = call.target
        if is_layout_change(call):
            change_layout(self, call)
            return
        if is_rnn_output(self, call):
            rnn_output(self, call)
            return
        if is_split(call):
            split(self, call)
            return
        if is_piece(self, call):
            piece(self, call)
            return
        if is_channel_slice(call):
            channel_slice(self, call)
            return
        kind = ARITHMETIC.get(t) if call.what == "function" else ARITHMETIC_METHODS.get(t)
        if kind is not None:
            self._arithmetic(call, kind)
        elif call.what == "function" and t in CONCAT:
            self._concat(call)
        elif call.what == "function" and t is nn.functional.pad:
            self._functional_pad(call)
        elif (t is torch.mean and call.what == "function") or (t == "mean" and call.what == "method"):
            mean_over_frequency(self, call)
        elif call.what == "method" and t in PASS_METHODS:
            self.values[call.node] = self._input(call)
        else:
            hint = ""
            if getattr(t, "__name__", "") == "getitem":
                hint = "; indexing is supported only as x[:, a:b] (channels) and on a chunk's or split's pieces"
            elif t in ("view", "reshape", "permute", "transpose", "flatten") or getattr(t, "__name__", "") in (
                    "flatten", "reshape", "permute", "transpose"):
                hint = "; frames keep their (channels, frequency) layout: reshaping between layers is not supported"
            raise SoiError(f"{call.path} ({call.label}){call.where} is not supported{hint}")

    def _operands(self, call: Call, what: str) -> list[Value]:
        ops = [a for a in call.args if a is not None]
        consts = [a for a in ops if not isinstance(a, fx.Node)]
        if consts or call.kwargs.get("alpha", 1) != 1:
            raise SoiError(f"{call.path} ({call.label}){call.where}: {what} a constant ({consts[0] if consts else 'alpha'}) "
                           "is not supported; only two tensors of the same shape")
        return [self._input_value(call, a) for a in ops]

    def _framed(self, call: Call, value: Value) -> Value:
        if value.layout not in (FRAMES, SQUEEZED, *CHANNELS_LAST, FREQ_SEQ) and (self.one_d or value.layout != TIME_MAJOR):
            raise SoiError(f"{call.path} ({call.label}){call.where}: reads an RNN's (batch, time, features) "
                           "tensor; transpose it back to (batch, channels, time) with .transpose(1, 2) first")
        return value

    def _input_value(self, call: Call, node: fx.Node) -> Value:
        value = self._framed(call, self.values[node])
        if any(value.pad):
            raise SoiError(f"{value.pad_path}: padding must be followed directly by the Conv2d it pads "
                           f"(found {call.label} at {call.path})")
        return value

    def _arithmetic(self, call: Call, kind: str) -> None:
        words = {"add": "adding", "sub": "subtracting", "mul": "multiplying by"}[kind]
        args = [a for a in call.args if a is not None]
        identity = {"add": (0, 0), "sub": (None, 0), "mul": (1, 1)}[kind]  # constant on the left, right
        if len(args) == 2 and call.kwargs.get("alpha", 1) == 1 and any(
                not isinstance(a, fx.Node) and a == identity[i] and isinstance(args[1 - i], fx.Node)
                for i, a in enumerate(args)):
            # `skips = 0` then `skips = skips + skip`: the first sum is its tensor
            node = next(a for a in args if isinstance(a, fx.Node))
            self.values[call.node] = self._input_value(call, node)
            return
        ops = self._operands(call, words)
        if kind not in KIND_BY_NAME:
            raise SoiError(f"{call.path} ({call.label}){call.where}: element-wise '{kind}' is not supported yet")
        # joinable: a ReLU right after it fuses into the op, as TFLite does
        self._new(call, KIND_BY_NAME[kind](self.layer_name(call.path), tuple(v.layer for v in ops)), joinable=True)

    def _concat(self, call: Call) -> None:
        tensors = call.args[0] if call.args else call.kwargs.get("tensors")
        dim = call.args[1] if len(call.args) > 1 else call.kwargs.get("dim", 0)
        first = tensors[0] if tensors and isinstance(tensors[0], fx.Node) else None
        if dim not in channel_dims(self, self.values[first].layout if first in self.values else FRAMES):
            raise SoiError(f"{call.path} ({call.label}){call.where}: concatenation along dim {dim}; only along "
                           "channels (dim=1) is supported")
        ops = [self._input_value(call, t) for t in tensors]
        self._new(call, Concat(self.layer_name(call.path), tuple(v.layer for v in ops)))

    def _functional_pad(self, call: Call) -> None:
        src = self._input(call, allow_pad=True)
        padding = call.args[1] if len(call.args) > 1 else call.kwargs.get("pad")
        mode = call.args[2] if len(call.args) > 2 else call.kwargs.get("mode", "constant")
        value = call.args[3] if len(call.args) > 3 else call.kwargs.get("value", None)
        if mode != "constant" or (value or 0.0) != 0.0:
            raise SoiError(f"{call.path} (pad){call.where}: mode '{mode}', value {value}; only zero padding is supported")
        self._padded(call, src, tuple(padding))
