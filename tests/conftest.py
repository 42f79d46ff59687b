"""Shared fixtures: the demo model exported once per session (conversion takes seconds), and one cache
for the whole suite."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from soi_mcu.data import synthetic_frames
from soi_mcu.model import ModelSpec, OfflineModel, demo_spec
from soi_mcu.pipeline import quantize_frames
from soi_mcu.quantize import TfliteArtifact, export_tflite, reference_outputs
from soi_mcu.quantize.graph import Graph, load_graph

ROOT = Path(__file__).resolve().parent.parent


def pytest_configure(config: pytest.Config) -> None:
    """SOI_MCU_CACHE, once for the whole suite: the checkout's build/test-cache (make clean removes it)
    unless the caller chose one, so the tests neither read nor fill the user's ~/.cache/soi-mcu. Tests
    of the caches themselves point it at a folder of their own."""
    os.environ.setdefault("SOI_MCU_CACHE", str(ROOT / "build" / "test-cache"))


class Exported:
    """A spec with its float model, .tflite, graph, quantized inputs and LiteRT reference."""

    def __init__(self, spec: ModelSpec, frames: int, out_dir: Path, seed: int = 0, prepare=None) -> None:
        self.spec = spec
        self.offline = randomize_norms(OfflineModel(spec, seed=seed), seed).eval()
        if prepare is not None:  # change the weights before the export (e.g. make them large)
            self.offline = prepare(self.offline)
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


def randomize_norms(model: OfflineModel, seed: int) -> OfflineModel:
    """Give every batch norm non-trivial statistics and affine parameters, as training would, so
    that folding them into the convs is actually exercised; and every PReLU slopes of both signs and
    above 1 (PyTorch starts them all at 0.25, which would leave the int8 slope path one value); and every
    affine LayerNorm a weight and bias of its own."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for prelu in getattr(model, "prelus", {}).values():
            prelu.weight.copy_(torch.rand(prelu.weight.shape, generator=gen) * 1.6 - 0.3)
        for ln in getattr(model, "layernorms", {}).values():
            if ln.elementwise_affine:  # PyTorch starts at 1 and 0, which the export leaves out
                ln.weight.copy_(torch.rand(ln.weight.shape, generator=gen) * 1.5 + 0.25)
                ln.bias.copy_(torch.randn(ln.bias.shape, generator=gen) * 0.3)
        for bn in model.norms.values():
            n = bn.num_features
            bn.running_mean.copy_(torch.randn(n, generator=gen) * 0.5)
            bn.running_var.copy_(torch.rand(n, generator=gen) * 2 + 0.25)
            bn.weight.copy_(torch.rand(n, generator=gen) + 0.5)
            bn.bias.copy_(torch.randn(n, generator=gen) * 0.2)
    return model


def have(*tools: str) -> bool:
    return all(shutil.which(t) for t in tools)
