"""`soi-mcu profile`: variants built and simulated, ratios to STMC, files, and --compare (slow); quality from
checkpoints (fast: the builds are replaced by fixed rows)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from soi_mcu.cli import main

from .conftest import have

ROOT = Path(__file__).resolve().parent.parent
needs_simulator = pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"),
                                     reason="needs the cross toolchain and QEMU")


@pytest.mark.slow
@needs_simulator
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


@pytest.mark.slow
@needs_simulator
def test_profile_rejects_a_bad_variant_before_building(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["profile", str(ROOT / "configs" / "unet-mcu-s.toml"), "--variants", "scc:9", "--out", str(tmp_path)]) == 2
    assert "outside the encoder layers" in capsys.readouterr().err


def _row(variant: str, cycles: float, **quality) -> object:
    from soi_mcu.profile import VariantCost

    return VariantCost(variant=variant, bitexact=True, analytic_avg_mmac_s=1.0, mac_ratio=cycles / 1000, avg_cycles=cycles,
                       peak_cycles=int(cycles), step_peak_cycles=int(cycles), cycle_ratio=cycles / 1000, peak_ratio=1.0,
                       mac_per_cycle=0.5, cpu_load=0.1, ram_static=1000, ram_stack_peak=100, ram_state=10, flash=5000,
                       non_mac_share=0.2, conv_mac_per_cycle=0.6, deviation="", **quality)


def test_profile_quality_from_checkpoints(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    """--checkpoints: each variant's float and int8 SI-SNRi on one held-out set, in the table, JSON and plot."""
    from soi_mcu import profile as profile_mod
    from soi_mcu.errors import SoiError
    from soi_mcu.model.config import load_config
    from soi_mcu.train.quality import find_checkpoints
    from soi_mcu.train.speech import train
    from soi_mcu.train.speech_data import DnsFolder

    from .test_training import _dns_folder

    monkeypatch.setenv("SOI_MCU_CACHE", str(tmp_path / "cache"))
    config = ROOT / "configs" / "unet-mcu-s.toml"
    base = load_config(config)
    dns = _dns_folder(tmp_path / "dns")
    data = DnsFolder(dns, base.sample_rate)
    ckpts = tmp_path / "sweep" / "checkpoints"
    for v, name in (("stmc", "stmc_seed0.pt"), ("stmc", "stmc_seed1.pt"), ("sscc:3", "anything.pt"), ("scc:5", "scc_5.pt")):
        train(base, v, steps=1, seed=int(name[-4] == "1"), batch=1, seconds=0.25, source=data, checkpoint=ckpts / name,
              log_every=0)
    found = find_checkpoints(base, ["stmc", "sscc:3", "scc:2"], tmp_path / "sweep")  # the sweep's OUT folder
    assert [len(found[v]) for v in ("stmc", "sscc:3", "scc:2")] == [2, 1, 0]  # by content, not by file name

    seen = {}

    def fake_profile(base, board, variants, frames, out_dir, quality):  # no firmware builds in this test
        seen["variants"] = variants
        return [_row("stmc", 1000.0, **profile_mod._quality_fields(quality["stmc"])),
                _row("sscc:3", 600.0, **profile_mod._quality_fields(quality["sscc:3"])),
                _row("scc:2", 500.0)]

    monkeypatch.setattr(profile_mod, "profile", fake_profile)
    out = tmp_path / "out"
    assert main(["profile", str(config), "--variants", "sscc:3,scc:2", "--checkpoints", str(ckpts), "--eval-count", "2",
                 "--eval-seconds", "0.3", "--calibration", "2", "--data", str(dns), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "no checkpoint for scc:2" in captured.err
    rows = {r["variant"]: r for r in json.loads((out / "profile.json").read_text())["variants"]}
    for v in ("stmc", "sscc:3"):
        assert rows[v]["si_snri_int8_db"] is not None and abs(rows[v]["si_snri_int8_db"] - rows[v]["si_snri_db"]) < 1.5
        assert "2 held-out mixtures x 0.3 s" in rows[v]["quality_source"]
    assert "2 runs averaged" in rows["stmc"]["quality_source"]
    assert rows["scc:2"]["si_snri_db"] is None
    assert "int8 (LiteRT = firmware)" in captured.out and (out / "profile.png").stat().st_size > 0
    units = json.loads((out / "profile.json").read_text())["units"]
    assert "measured" in units["si_snri_int8_db"] and "dB" in units["si_snri_int8_db"]

    assert main(["profile", str(config), "--checkpoints", str(ckpts), "--quality", "x.json", "--out", str(out)]) == 2
    assert "not both" in capsys.readouterr().err
    other = dataclasses.replace(base, channels=(4, 4, 8, 8, 8, 8, 8))
    with pytest.raises(SoiError, match="differ from those of"):
        find_checkpoints(other, ["stmc"], ckpts)
    with pytest.raises(SoiError, match="no checkpoint of variants"):
        find_checkpoints(base, ["scc:1"], ckpts)
