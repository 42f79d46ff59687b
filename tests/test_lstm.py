"""LSTM, end to end: its offline form is torch.nn.LSTM run on every bin, streaming == offline, the
int8 export is one full-integer UNIDIRECTIONAL_SEQUENCE_LSTM, the firmware kernel is bit-exact with
LiteRT on the host and in QEMU, and nn.LSTM's importer handler."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

from soi_mcu.codegen import generate
from soi_mcu.errors import SoiError
from soi_mcu.model import Concat, Conv, Duplicate, ModelSpec, OfflineModel, analyze
from soi_mcu.model.streaming import check_equivalence
from soi_mcu.ops import LSTM
from soi_mcu.plan.lower import lower
from soi_mcu.target.boards import load_board

from .conftest import Exported, have
from .host_build import run_on_host


def lstm_spec(width: int, hidden: int = 6) -> ModelSpec:
    """An LSTM at full rate, and one inside an S-CC pair (it steps every other frame) before a skip."""
    return ModelSpec("lstm", width, 2, (
        Conv("a", "input", cout=4, act="none"),
        LSTM("r", "a", hidden=hidden),
        Conv("down", "r", cout=3, stride=2, act="relu"),
        LSTM("rd", "down", hidden=4),
        Duplicate("up", "rd"),
        Concat("skip", ("up", "r")),
        Conv("out", "skip", cout=2, kt=1, act="none"),
    ))


def strong(model: OfflineModel, gain: float) -> OfflineModel:
    """Scale the LSTM weights up so that the gates saturate and the cell state leaves [-1, 1] (the
    converter then gives it a coarser power-of-two scale and tanh more integer bits)."""
    with torch.no_grad():
        for lstm in model.lstms.values():
            for p in lstm.parameters():
                p.mul_(gain)
    return model


@pytest.mark.parametrize("width", [1, 3])
def test_lstm_is_torch_lstm_on_every_bin(width: int) -> None:
    model = OfflineModel(ModelSpec("l", width, 3, (LSTM("r", "input", hidden=5),)), seed=0).eval()
    x = torch.randn(2, 7, width, 3)  # (batch, time, freq, channels)
    ref = nn.LSTM(3, 5, batch_first=True)
    ref.load_state_dict(model.lstms["r"].state_dict())
    with torch.no_grad():
        got = model(x)
        for f in range(width):
            assert torch.allclose(got[:, :, f], ref(x[:, :, f])[0], atol=1e-6)


@pytest.mark.parametrize("width", [1, 4])
def test_lstm_streams_equal_offline(width: int) -> None:
    model = strong(OfflineModel(lstm_spec(width), seed=1), 2.0)
    assert model.schedule.period["rd"] == 2 and model.schedule.channels["skip"] == 10
    x = torch.randn(30, width, 2)
    result = check_equivalence(model, x, precompute_between=True)
    assert result.ok, result


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
@pytest.mark.parametrize(("width", "hidden", "gain"), [(1, 16, 3.0), (3, 6, 1.0)])
def test_lstm_on_host_is_bitexact_with_litert(width: int, hidden: int, gain: float, tmp_path: Path) -> None:
    spec = lstm_spec(width, hidden)
    frames = 40
    ex = Exported(spec, frames, tmp_path, seed=3, prepare=lambda m: strong(m, gain))
    kinds = [op.kind for op in ex.graph.ops]
    assert kinds.count("UNIDIRECTIONAL_SEQUENCE_LSTM") == 2
    plan = lower(spec, ex.graph)
    nodes = plan.of_kind("lstm")
    assert [n.name for n in nodes] == ["r", "rd"] and "soi_lstm_step_s8" in plan.kernels
    if gain > 1:  # the cell state left [-1, 1): tanh of the cell runs with integer bits
        assert nodes[0].cell_scale_log2 > -15
    else:  # a cell state within [-1/2, 1/2): LiteRT's kernel skips tanh(c) there, and so does the firmware
        assert min(n.cell_scale_log2 for n in nodes) < -15
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))
    assert np.array_equal(run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True), out)


class _Builder:
    """The importer's side of a registered kind's handler (soi_mcu/model/torch_layers.py)."""

    def __init__(self) -> None:
        self.source, self.layers, self.loaders = "a", [], []

    def layer_name(self, path: str) -> str:
        return path.replace(".", "_")

    def append(self, layer, load=None) -> None:
        self.layers.append(layer)
        self.source = layer.name
        self.loaders.append(load)


def test_nn_lstm_imports_as_a_stack_of_layers() -> None:
    torch.manual_seed(0)
    module = nn.LSTM(4, 6, num_layers=2, batch_first=True, dropout=0.1).eval()
    builder = _Builder()
    LSTM.torch_imports[nn.LSTM](builder, "enc.rnn", module)
    assert [(x.name, x.inputs, x.hidden) for x in builder.layers] == [("enc_rnn_l0", ("a",), 6),
                                                                    ("enc_rnn_l1", ("enc_rnn_l0",), 6)]
    spec = ModelSpec("imp", 1, 4, (Conv("a", "input", cout=4, kt=1, kf=1, act="none"), *builder.layers))
    offline = OfflineModel(spec).eval()
    with torch.no_grad():
        offline.convs["a"].weight.copy_(torch.eye(4)[:, :, None, None])
        offline.convs["a"].bias.zero_()
        for load in builder.loaders:
            load(offline)
        x = torch.randn(1, 9, 1, 4)
        want = module(x[:, :, 0])[0]
        assert torch.allclose(offline(x)[:, :, 0], want, atol=1e-6)
    assert check_equivalence(offline, x[0]).ok


@pytest.mark.parametrize(("kwargs", "message"), [({"bidirectional": True}, "bidirectional=True reads future"),
                                                 ({"proj_size": 2}, "proj_size=2 is not supported")])
def test_nn_lstm_refusals(kwargs: dict, message: str) -> None:
    with pytest.raises(SoiError, match=message):
        LSTM.torch_imports[nn.LSTM](_Builder(), "rnn", nn.LSTM(4, 6, **kwargs))


def test_lstm_input_size_mismatch_is_named() -> None:
    builder = _Builder()
    LSTM.torch_imports[nn.LSTM](builder, "rnn", nn.LSTM(5, 6))
    offline = OfflineModel(ModelSpec("m", 1, 4, (Conv("a", "input", cout=4, act="none"), *builder.layers)))
    with pytest.raises(SoiError, match="input_size 5 but its input has 4 channels"), torch.no_grad():
        builder.loaders[0](offline)


def test_lstm_needs_a_hidden_size() -> None:
    with pytest.raises(SoiError, match="hidden must be >= 1"):
        analyze(ModelSpec("m", 1, 2, (LSTM("r", "input", hidden=0),)))


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_lstm_model_is_bitexact_in_qemu(board: str, tmp_path: Path) -> None:
    from soi_mcu.pipeline import run

    report = run(strong(OfflineModel(lstm_spec(2, 8), seed=2), 2.0), board, 24, tmp_path, quiet=True)
    assert report.bitexact, report.mismatched_frames
    assert {"r", "rd"} <= {row["name"] for row in report.layers}
