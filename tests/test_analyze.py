"""`soi-mcu analyze`: per-layer cost and the fit, before any firmware; it agrees with the built one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soi_mcu.cli import main
from soi_mcu.model import demo_spec
from soi_mcu.model.unet import unet_spec
from soi_mcu.pipeline import analyze_model

from .conftest import have

MODELS = Path(__file__).parent / "models"


@pytest.mark.skipif(not have("arm-none-eabi-gcc"), reason="needs the cross compiler")
def test_analyze_lists_every_layer_and_adds_up(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "demo", "--out", str(tmp_path / "a"), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [r["name"] for r in data["layers"]] == [layer.name for layer in demo_spec().layers]
    assert data["fits"] and data["flash"] > data["estimate"]["weights_flash"] > 0
    assert sum(r["weights"] for r in data["layers"]) == data["estimate"]["weights_flash"]
    assert sum(r["state"] for r in data["layers"]) == data["estimate"]["state"]
    assert sum(r["code"] for r in data["layers"]) <= data["estimate"]["code"]
    assert data["ram"] >= data["estimate"]["state"] + data["estimate"]["arena"] + data["estimate"]["scratch"]
    assert main(["analyze", "demo", "--out", str(tmp_path / "a")]) == 0
    table = capsys.readouterr().out
    assert "enc1_s" in table and "fits mps2-an386: yes" in table and "(model functions)" in table


@pytest.mark.skipif(not have("arm-none-eabi-gcc"), reason="needs the cross compiler")
def test_analyze_says_when_a_model_does_not_fit(tmp_path: Path) -> None:
    from soi_mcu.model.config import load_config

    big = load_config(Path(__file__).parents[1] / "configs" / "unet-mcu-s.toml")
    result = analyze_model(unet_spec(big), "stm32f4_discovery", tmp_path, quiet=True)
    assert result.fits == (result.ram + result.stack <= result.board_ram and result.flash <= result.board_flash)


def test_boards_as_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["boards", "--json"]) == 0
    boards = {b["name"]: b for b in json.loads(capsys.readouterr().out)}
    assert boards["mps2-an386"]["core"] == "cortex-m4" and boards["mps2-an386"]["ram_bytes"] > 0


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
@pytest.mark.parametrize("model, extra", [("demo", []), (f"{MODELS / 'graph_models.py'}:build_unetish", ["--freq-bins", "8"])])
def test_analyze_agrees_with_the_built_firmware(model: str, extra: list, tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", model, *extra, "--out", str(tmp_path / "a"), "--json"]) == 0
    predicted = json.loads(capsys.readouterr().out)
    assert main(["run", model, *extra, "--frames", "8", "--out", str(tmp_path / "r"), "--json"]) == 0
    built = json.loads(capsys.readouterr().out)["model_library"]
    for what in ("flash", "ram"):
        assert abs(predicted[what] - built[what]) <= 0.05 * built[what], (what, predicted[what], built[what])
