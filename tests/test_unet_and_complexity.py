"""U-Net configs, SOI variants, and the analytic MAC counts (checked against the stepper's)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from soi_mcu.cli import main
from soi_mcu.errors import SoiError
from soi_mcu.model import OfflineModel, macs_by_phase
from soi_mcu.model.config import load_config
from soi_mcu.model.streaming import StreamingModel, check_equivalence
from soi_mcu.model.unet import all_variants, parse_variant, unet_spec, variant_config
from soi_mcu.report.complexity import complexity

ROOT = Path(__file__).resolve().parent.parent
MCU = ROOT / "configs" / "unet-mcu-s.toml"
NAMED = ["stmc", "scc:2", "scc:1+3", "sscc:3", "fp:1/6", "sc:4", "scc:5", "scc:2+6"]


@pytest.mark.parametrize("variant", NAMED)
def test_unet_variants_stream_equal_offline(variant: str) -> None:
    spec = unet_spec(variant_config(load_config(MCU), variant))
    model = OfflineModel(spec, seed=1)
    frames = 3 * model.schedule.receptive_field + 1  # odd length on purpose
    result = check_equivalence(model, torch.randn(frames, spec.freq_bins, 1), precompute_between=variant.startswith("fp"))
    assert result.ok, result


def test_transposed_extrapolation_streams_equal_offline() -> None:
    import dataclasses

    cfg = dataclasses.replace(variant_config(load_config(MCU), "scc:2+4"), extrapolation="transposed")
    model = OfflineModel(unet_spec(cfg), seed=2)
    result = check_equivalence(model, torch.randn(3 * model.schedule.receptive_field, cfg.freq_bins, 1))
    assert result.ok, result


@pytest.mark.parametrize("variant", ["stmc", "scc:1", "sscc:3", "fp:1/6"])
def test_transposed_upsampling_uses_tstmc_decoders(variant: str) -> None:
    """upsampling = "transposed": the decoders of the frequency-strided layers are tSTMC layers (no
    Upsample left); streaming equals offline and the analytic MACs equal the stepper's count."""
    import dataclasses

    from soi_mcu.model import TConvFreq, Upsample

    cfg = dataclasses.replace(variant_config(load_config(MCU), variant), upsampling="transposed", batch_norm=True)
    spec = unet_spec(cfg)
    tconvs = [layer for layer in spec.layers if isinstance(layer, TConvFreq)]
    assert [t.name for t in tconvs] == ["d5", "d3", "d1"] and not any(isinstance(x, Upsample) for x in spec.layers)
    model = OfflineModel(spec, seed=3)
    frames = 3 * model.schedule.receptive_field + 1
    result = check_equivalence(model, torch.randn(frames, cfg.freq_bins, 1), precompute_between=variant.startswith("fp"))
    assert result.ok, result
    total, _ = macs_by_phase(spec)
    stepper = StreamingModel(OfflineModel(spec))
    stepper.run(torch.randn(2 * len(total), cfg.freq_bins, 1), precompute_between=True)
    assert [stepper.macs_by_step[t] for t in range(2 * len(total))] == list(total) * 2
    # nominal count of a tSTMC frame: cin x cout x kt x kf x input bins, as the paper counts

    sched, d1 = model.schedule, tconvs[-1]
    assert sched.width["d1"] == 2 * sched.width[d1.input] == cfg.freq_bins
    assert d1.macs(sched) == sched.channels[d1.input] * d1.cout * 3 * 3 * sched.width[d1.input]


def test_paper_config_uses_transposed_upsampling() -> None:
    from soi_mcu.model import TConvFreq

    cfg = load_config(ROOT / "configs" / "unet-paper.toml")
    assert cfg.upsampling == "transposed"
    assert sum(isinstance(layer, TConvFreq) for layer in unet_spec(cfg).layers) == 5  # five frequency-strided encoders
    assert load_config(MCU).upsampling == "nearest"  # the default: the committed MCU results stay valid


@pytest.mark.parametrize("variant", ["stmc", "sscc:3"])
def test_batch_norm_unet_trains_and_streams_equal_offline(variant: str) -> None:
    """The paper's U-Net has batch norm after each STMC layer: a training step in batch mode, then the
    stepper (batch norm folded into the convs) equals the offline model in inference mode."""
    import dataclasses

    cfg = dataclasses.replace(variant_config(load_config(MCU), variant), batch_norm=True)
    spec = unet_spec(cfg)
    assert sum(getattr(layer, "norm", False) for layer in spec.layers) == 14  # 7 encoder + 7 decoder convs
    model = OfflineModel(spec, seed=4).train()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    x = torch.randn(2, 40, cfg.freq_bins, 1)
    model(x).square().mean().backward()
    opt.step()
    result = check_equivalence(model, torch.randn(3 * model.schedule.receptive_field + 1, cfg.freq_bins, 1),
                               precompute_between=True)
    assert result.ok, result


def test_paper_config_has_batch_norm() -> None:
    assert load_config(ROOT / "configs" / "unet-paper.toml").batch_norm


@pytest.mark.parametrize("variant", ["stmc", "scc:1", "scc:3+5", "sscc:2", "sc:1", "fp:2/4", "scc:7"])
def test_analytic_macs_equal_the_steppers_count(variant: str) -> None:
    spec = unet_spec(variant_config(load_config(MCU), variant))
    total, deferred = macs_by_phase(spec)
    stepper = StreamingModel(OfflineModel(spec))
    steps = 3 * len(total)
    stepper.run(torch.randn(steps, spec.freq_bins, 1), precompute_between=True)
    # precompute() after the last step already did the next step's early work: leave it out
    assert [stepper.macs_by_step[t] for t in range(steps)] == list(total) * 3
    after_frame = stepper.macs_done - stepper.macs_precomputed
    assert after_frame == 3 * (sum(total) - sum(deferred))


def test_complexity_follows_the_paper_shape() -> None:
    base = load_config(ROOT / "configs" / "unet-paper.toml")
    rows = {r.variant: r for r in complexity(base, all_variants(7))}
    assert rows["stmc"].retained == 1.0 and rows["stmc"].precomputed_share == 0.0
    scc = [rows[f"scc:{p}"].retained for p in range(1, 8)]
    assert scc == sorted(scc) and scc[0] < 0.6  # the earlier the pair, the larger the saving
    assert rows["scc:1+2"].retained < rows["scc:1"].retained  # a nested pair saves more
    fp = rows["sscc:3"]
    assert fp.precomputed_share > 0.3 and fp.after_frame_peak_mmac_s < fp.peak_mmac_s
    assert rows["sc:1"].retained == 1.0 and rows["sc:1"].precomputed_share > 0.5  # a shift saves latency, not MACs


def test_complexity_command_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["complexity", str(MCU), "--variants", "stmc,scc:2", "--json"]) == 0
    out = capsys.readouterr().out
    assert '"variant": "scc:2"' in out and '"retained"' in out


@pytest.mark.parametrize(
    "text, message",
    [
        ("[model]\nchanels = [1]\n", "unknown key 'chanels' in \\[model\\] \\(did you mean 'channels'\\?\\)"),
        ("[modle]\n", "unknown section \\[modle\\] \\(did you mean 'model'\\?\\)"),
        ("[model\n", "malformed TOML"),
        ("[soi]\nscc = [9]\n", "outside the encoder layers 1..7"),
        ("[model]\nfstride = [2, 2]\n", "fstride has 2 entries"),
        ("[model]\nkernel = [3, 2]\n", "odd frequency size"),
        ("[model]\nbatch_norm = 1\n", "\\[model\\] batch_norm = 1: expected true or false"),
        ("[model]\nupsampling = \"bilinear\"\n", "upsampling = \"bilinear\": expected one of \"nearest\""),
    ],
)
def test_bad_configs_are_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(SoiError, match=message):
        load_config(path)


def test_unknown_variant() -> None:
    with pytest.raises(SoiError, match="unknown variant 'scc2'"):
        parse_variant("scc2")


def test_a_variant_says_what_it_means_and_a_repeated_position_is_refused(capsys) -> None:
    from soi_mcu.model.unet import describe_variant

    assert describe_variant("fp:6/1").startswith("FP: S-CC pair at encoder 6, shift after encoder 1 (fully predictive")
    assert describe_variant("scc:1+3") == "S-CC pairs at encoders 1 and 3 (nested; partially predictive)"
    assert describe_variant("stmc").startswith("STMC")
    assert all(describe_variant(v) for v in all_variants(4))
    for text, what in (("sc:1+1", "shift"), ("scc:2+2", "pair"), ("sscc:1+3+1", "pair")):
        with pytest.raises(SoiError, match=rf"variant '{re.escape(text)}': position \d appears twice; each encoder "
                                           rf"layer takes one {what}"):
            parse_variant(text)
    config = Path(__file__).parents[1] / "configs" / "unet-mcu-s.toml"
    assert main(["complexity", str(config), "--variants", "scc:2,fp:6/1"]) == 0
    out = capsys.readouterr().out
    assert "variants:\n  scc:2      S-CC pair at encoder 2 (partially predictive)" in out
    assert "  fp:6/1     FP: S-CC pair at encoder 6, shift after encoder 1" in out
