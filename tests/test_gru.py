"""GRU, end to end: its offline form is torch.nn.GRU run on every bin, streaming == offline, the int8
export is the unrolled cell with one set of scales on every step, the firmware kernel is bit-exact with
LiteRT on the host and in QEMU, and nn.GRU's import (Conv1d models, stacked layers, refusals)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from soi_mcu.codegen import generate
from soi_mcu.errors import SoiError
from soi_mcu.model import Concat, Conv, Duplicate, ModelSpec, OfflineModel, analyze
from soi_mcu.model.from_torch import from_torch
from soi_mcu.model.streaming import check_equivalence
from soi_mcu.ops import GRU
from soi_mcu.plan.lower import lower
from soi_mcu.quantize.graph import match_layers
from soi_mcu.target.boards import load_board

from .conftest import Exported, have
from .host_build import run_on_host


def gru_spec(width: int, hidden: int = 6) -> ModelSpec:
    """A GRU at full rate, and one inside an S-CC pair (it steps every other frame) before a skip."""
    return ModelSpec("gru", width, 2, (
        Conv("a", "input", cout=4, act="none"),
        GRU("r", "a", hidden=hidden),
        Conv("down", "r", cout=3, stride=2, act="relu"),
        GRU("rd", "down", hidden=4),
        Duplicate("up", "rd"),
        Concat("skip", ("up", "r")),
        Conv("out", "skip", cout=2, kt=1, act="none"),
    ))


def strong(model: OfflineModel, gain: float) -> OfflineModel:
    """Scale the GRU weights up so that the gates saturate (wider ranges, gates at their table ends)."""
    with torch.no_grad():
        for gru in model.grus.values():
            for p in gru.parameters():
                p.mul_(gain)
    return model


@pytest.mark.parametrize("width", [1, 3])
def test_gru_is_torch_gru_on_every_bin(width: int) -> None:
    model = OfflineModel(ModelSpec("g", width, 3, (GRU("r", "input", hidden=5),)), seed=0).eval()
    x = torch.randn(2, 7, width, 3)  # (batch, time, freq, channels)
    ref = nn.GRU(3, 5, batch_first=True)
    ref.load_state_dict(model.grus["r"].state_dict())
    with torch.no_grad():
        got = model(x)
        for f in range(width):
            assert torch.allclose(got[:, :, f], ref(x[:, :, f])[0], atol=1e-6)


@pytest.mark.parametrize("width", [1, 4])
def test_gru_streams_equal_offline(width: int) -> None:
    model = strong(OfflineModel(gru_spec(width), seed=1), 2.0)
    assert model.schedule.period["rd"] == 2 and model.schedule.channels["skip"] == 10
    result = check_equivalence(model, torch.randn(30, width, 2), precompute_between=True)
    assert result.ok, result


@pytest.fixture(scope="module")
def exported_16(tmp_path_factory: pytest.TempPathFactory) -> Exported:
    """One bin, hidden 16, saturating gates."""
    return Exported(gru_spec(1, 16), 24, tmp_path_factory.mktemp("gru16"), seed=3, prepare=lambda m: strong(m, 3.0))


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
@pytest.mark.parametrize("case", ["1 bin, hidden 16", "3 bins, hidden 8"])
def test_gru_on_host_is_bitexact_with_litert(case: str, exported_16: Exported, tmp_path: Path) -> None:
    frames = 24
    ex = exported_16 if case.startswith("1") else Exported(gru_spec(3, 8), frames, tmp_path, seed=4)
    kinds = [op.kind for op in ex.graph.ops]
    # every step of both GRUs (24 and 12 steps) is six products and ten elementwise ops
    assert kinds.count("FULLY_CONNECTED") == 6 * 36 and kinds.count("SUB") == 36 and kinds.count("UNPACK") == 2
    plan = lower(ex.spec, ex.graph)
    nodes = plan.of_kind("gru")
    assert [n.name for n in nodes] == ["r", "rd"] and "soi_gru_step_s8" in plan.kernels
    assert nodes[0].batches == ex.spec.freq_bins and nodes[0].tables.shape == (3, 256)
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))
    assert np.array_equal(run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True), out)


def test_a_step_with_other_scales_is_refused(exported_16: Exported) -> None:
    """The firmware runs every step with step 0's parameters: a step that differs is named."""
    graph = exported_16.graph
    match_layers(graph, exported_16.spec)  # as exported: every step the same
    # the output of the last step's r * gh_n (a MUL whose inputs are a LOGISTIC and a FULLY_CONNECTED)
    producer = {o: op for op in graph.ops for o in op.outputs}
    muls = [op for op in graph.ops if op.kind == "MUL" and {producer[i].kind for i in op.inputs if i in producer}
            == {"LOGISTIC", "FULLY_CONNECTED"}]
    last = muls[-1].outputs[0]
    tensors = list(graph.tensors)
    tensors[last] = replace(tensors[last], scale=tensors[last].scale * 2)
    with pytest.raises(SoiError, match=r"step \d+ of the unrolled GRU in the .tflite has other scales or weights "
                                       r"than step 0 at its mul_r"):
        match_layers(replace(graph, tensors=tensors), exported_16.spec)


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_gru_model_is_bitexact_in_qemu(board: str, tmp_path: Path) -> None:
    from soi_mcu.pipeline import run

    report = run(strong(OfflineModel(gru_spec(2, 8), seed=2), 2.0), board, 24, tmp_path, quiet=True)
    assert report.bitexact, report.mismatched_frames
    assert {"r", "rd"} <= {row["name"] for row in report.layers}


class ConvGru(nn.Module):
    """Conv1d front end, a GRU over time between transposes, a residual add and a 1x1 head."""

    def __init__(self, num_layers: int = 1, bias: bool = True, index: bool = False) -> None:
        super().__init__()
        self.inp = nn.Conv1d(5, 8, 1)
        self.gru = nn.GRU(8, 8, num_layers=num_layers, bias=bias, batch_first=True)
        self.head = nn.Conv1d(8, 3, 1)
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.inp(x))
        if self.index:
            r = self.gru(h.transpose(1, 2))[0]
        else:
            r, _ = self.gru(h.transpose(1, 2))
        return self.head(r.transpose(1, 2) + h)


@pytest.mark.parametrize(("kwargs", "names"), [({}, ["model_gru"]), ({"index": True, "bias": False}, ["model_gru"]),
                                               ({"num_layers": 2}, ["model_gru_l0", "model_gru_l1"])])
def test_nn_gru_imports_between_transposes_of_a_conv1d_model(kwargs: dict, names: list[str]) -> None:
    torch.manual_seed(0)
    offline = from_torch(ConvGru(**kwargs).eval())  # checks its outputs against the module's
    layers = offline.spec.layers
    assert [layer.kind for layer in layers] == ["conv", *["gru"] * len(names), "add", "conv"]
    assert [layer.name for layer in layers if layer.kind == "gru"] == names
    assert check_equivalence(offline, torch.randn(10, 1, 5)).ok


def test_nn_gru_refusals() -> None:
    class Bidirectional(ConvGru):
        def __init__(self) -> None:
            super().__init__()
            self.gru = nn.GRU(8, 4, batch_first=True, bidirectional=True)

    with pytest.raises(SoiError, match=r"^model\.gru \(GRU\): bidirectional=True reads future frames; a streaming model "
                                       r"needs a unidirectional GRU over time \(bidirectional=False\); over the bins"):
        from_torch(Bidirectional())
    with pytest.raises(SoiError, match=r"give it \(batch, time, features\)"):
        from_torch(nn.Sequential(nn.Conv1d(4, 4, 1), nn.GRU(4, 4, batch_first=True)))


def test_gru_needs_a_hidden_size() -> None:
    with pytest.raises(SoiError, match="hidden must be >= 1"):
        analyze(ModelSpec("m", 1, 2, (GRU("r", "input", hidden=0),)))
