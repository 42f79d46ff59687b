"""`soi-mcu profile`: variants built and simulated, ratios to STMC, files, and --compare (slow)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soi_mcu.cli import main

from .conftest import have

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"), reason="needs the cross toolchain and QEMU"),
]


def test_profile_two_variants_and_compare(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = ROOT / "configs" / "unet-mcu-s.toml"
    args = ["profile", str(config), "--variants", "sscc:3", "--frames", "8", "--out", str(tmp_path / "a")]
    assert main(args) == 0
    data = json.loads((tmp_path / "a" / "profile.json").read_text())
    rows = {r["variant"]: r for r in data["variants"]}
    assert set(rows) == {"stmc", "sscc:3"}  # STMC is always profiled: it is the reference
    assert all(r["bitexact"] for r in rows.values())
    assert rows["stmc"]["cycle_ratio"] == 1.0
    fp = rows["sscc:3"]
    assert fp["mac_ratio"] < 1.0 and fp["cycle_ratio"] < 1.0
    assert fp["step_peak_cycles"] < 0.6 * rows["stmc"]["step_peak_cycles"]  # FP lowers the peak after a frame
    assert (tmp_path / "a" / "profile.csv").read_text().startswith("variant,")
    assert (tmp_path / "a" / "profile.png").stat().st_size > 0
    if abs(fp["cycle_ratio"] / fp["mac_ratio"] - 1) > 0.05:  # a deviation beyond 5 % comes with its reasons
        assert "MAC/cycle" in fp["deviation"] and "outside conv work" in fp["deviation"]
    assert 0 < fp["conv_mac_per_cycle"] and 0 <= fp["non_mac_share"] < 1
    capsys.readouterr()
    sweep = tmp_path / "sweep.json"
    sweep.write_text(json.dumps({"rows": [{"variant": "stmc", "si_snri_mean": 5.0}, {"variant": "sscc:3", "si_snri_mean": 4.5}]}))
    args = ["profile", str(config), "--variants", "sscc:3", "--frames", "8", "--out", str(tmp_path / "b"),
            "--compare", str(tmp_path / "a" / "profile.json"), "--quality", str(sweep)]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "sscc:3" in out and "+0 (+0.0%)" in out  # same inputs, same counts: a zero delta
    rows = {r["variant"]: r for r in json.loads((tmp_path / "b" / "profile.json").read_text())["variants"]}
    assert rows["sscc:3"]["si_snri_db"] == 4.5 and "SI-SNRi 4.50 dB" in out


def test_profile_rejects_a_bad_variant_before_building(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", str(ROOT / "configs" / "unet-mcu-s.toml"), "--variants", "scc:9", "--out", str(tmp_path)]) == 2
    assert "outside the encoder layers" in capsys.readouterr().err
