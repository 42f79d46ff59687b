"""Mul and Sub (elementwise, two inputs of equal shape), end to end: streaming == offline, int8 export
to TFLite's MUL and SUB, the firmware (arm_elementwise_mul_s8; SUB as arm_elementwise_add_s8 with the
second multiplier negated, as LiteRT computes it) bit-exact with LiteRT on the host and in QEMU."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from soi_mcu.codegen import generate
from soi_mcu.errors import SoiError
from soi_mcu.model import Conv, Duplicate, ModelSpec, OfflineModel, analyze
from soi_mcu.model.streaming import check_equivalence
from soi_mcu.ops import Activation, FreqPool, Mul, Sub
from soi_mcu.plan.lower import lower
from soi_mcu.target.boards import load_board

from .conftest import Exported, have, randomize_norms
from .host_build import run_on_host


def mul_sub_spec(act: str = "none") -> ModelSpec:
    """A mask times a spectrum at full rate, a difference inside an S-CC pair (every other step), the
    difference of the restored frame and the full-rate one (operand order matters), and a square."""
    return ModelSpec("mulsub", 8, 2, (
        Conv("spec", "input", cout=4, act="none"),
        Conv("mask", "spec", cout=4, act="relu6"),
        Mul("masked", ("mask", "spec")),
        Conv("down", "masked", cout=3, stride=2, act=act),
        Conv("down2", "down", cout=3, act="elu"),
        Sub("diff", ("down2", "down")),
        Duplicate("up", "diff"),
        Conv("wide", "up", kt=1, kf=1, cout=4, act="none"),
        Sub("res", ("wide", "masked")),
        Mul("sq", ("res", "res")),
        Conv("out", "sq", cout=2, act="none"),
    ))


def test_mul_sub_stream_equal_offline() -> None:
    model = randomize_norms(OfflineModel(mul_sub_spec(), seed=1), 1)
    x = torch.randn(3 * model.schedule.receptive_field + 3, 8, 2)
    result = check_equivalence(model, x, precompute_between=True)
    assert result.ok, result


def test_mul_sub_float_forms() -> None:
    """Offline, Mul is the product and Sub the first input minus the second."""
    spec = ModelSpec("ms", 4, 2, (Mul("m", ("input", "input")), Sub("s", ("m", "input"))))
    model = OfflineModel(spec, seed=0)
    x = torch.randn(1, 2, 6, 4)
    assert torch.allclose(model(x), x * x - x)


@pytest.mark.parametrize("kind", [Mul, Sub])
def test_mul_sub_take_two_inputs_of_equal_channels(kind: type) -> None:
    with pytest.raises(SoiError, match=f"a {kind.kind} layer takes two inputs, got 3"):
        analyze(ModelSpec("p", 4, 1, (Conv("a", "input", cout=1, act="none"), kind("k", ("a", "input", "a")))))
    with pytest.raises(SoiError, match="takes two inputs, got 1"):
        analyze(ModelSpec("p", 4, 1, (kind("k", ("input",)),)))
    with pytest.raises(SoiError, match="inputs have different channels"):
        analyze(ModelSpec("p", 4, 1, (Conv("a", "input", cout=2, act="none"), kind("k", ("a", "input")))))


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
@pytest.mark.parametrize("act", ["none", "relu"])
def test_mul_sub_on_host_are_bitexact_with_litert(act: str, tmp_path: Path) -> None:
    spec = mul_sub_spec(act)
    frames = 3 * analyze(spec).receptive_field + 2
    ex = Exported(spec, frames, tmp_path, seed=3)
    kinds = [op.kind for op in ex.graph.ops]
    assert kinds.count("MUL") == 2 and kinds.count("SUB") == 2
    plan = lower(spec, ex.graph)
    nodes = {n.name: n for n in plan.nodes if n.kind in ("add", "mul")}
    assert {nodes[k].kind for k in ("masked", "sq")} == {"mul"} and {nodes[k].kind for k in ("diff", "res")} == {"add"}
    assert all(nodes[k].input_multipliers[1] < 0 < nodes[k].input_multipliers[0] for k in ("diff", "res"))
    assert {"arm_elementwise_mul_s8", "arm_elementwise_add_s8"} <= set(plan.kernels)
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))
    assert np.array_equal(run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True), out)


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_mul_sub_model_is_bitexact_in_qemu(board: str, tmp_path: Path) -> None:
    from soi_mcu.pipeline import run

    report = run(randomize_norms(OfflineModel(mul_sub_spec("relu6"), seed=2), 2), board, 24, tmp_path, quiet=True)
    assert report.bitexact, report.mismatched_frames
    assert {"masked", "diff", "res", "sq"} <= {row["name"] for row in report.layers}


def gate_spec() -> ModelSpec:
    """Squeeze-and-excitation: each frame pooled over frequency, a 1x1 conv and a sigmoid give a
    per-channel gate (one bin) that multiplies every bin, with the gate first and second."""
    return ModelSpec("gate", 6, 2, (
        Conv("feat", "input", cout=4, act="relu"),
        FreqPool("pool", "feat"),
        Conv("fc", "pool", kt=1, kf=1, cout=4, act="none"),
        Activation("gate", "fc", fn="sigmoid"),
        Mul("excited", ("feat", "gate")),
        Conv("fc2", "pool", kt=2, kf=1, cout=4, act="none"),
        Mul("excited2", ("fc2", "excited")),
        Conv("out", "excited2", cout=2, act="none"),
    ))


def test_a_one_bin_gate_multiplies_every_bin() -> None:
    model = OfflineModel(gate_spec(), seed=4)
    assert model.schedule.width["excited"] == 6 and model.schedule.width["excited2"] == 6
    x = torch.randn(3 * model.schedule.receptive_field + 2, 6, 2)
    assert check_equivalence(model, x).ok
    with pytest.raises(SoiError, match="different frequency bins"):  # 3 bins against 6: no broadcast
        analyze(ModelSpec("p", 6, 1, (Conv("a", "input", cout=2, fstride=2, act="none"),
                                      Conv("b", "input", cout=2, act="none"), Mul("m", ("a", "b")))))


@pytest.mark.skipif(not have("gcc"), reason="host gcc not installed")
def test_a_one_bin_gate_on_host_is_bitexact_with_litert(tmp_path: Path) -> None:
    spec = gate_spec()
    frames = 3 * analyze(spec).receptive_field + 2
    ex = Exported(spec, frames, tmp_path, seed=5)
    plan = lower(spec, ex.graph)
    nodes = {n.name: n for n in plan.nodes if n.kind == "mul"}
    assert (nodes["excited"].broadcast, nodes["excited2"].broadcast, nodes["excited"].bins) == (1, 0, 6)
    generate(plan, load_board("mps2-an386"), ex.inputs_q, tmp_path / "gen")
    out = run_on_host(tmp_path / "gen", frames, plan.output_size, sanitize=True)
    assert np.array_equal(out, ex.reference.reshape(frames, -1))


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
def test_a_one_bin_gate_is_bitexact_in_qemu(board: str, tmp_path: Path) -> None:
    from soi_mcu.pipeline import run

    report = run(OfflineModel(gate_spec(), seed=6), board, 16, tmp_path, quiet=True)
    assert report.bitexact, report.mismatched_frames
