"""The full-int8 export of a trained model run as the firmware runs it: LiteRT's reference kernels, the
oracle the firmware is checked against bit for bit. Used by the speech evaluation (SI-SNRi) and the
scene classifier's (top-1) alike, so it sits apart from both.
"""

from __future__ import annotations

import copy
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from soi_mcu.errors import SoiError
from soi_mcu.model import OfflineModel


@dataclass(frozen=True)
class Int8Run:
    outputs: np.ndarray  # dequantized model outputs, (sequences, time, freq, channels) float32
    frames: int  # export length
    sha256: str  # of the .tflite
    from_cache: bool


def int8_outputs(model: OfflineModel, inputs: np.ndarray, calibration: np.ndarray, keep: Path | None = None) -> Int8Run:
    """Export `model` to full int8 (calibrated on `calibration`) and run each sequence of `inputs` through
    `quantize.reference_outputs` (LiteRT's reference kernels: the firmware's bit-exact oracle), from a reset state.

    inputs, calibration: (sequences, time, freq, channels) float model inputs of the same time length.
    The .tflite is exported for that length rounded up to the model's step pattern (the tail is zero
    padding; the layers are causal, so it does not change the frames before it). keep: also write the
    .tflite there.
    """
    from soi_mcu.quantize import export_tflite, reference_outputs
    from soi_mcu.quantize.graph import load_graph

    if inputs.ndim != 4 or calibration.ndim != 4 or inputs.shape[1:] != calibration.shape[1:]:
        raise SoiError(f"int8 evaluation: inputs {inputs.shape} and calibration {calibration.shape} must be "
                       "(sequences, time, freq, channels) of the same shape per sequence")
    t_len = inputs.shape[1]
    phases = model.schedule.phases
    frames = -(-t_len // phases) * phases

    def pad(x: np.ndarray) -> np.ndarray:
        return np.pad(np.asarray(x, np.float32), ((0, 0), (0, frames - t_len), (0, 0), (0, 0)))

    cpu_model = copy.deepcopy(model).cpu().eval()
    with tempfile.TemporaryDirectory(prefix="soi-int8-") as tmp:
        artifact = export_tflite(cpu_model, pad(calibration), frames, keep or Path(tmp) / "model.tflite")
        graph = load_graph(artifact.path)
        inp, out = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
        in_scale, in_zero = float(inp.scale[0]), int(inp.zero_point[0])
        out_scale, out_zero = float(out.scale[0]), int(out.zero_point[0])
        results = []
        for seq in pad(inputs):
            q = np.clip(np.floor(seq / in_scale + 0.5) + in_zero, -128, 127).astype(np.int8)  # as TFLite's QUANTIZE
            y = reference_outputs(artifact, q)[:t_len].astype(np.float32)
            results.append((y - out_zero) * out_scale)
    return Int8Run(np.stack(results), frames, artifact.sha256, artifact.from_cache)
