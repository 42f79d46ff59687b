"""examples/: public streaming architectures written in PyTorch, taken by soi-mcu unchanged."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from soi_mcu.cli import main
from soi_mcu.model.source import load_model
from soi_mcu.model.streaming import check_equivalence

from .conftest import have

EXAMPLES = sorted((Path(__file__).parents[1] / "examples").glob("*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_imports_and_streams(example: Path) -> None:
    offline = load_model(f"{example}:build")
    sched = offline.schedule
    x = torch.randn(3 * sched.receptive_field, offline.spec.freq_bins, offline.spec.in_channels)
    assert check_equivalence(offline, x).ok
    assert "Source:" in example.read_text()  # each example says where it comes from


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("board", ["mps2-an386", "mps3-an547"])
@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_example_runs_bitexact_over_three_receptive_fields(example: Path, board: str, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    frames = 3 * load_model(f"{example}:build").schedule.receptive_field
    code = main(["run", f"{example}:build", "--board", board, "--frames", str(frames), "--out", str(tmp_path),
                 "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 0 and report["bitexact"] and report["frames"] == frames
