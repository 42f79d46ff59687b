"""Shared fixtures: the demo model exported once per session (conversion takes seconds)."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from soi_mcu.data import synthetic_frames
from soi_mcu.model import ModelSpec, OfflineModel, demo_spec
from soi_mcu.pipeline import quantize_frames
from soi_mcu.quantize import TfliteArtifact, export_tflite, reference_outputs
from soi_mcu.tflite_graph import Graph, load_graph


class Exported:
    """A spec with its float model, .tflite, graph, quantized inputs and LiteRT reference."""

    def __init__(self, spec: ModelSpec, frames: int, out_dir: Path, seed: int = 0) -> None:
        self.spec = spec
        self.offline = OfflineModel(spec, seed=seed).eval()
        phases = self.offline.schedule.phases
        export_len = -(-frames // phases) * phases
        calib = np.stack([synthetic_frames(export_len, spec.freq_bins, spec.in_channels, seed=seed + 10 + i)
                          for i in range(4)])
        self.artifact: TfliteArtifact = export_tflite(self.offline, calib, export_len, out_dir / "model.tflite")
        self.graph: Graph = load_graph(self.artifact.path)
        inp = self.graph.tensors[self.graph.inputs[0]]
        self.x = synthetic_frames(frames, spec.freq_bins, spec.in_channels, seed=seed + 1)
        self.inputs_q = quantize_frames(self.x, float(inp.scale[0]), int(inp.zero_point[0]))
        self.reference = reference_outputs(self.artifact, self.inputs_q)


@pytest.fixture(scope="session")
def demo_export(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    torch.manual_seed(0)
    return Exported(demo_spec(), 64, tmp_path_factory.mktemp("demo"))


def have(*tools: str) -> bool:
    return all(shutil.which(t) for t in tools)
