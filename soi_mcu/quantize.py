"""Full-int8 export with TensorFlow's converter, and the golden int8 reference from LiteRT.

The exported graph is the *offline* model over a fixed number of frames: causal padding in time,
the S-CC pair as a time-strided conv and a duplication (concat + reshape: UpSampling2D would become
TILE, which the reference interpreter lacks). The firmware runs the same int8 arithmetic frame by
frame, so the reference for every streamed frame is this offline run.
"""

from __future__ import annotations

import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soi_mcu.errors import SoiError
from soi_mcu.model import Add, Concat, Conv, Duplicate, FreqPool, OfflineModel, Shift, TConv, TConvFreq, Upsample

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@dataclass(frozen=True)
class TfliteArtifact:
    path: Path
    sha256: str
    frames: int  # time length the graph was exported with
    converter_version: str
    from_cache: bool = False  # the conversion was reused (same spec, weights, calibration, converter)


def _keras_model(offline: OfflineModel, frames: int):
    import keras

    spec = offline.spec
    x_in = keras.Input(shape=(frames, spec.freq_bins, spec.in_channels), batch_size=1, name="input")
    acts = {"input": x_in}
    for layer in spec.layers:
        if isinstance(layer, Conv):
            pad = keras.layers.ZeroPadding2D(
                ((layer.window - 1, 0), (layer.kf // 2, layer.kf // 2)), name=f"{layer.name}__pad"
            )(acts[layer.input])
            common = {"strides": (layer.stride, layer.fstride), "dilation_rate": (layer.dilation, 1),
                      "activation": None if layer.act == "none" else layer.act, "name": layer.name}
            weight, bias = offline.conv_params(layer.name)  # batch norm folded in
            w = weight.numpy()
            if layer.depthwise:
                mult = layer.cout // offline.schedule.channels[layer.input]
                conv = keras.layers.DepthwiseConv2D((layer.kt, layer.kf), depth_multiplier=mult, **common)
                acts[layer.name] = conv(pad)
                # torch (cin*mult, 1, kt, kf), out channel c*mult+m -> keras (kt, kf, cin, mult)
                kernel = w[:, 0].reshape(-1, mult, layer.kt, layer.kf).transpose(2, 3, 0, 1)
            else:
                conv = keras.layers.Conv2D(layer.cout, (layer.kt, layer.kf), **common)
                acts[layer.name] = conv(pad)
                kernel = w.transpose(2, 3, 1, 0)  # OIHW -> HWIO
            conv.set_weights([kernel, bias.numpy()])
        elif isinstance(layer, TConvFreq):
            acts[layer.name] = _tconv_freq(keras, offline, layer, acts[layer.input])
        elif isinstance(layer, Duplicate):
            src = acts[layer.input]
            _, t, f, c = src.shape
            cat = keras.layers.Concatenate(axis=2, name=f"{layer.name}__cat")([src] * layer.factor)
            acts[layer.name] = keras.layers.Reshape((t * layer.factor, f, c), name=layer.name)(cat)
        elif isinstance(layer, TConv):
            tconv = keras.layers.Conv2DTranspose(layer.cout, (layer.factor, 1), strides=(layer.factor, 1),
                                                 padding="valid", name=layer.name)
            acts[layer.name] = tconv(acts[layer.input])
            torch_tconv = offline.convs[layer.name]
            w = torch_tconv.weight.detach().numpy().transpose(2, 3, 1, 0)  # (cin, cout, kh, kw) -> (kh, kw, cout, cin)
            tconv.set_weights([w, torch_tconv.bias.detach().numpy()])
        elif isinstance(layer, Add):
            acts[layer.name] = keras.layers.Add(name=layer.name)([acts[s] for s in layer.inputs])
        elif isinstance(layer, FreqPool):
            width = acts[layer.input].shape[2]
            acts[layer.name] = keras.layers.AveragePooling2D((1, width), name=layer.name)(acts[layer.input])
        elif isinstance(layer, Upsample):
            src = acts[layer.input]
            _, t, f, c = src.shape
            cat = keras.layers.Concatenate(axis=3, name=f"{layer.name}__cat")([src] * layer.factor)
            acts[layer.name] = keras.layers.Reshape((t, f * layer.factor, c), name=layer.name)(cat)
        elif isinstance(layer, Shift):
            t = acts[layer.input].shape[1]
            pad = keras.layers.ZeroPadding2D(((layer.frames, 0), (0, 0)), name=f"{layer.name}__pad")(acts[layer.input])
            acts[layer.name] = keras.layers.Cropping2D(((0, layer.frames), (0, 0)), name=layer.name)(pad)
            assert acts[layer.name].shape[1] == t
        elif isinstance(layer, Concat):
            parts = [acts[s] for s in layer.inputs]
            t_len = min(p.shape[1] for p in parts)
            parts = [p if p.shape[1] == t_len else keras.layers.Cropping2D(((0, p.shape[1] - t_len), (0, 0)))(p)
                     for p in parts]
            acts[layer.name] = keras.layers.Concatenate(axis=-1, name=layer.name)(parts)
    return keras.Model(x_in, acts[offline.schedule.output])


def _tconv_freq(keras, offline: OfflineModel, layer: TConvFreq, src):
    """tSTMC as Conv2DTranspose (VALID: TFLite TRANSPOSE_CONV) over the whole sequence, cut by a
    Cropping2D (STRIDED_SLICE) to the first T frames and PyTorch's padding/output_padding bins.
    TRANSPOSE_CONV has no dilation: the kernel is dilated in time with zero taps instead."""
    _, t, width, _ = src.shape
    window = layer.window
    tconv = keras.layers.Conv2DTranspose(layer.cout, (window, layer.kf), strides=(1, layer.fstride), padding="valid",
                                         activation=None if layer.act in ("none", "elu") else layer.act,
                                         name=layer.name)
    full = tconv(src)
    weight, bias = offline.conv_params(layer.name)  # (cin, cout, kt, kf), batch norm folded in
    kernel = np.zeros((window, layer.kf, layer.cout, weight.shape[0]), dtype=np.float32)
    kernel[:: layer.dilation] = weight.numpy().transpose(2, 3, 1, 0)  # tap k at row k*dilation
    tconv.set_weights([kernel, bias.numpy()])
    right = full.shape[2] - layer.pad - layer.out_width(width)
    out = keras.layers.Cropping2D(((0, full.shape[1] - t), (layer.pad, right)), name=f"{layer.name}__crop")(full)
    if layer.act == "elu":
        out = keras.layers.ELU(name=f"{layer.name}__elu")(out)
    return out


def export_tflite(
    offline: OfflineModel, calibration: np.ndarray, frames: int, out_path: Path
) -> TfliteArtifact:
    """Convert to a full-int8 .tflite (per-channel weights, int8 input/output).

    calibration: (sequences, time, freq, channels) float32 representative inputs.
    """
    phases = offline.schedule.phases
    if frames % phases:
        raise SoiError(f"export length {frames} must be a multiple of the model's {phases}-step pattern")
    key = _export_key(offline, calibration, frames)
    cached = cache_dir() / f"{key}.tflite"
    from_cache = cached.is_file()
    if from_cache:  # same spec, weights, calibration and converter: reuse the conversion
        data = cached.read_bytes()
    else:
        data = _convert(offline, calibration, frames)
        _atomic_write(cached, data)
    _atomic_write(out_path, data)
    return TfliteArtifact(out_path, hashlib.sha256(data).hexdigest(), frames, _tf_version(), from_cache)


def cache_dir() -> Path:
    """$SOI_MCU_CACHE/tflite, else ~/.cache/soi-mcu/tflite."""
    root = os.environ.get("SOI_MCU_CACHE")
    return (Path(root).expanduser() if root else Path.home() / ".cache" / "soi-mcu") / "tflite"


def _tf_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    for name in ("tensorflow-cpu", "tensorflow"):
        try:
            return version(name)
        except PackageNotFoundError:
            continue
    return "unknown"


def _export_key(offline: OfflineModel, calibration: np.ndarray, frames: int) -> str:
    """Content hash of everything the conversion depends on."""
    h = hashlib.sha256()
    h.update(repr(offline.spec).encode())
    for name, tensor in sorted(offline.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().cpu().numpy().tobytes())
    h.update(np.ascontiguousarray(calibration, dtype=np.float32).tobytes())
    h.update(f"{frames}|{_tf_version()}|{_EXPORT_FORMAT}".encode())
    return h.hexdigest()[:32]


_EXPORT_FORMAT = 4  # bump when _keras_model changes what it builds


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _convert(offline: OfflineModel, calibration: np.ndarray, frames: int) -> bytes:
    import tensorflow as tf

    model = _keras_model(offline, frames)

    def representative():
        for seq in calibration:
            yield [seq[None, :frames].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return _quiet(converter.convert)


def _quiet(fn):
    """Run fn with the converter's chatter (stdout and C++ stderr) silenced: it is not for our users."""
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 1)
            os.dup2(devnull.fileno(), 2)
            return fn()
    finally:
        sys.stdout.flush()
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)


def reference_outputs(artifact: TfliteArtifact, inputs_q: np.ndarray) -> np.ndarray:
    """Run LiteRT's reference kernels (bit-exact oracle) on int8 input (time, freq, channels)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interp = Interpreter(
        model_path=str(artifact.path), experimental_op_resolver_type=OpResolverType.BUILTIN_REF
    )
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    out = interp.get_output_details()[0]
    t = inputs_q.shape[0]
    if t > artifact.frames:
        raise SoiError(f"reference: {t} frames given, the model was exported for {artifact.frames}")
    padded = np.zeros((1, *inp["shape"][1:]), dtype=np.int8)
    padded[0, :t] = inputs_q
    interp.set_tensor(inp["index"], padded)
    interp.invoke()
    return interp.get_tensor(out["index"])[0, :t].copy()
