"""The Conv kind's int8 side: the Keras layers it exports as (TFLite PAD + CONV_2D or DEPTHWISE_CONV_2D),
the ops it matches in the .tflite, and its filter read back in the layout the firmware's kernels take.

Keras refuses a conv that is both strided and dilated (in any two axes: `strides > 1 not supported in
conjunction with dilation_rate > 1`), although TFLite's CONV_2D and CMSIS-NN take both. Such a conv is
exported with its dilated taps spread out in a kernel of the dilated span, zero between them, and
dilation 1: every zero tap adds (x - zero point) * 0 = 0 to LiteRT's int32 sums and leaves the
per-channel weight scale (max |w| / 127) unchanged, so the int8 result is the dilated conv's, bit for
bit. `tflite_filter` takes the zero taps out again; the firmware runs the dilated kernel."""

from __future__ import annotations

from typing import Any

import numpy as np

from soi_mcu.errors import SoiError
from soi_mcu.ops.activations import keras_activation, keras_table_op
from soi_mcu.ops.records import MatchedConv
from soi_mcu.ops.tflite_act import fused_act, with_elu


def dilation_as_taps(layer: Any) -> bool:
    """Keras cannot build it strided and dilated: its dilations go into the kernel as zero taps."""
    return max(layer.stride, layer.fstride) > 1 and max(layer.dilation, layer.fdilation) > 1


def exported_geometry(layer: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    """(kernel size, dilation rate) of the exported Keras conv, (time, frequency) each."""
    if dilation_as_taps(layer):
        return (layer.window, layer.fspan), (1, 1)
    return (layer.kt, layer.kf), (layer.dilation, layer.fdilation)


def keras_conv(layer: Any, keras: Any, offline: Any, acts: dict[str, Any]) -> Any:
    """ZeroPadding2D (the causal past in time, the frequency padding) and a 'valid' Conv2D (groups as
    PyTorch's) or DepthwiseConv2D, the batch norm folded into its weights."""
    left, right = layer.freq_padding
    pad = keras.layers.ZeroPadding2D(((layer.window - 1, 0), (left, right)), name=f"{layer.name}__pad")(acts[layer.input])
    size, rate = exported_geometry(layer)
    common = {"strides": (layer.stride, layer.fstride), "dilation_rate": rate,
              "activation": keras_activation(layer.act), "name": layer.name}
    weight, bias = offline.conv_params(layer.name)  # batch norm folded in
    w = weight.numpy()
    if layer.depthwise:
        mult = layer.cout // offline.schedule.channels[layer.input]
        conv = keras.layers.DepthwiseConv2D(size, depth_multiplier=mult, **common)
        out = conv(pad)
        # torch (cin*mult, 1, kt, kf), out channel c*mult+m -> keras (kt, kf, cin, mult)
        taps = w[:, 0].reshape(-1, mult, layer.kt, layer.kf).transpose(2, 3, 0, 1)
    else:
        if layer.groups > 1:  # only then: a groups argument of 1 is Keras's default anyway
            common["groups"] = layer.groups
        conv = keras.layers.Conv2D(layer.cout, size, **common)
        out = conv(pad)
        # OIHW -> HWIO; grouped: torch (cout, cin/groups, kt, kf), output channels in group order as Keras
        taps = w.transpose(2, 3, 1, 0)
    kernel = taps
    if size != (layer.kt, layer.kf):
        dt, df = _tap_steps(layer)
        kernel = np.zeros((*size, *taps.shape[2:]), dtype=taps.dtype)
        kernel[::dt, ::df] = taps
    conv.set_weights([kernel, bias.numpy()])
    return keras_table_op(keras, layer.act, layer.name, out)


def _tap_steps(layer: Any) -> tuple[int, int]:
    """Rows and columns between the taps of the exported kernel (the dilations where they are zero taps)."""
    return (layer.dilation, layer.fdilation) if dilation_as_taps(layer) else (1, 1)


def match_conv(layer: Any, m: Any) -> MatchedConv:
    src = m.acts[layer.input]
    kind = "DEPTHWISE_CONV_2D" if layer.depthwise else "CONV_2D"
    size, _ = exported_geometry(layer)

    def fits(op) -> bool:  # several convs may read one tensor: take the one of this layer's shape
        shape = m.graph.tensors[op.inputs[1]].shape
        return op.kind == kind and tuple(shape[1:3]) == tuple(size) and (
            shape[3] == layer.cout if layer.depthwise else shape[0] == layer.cout)

    # (PAD or None, conv): the causal/frequency padding is a PAD in front, or folded into the conv by the
    # converter; the firmware does it with state and kernel padding either way
    cands = [(pad, c) for pad in m.readers(src) if pad.kind == "PAD"
             for c in m.graph.consumers.get(pad.outputs[0], []) if c.index not in m.used and fits(c)]
    cands += [(None, c) for c in m.readers(src) if fits(c)]
    if not cands:
        raise SoiError(f"layer '{layer.name}': no {kind} op of kernel {size} and {layer.cout} outputs reads tensor "
                       f"'{m.graph.tensors[src].name}' in the .tflite")
    pad, op = min(cands, key=lambda pc: pc[1].index)
    if pad is not None:
        m.used.add(pad.index)
    m.used.add(op.index)
    o = op.options
    matched = MatchedConv(
        input=m.graph.tensors[src], output=m.graph.tensors[op.outputs[0]],
        filter=m.graph.tensors[op.inputs[1]], bias=m.graph.tensors[op.inputs[2]],
        stride=(o["strideH"], o["strideW"]), dilation=(o["dilationHFactor"], o["dilationWFactor"]),
        act=fused_act(o["fusedActivationFunction"]),
    )
    m.acts[layer.name] = op.outputs[0]
    if layer.act == "elu":
        matched = with_elu(m, layer.name, matched)
        m.acts[layer.name] = matched.elu.index
    return matched


def tflite_filter(layer: Any, m: MatchedConv, cin: int) -> np.ndarray:
    """The int8 filter as the kernels take it: [cout, kt, kf, cin / groups] (depthwise [1, kt, kf, cout]),
    after checking it against the spec (zero taps of a strided and dilated conv taken out)."""
    size, rate = exported_geometry(layer)
    exported = (1, *size, layer.cout) if layer.depthwise else (layer.cout, *size, cin // layer.groups)
    if m.filter.shape != exported:
        raise SoiError(f"layer '{layer.name}': filter shape {m.filter.shape} in the .tflite, expected {exported}")
    if m.stride != (layer.stride, layer.fstride) or m.dilation != rate:
        raise SoiError(f"layer '{layer.name}': stride/dilation in the .tflite differ from the spec")
    filt = np.asarray(m.filter.data, dtype=np.int8)
    dt, df = _tap_steps(layer)
    if (dt, df) == (1, 1):
        return filt
    taps = np.zeros(filt.shape, dtype=bool)
    taps[:, ::dt, ::df] = True
    if np.any(filt[~taps]):
        raise SoiError(f"layer '{layer.name}': the .tflite kernel has non-zero weights between its dilated taps")
    return np.ascontiguousarray(filt[:, ::dt, ::df])
