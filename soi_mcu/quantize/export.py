"""Full-int8 export with TensorFlow's converter, and the golden int8 reference from LiteRT.

The exported graph is the *offline* model over a fixed number of frames: causal padding in time,
the S-CC pair as a time-strided conv and a duplication (concat + reshape: UpSampling2D would become
TILE, which the reference interpreter lacks). The firmware runs the same int8 arithmetic frame by
frame, so the reference for every streamed frame is this offline run.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soi_mcu import cache, paths
from soi_mcu.errors import SoiError
from soi_mcu.model.offline import OfflineModel
from soi_mcu.ops.base import KerasActs
from soi_mcu.quantize.rewrite import int8_elu

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@dataclass(frozen=True)
class TfliteArtifact:
    path: Path
    sha256: str
    frames: int  # time length the graph was exported with
    converter_version: str
    from_cache: bool = False  # the conversion was reused (same spec, weights, calibration, converter)


def _keras_model(offline: OfflineModel, frames: int, calibration: np.ndarray):
    """Each layer kind builds its own Keras layers (soi_mcu/ops/); a kind that fixes its own int8
    ranges reads the float activations of the calibration frames from `acts` (KerasActs)."""
    import keras

    spec = offline.spec
    x_in = keras.Input(shape=(frames, spec.freq_bins, spec.in_channels), batch_size=1, name="input")
    acts = KerasActs({"input": x_in}, lambda: _float_activations(offline, calibration[:, :frames]))
    for layer in spec.layers:
        acts[layer.name] = layer.keras(keras, offline, acts)
    return keras.Model(x_in, acts[offline.schedule.output])


def _float_activations(offline: OfflineModel, frames: np.ndarray) -> dict:
    """Every layer's float output on the calibration frames, as the export computes (inference
    statistics: the batch norms are folded in the export)."""
    import torch

    training = offline.training
    offline.eval()
    try:
        with torch.no_grad():
            return offline.activations(torch.from_numpy(np.ascontiguousarray(frames, dtype=np.float32)))
    finally:
        offline.train(training)


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
    # same spec, weights, calibration and converter: reuse the conversion, if its bytes are the ones stored
    data = cache.load(cached)
    from_cache = data is not None
    if data is None:
        data = _convert(offline, calibration, frames)
        cache.store(cached, data)
    _atomic_write(out_path, data)
    return TfliteArtifact(out_path, hashlib.sha256(data).hexdigest(), frames, _tf_version(), from_cache)


def cache_dir() -> Path:
    """$SOI_MCU_CACHE/tflite, else ~/.cache/soi-mcu/tflite."""
    return paths.cache_dir("tflite")


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


_EXPORT_FORMAT = 7  # bump when the Keras export changes what it builds (7: the op registry, same graph)


def _atomic_write(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def _convert(offline: OfflineModel, calibration: np.ndarray, frames: int) -> bytes:
    import tensorflow as tf

    model = _keras_model(offline, frames, calibration)

    def representative():
        for seq in calibration:
            yield [seq[None, :frames].astype(np.float32)]

    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    converter.optimizations = [tf.lite.Optimize.DEFAULT]
    converter.representative_dataset = representative
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
    converter.inference_input_type = tf.int8
    converter.inference_output_type = tf.int8
    return int8_elu(_quiet(converter.convert))


def _quiet(fn):
    """Run fn with the converter's chatter (stdout and C++ stderr) silenced: it is not for our users.
    When the converter fails, its own error line (from that chatter) is the message."""
    import tempfile

    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    log = tempfile.TemporaryFile(mode="w+")
    try:
        with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
            # fds for the C++ side, sys.stdout for Python prints where it is not fd 1 (a captured stdout)
            os.dup2(devnull.fileno(), 1)
            os.dup2(log.fileno(), 2)
            return fn()
    except (RuntimeError, ValueError) as exc:  # the converter's ConverterError is a ValueError...
        log.seek(0)
        errors = [line.strip() for line in log.read().splitlines() if "error" in line.lower()]
        detail = (errors[-1] if errors else str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)
        raise SoiError(f"TensorFlow's converter failed on this model's int8 export ({detail[:300]}); please report "
                       "it with the model (the float model and streaming check are fine)") from None
    finally:
        sys.stdout.flush()
        for fd, copy in zip((1, 2), saved, strict=True):
            os.dup2(copy, fd)
            os.close(copy)
        log.close()
