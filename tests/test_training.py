"""STFT, SI-SNR, speech data, training, checkpoints, evaluation and the sweep, on tiny settings."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from soi_mcu.errors import SoiError
from soi_mcu.model.config import UNetConfig
from soi_mcu.train.audio import istft, si_snr, si_snri, stft
from soi_mcu.train.speech_data import DnsFolder, SyntheticSpeechNoise, fixed_set, resample, utterance_list, write_wav

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng not installed (apt-get install espeak-ng)")

TINY = UNetConfig(name="tiny", n_fft=64, hop=64, channels=(4, 4, 8, 8, 8, 8, 8), fstride=(2, 1, 2, 1, 1, 1, 1))
RATE = TINY.sample_rate


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory):
    old = os.environ.get("SOI_MCU_CACHE")
    os.environ["SOI_MCU_CACHE"] = str(tmp_path_factory.mktemp("cache"))
    yield
    if old is None:
        os.environ.pop("SOI_MCU_CACHE")
    else:
        os.environ["SOI_MCU_CACHE"] = old


@pytest.fixture(scope="module")
def source(cache) -> SyntheticSpeechNoise:
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng not installed (apt-get install espeak-ng)")
    return SyntheticSpeechNoise(RATE, "train", utterances=8)


def _smooth(n: int, seed: int = 0) -> torch.Tensor:
    t = torch.arange(n) / RATE
    g = torch.Generator().manual_seed(seed)
    freqs = torch.rand(5, generator=g) * 2000 + 100
    return sum(torch.sin(2 * torch.pi * f * t + k) for k, f in enumerate(freqs)).unsqueeze(0) / 5


@pytest.mark.parametrize(("n_fft", "hop"), [(128, 128), (128, 64), (32, 16), (64, 16)])
def test_stft_round_trip(n_fft: int, hop: int) -> None:
    x = _smooth(3000)
    spec = stft(x, n_fft, hop)
    assert spec.shape[-1] == n_fft // 2
    y = istft(spec, n_fft, hop, x.shape[-1])
    assert y.shape == x.shape
    assert float(si_snr(y, x)) > 35  # only the dropped Nyquist bin is missing


def test_stft_rejects_hop_longer_than_frame() -> None:
    with pytest.raises(SoiError, match="hop"):
        stft(torch.zeros(1, 100), 32, 64)


def test_si_snr_properties() -> None:
    g = torch.Generator().manual_seed(1)
    clean = torch.randn(4, 4000, generator=g)
    noisy = clean + 0.5 * torch.randn(4, 4000, generator=g)
    assert torch.allclose(si_snr(3.0 * noisy, clean), si_snr(noisy, clean), atol=1e-4)
    assert torch.allclose(si_snr(noisy, 0.1 * clean), si_snr(noisy, clean), atol=1e-4)
    assert torch.allclose(si_snri(noisy, noisy, clean), torch.zeros(4), atol=1e-5)
    better = clean + 0.1 * (noisy - clean)
    assert bool((si_snri(better, noisy, clean) > 10).all())
    assert float(si_snr(clean, clean).min()) > 60


def test_resample_keeps_a_tone() -> None:
    x = np.sin(2 * np.pi * 440 * np.arange(22050) / 22050).astype(np.float32)
    y = resample(x, 22050, 16000)
    assert len(y) == 16000
    ref = np.sin(2 * np.pi * 440 * np.arange(16000) / 16000)
    assert np.abs(y[100:-100] - ref[100:-100]).max() < 0.01


def test_missing_espeak_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from soi_mcu.train import speech_data

    monkeypatch.setenv("SOI_MCU_CACHE", str(tmp_path))
    monkeypatch.setattr(speech_data.shutil, "which", lambda name: None)
    with pytest.raises(SoiError, match="espeak-ng not found: apt-get install espeak-ng"):
        speech_data.synthesize(utterance_list("train", 1)[0], RATE)


def test_test_sentences_are_held_out() -> None:
    train = {u.text for u in utterance_list("train", 200)}
    test = {u.text for u in utterance_list("test", 50)}
    assert train and test and not train & test
    assert utterance_list("train", 5) == utterance_list("train", 5)


@needs_espeak
def test_synthetic_mixtures_are_reproducible(source: SyntheticSpeechNoise) -> None:
    a = fixed_set(source, 4, 8000, seed=3)
    b = fixed_set(source, 4, 8000, seed=3)
    c = fixed_set(source, 4, 8000, seed=4)
    assert a[0].shape == (4, 8000) and a[0].dtype == np.float32
    assert np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
    assert not np.array_equal(a[0], c[0])
    assert np.abs(a[0]).max() < 1 and float(np.mean(a[1] ** 2)) > 0
    snr = 10 * np.log10(np.sum(a[1] ** 2, 1) / np.sum((a[0] - a[1]) ** 2, 1))
    assert ((snr > -5.5) & (snr < 10.5)).all()


@needs_espeak
def test_training_reduces_the_loss_and_checkpoints_round_trip(source: SyntheticSpeechNoise, tmp_path: Path) -> None:
    from soi_mcu.model.unet import variant_config
    from soi_mcu.train.evaluate import evaluate_checkpoint, evaluate_model
    from soi_mcu.train.speech import enhance, load_checkpoint, loss_fn, train

    noisy, clean = (torch.from_numpy(a) for a in fixed_set(source, 8, 8000, seed=99))
    first = train(TINY, "scc:2", steps=1, seed=0, batch=4, seconds=0.5, lr=1e-2, source=source, log_every=0)
    cfg = variant_config(TINY, "scc:2")
    with torch.no_grad():
        before = float(loss_fn(first.model, noisy, clean, cfg))
    res = train(TINY, "scc:2", steps=30, seed=0, batch=4, seconds=0.5, lr=1e-2, source=source,
                checkpoint=tmp_path / "ck.pt", log_every=0)
    with torch.no_grad():
        after = float(loss_fn(res.model, noisy, clean, cfg))
    assert after < before - 0.3, (before, after)

    model, base, variant, ckpt = load_checkpoint(tmp_path / "ck.pt")
    assert (base, variant, ckpt["step"], ckpt["seed"]) == (TINY, "scc:2", 30, 0)
    with torch.no_grad():
        assert torch.equal(enhance(model, noisy, TINY), enhance(res.model, noisy, TINY))

    ev = evaluate_model(model, TINY, noisy, clean)
    assert ev.si_snri_oracle > 3 and ev.si_snri > 0
    ev2, meta = evaluate_checkpoint(tmp_path / "ck.pt", count=4, seconds=0.5, source=source)
    assert meta["variant"] == "scc:2" and ev2.count == 4


def test_bad_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    from soi_mcu.train.speech import load_checkpoint

    with pytest.raises(SoiError, match="does not exist"):
        load_checkpoint(tmp_path / "nope.pt")
    (tmp_path / "junk.pt").write_text("junk")
    with pytest.raises(SoiError, match="not a soi-mcu checkpoint"):
        load_checkpoint(tmp_path / "junk.pt")


def _dns_folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    (root / "clean" / "sub").mkdir(parents=True)
    (root / "noise").mkdir()
    t = np.arange(RATE) / RATE
    write_wav(root / "clean" / "a.wav", 0.5 * np.sin(2 * np.pi * 300 * t), RATE)
    write_wav(root / "clean" / "sub" / "b.wav", 0.3 * np.sin(2 * np.pi * 500 * t[: RATE // 3]), RATE)
    write_wav(root / "noise" / "n.wav", 0.1 * rng.standard_normal(8000), 8000)  # resampled on load
    return root


def test_dns_folder_loader(tmp_path: Path) -> None:
    data = DnsFolder(_dns_folder(tmp_path / "dns"), RATE)
    assert len(data.clean) == 2 and len(data.noise) == 1
    noisy, clean = fixed_set(data, 5, 4000, seed=1)
    again = fixed_set(data, 5, 4000, seed=1)
    assert noisy.shape == clean.shape == (5, 4000)
    assert np.array_equal(noisy, again[0])
    assert float(np.abs(noisy - clean).max()) > 0 and float(np.abs(clean).max()) > 0


def test_dns_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(SoiError, match="clean/ and noise/"):
        DnsFolder(tmp_path / "missing", RATE)
    (tmp_path / "empty" / "clean").mkdir(parents=True)
    (tmp_path / "empty" / "noise").mkdir()
    with pytest.raises(SoiError, match="has no .wav files"):
        DnsFolder(tmp_path / "empty", RATE)


@needs_espeak
def test_sweep_writes_table_json_and_plot(source: SyntheticSpeechNoise, tmp_path: Path) -> None:
    from soi_mcu.train.sweep import Settings, paper_label, sweep

    st = Settings(steps=2, batch=2, seconds=0.25, eval_count=2, eval_seconds=0.25, int8=True, calibration_count=2)
    state = sweep(TINY, ["scc:1+3"], [0], 2, tmp_path, settings=st)
    assert [r["variant"] for r in state["rows"]] == ["stmc", "scc:1+3"]
    assert state["rows"][1]["mmac_s_retained"] < 1
    assert abs(state["rows"][1]["si_snri_int8_mean"] - state["rows"][1]["si_snri_mean"]) < 1.0
    assert json.loads((tmp_path / "sweep.json").read_text())["settings"]["steps"] == 2
    table = (tmp_path / "table.md").read_text()
    assert "2xS-CC 13" in table and "SI-SNRi int8 (dB)" in table
    assert (paper_label("fp:2/6"), paper_label("sscc:3"), paper_label("scc:5")) == ("S-CC 2 + SC 6", "SS-CC 3", "S-CC 5")


def test_train_and_evaluate_commands_on_a_dns_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from soi_mcu.train import evaluate
    from soi_mcu.train import speech as train

    data = _dns_folder(tmp_path / "dns")
    cfg = tmp_path / "tiny.toml"
    cfg.write_text('[model]\nname = "tiny"\nn_fft = 64\nhop = 64\nchannels = [4, 4, 8, 8, 8, 8, 8]\n'
                   "fstride = [2, 1, 2, 1, 1, 1, 1]\n")
    for module, argv in ((train, [str(cfg), "--variant", "sscc:3", "--steps", "2", "--batch", "2", "--seconds", "0.25",
                                  "--data", str(data), "--out", str(tmp_path / "m.pt")]),
                         (evaluate, [str(tmp_path / "m.pt"), "--count", "2", "--seconds", "0.25", "--data", str(data), "--json",
                                     "--float-only"])):
        p = argparse.ArgumentParser()
        module.add_arguments(p)
        assert module.run_from_args(p.parse_args(argv)) == 0
    out = json.loads(capsys.readouterr().out.split("\n", 1)[1])
    assert out["variant"] == "sscc:3" and out["count"] == 2 and out["step"] == 2
    assert out["si_snri_int8"] is None  # --float-only


def test_int8_evaluation_of_a_checkpoint(cache, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """`soi-mcu evaluate` exports the checkpoint to full int8 and runs it in LiteRT: float and int8 SI-SNRi."""
    from soi_mcu.cli import main
    from soi_mcu.pipeline import quantize_frames
    from soi_mcu.quantize import export_tflite, reference_outputs
    from soi_mcu.train.int8 import int8_outputs
    from soi_mcu.train.speech import load_checkpoint, save_checkpoint, train

    data = DnsFolder(_dns_folder(tmp_path / "dns"), RATE)
    res = train(TINY, "scc:2", steps=3, seed=0, batch=2, seconds=0.25, lr=1e-2, source=data, log_every=0)
    save_checkpoint(res, tmp_path / "m.pt")
    assert main(["evaluate", str(tmp_path / "m.pt"), "--count", "3", "--seconds", "0.3", "--data", str(tmp_path / "dns"),
                 "--calibration", "4", "--json"]) == 0
    text = capsys.readouterr().out
    out = json.loads(text[text.index('{\n  "variant"'):])  # after the converter's chatter (pytest captures it)
    assert out["calibration_count"] == 4 and out["int8_frames"] % 2 == 0  # scc:2: a 2-step pattern
    assert abs(out["si_snri_int8"] - out["si_snri"]) < 1.0 and abs(out["int8_minus_float_db"]) < 1.0
    assert main(["evaluate", str(tmp_path / "m.pt"), "--count", "3", "--seconds", "0.3", "--data", str(tmp_path / "dns"),
                 "--calibration", "4"]) == 0
    assert "int8 (LiteRT reference kernels = firmware)" in capsys.readouterr().out

    # the runner is the firmware's oracle: one sequence through it equals quantize.reference_outputs
    model = load_checkpoint(tmp_path / "m.pt", "cpu")[0]
    rng = np.random.default_rng(0)
    x = rng.uniform(0, 4, (2, 9, TINY.freq_bins, 1)).astype(np.float32)
    run = int8_outputs(model, x[:1], x[1:])
    art = export_tflite(model, np.pad(x[1:], ((0, 0), (0, 1), (0, 0), (0, 0))), 10, tmp_path / "ref.tflite")
    assert run.frames == 10 and art.sha256 == run.sha256
    from soi_mcu.quantize.graph import load_graph

    graph = load_graph(art.path)
    inp, outp = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    ref = reference_outputs(art, quantize_frames(x[0], float(inp.scale[0]), int(inp.zero_point[0])))
    expect = (ref[:9].astype(np.float32) - int(outp.zero_point[0])) * float(outp.scale[0])
    assert np.array_equal(run.outputs[0], expect)


def test_sweep_resumes_a_sweep_json_written_before_int8(tmp_path: Path) -> None:
    import dataclasses

    from soi_mcu.train.sweep import Settings, _previous_runs, format_table

    st = Settings(steps=2)
    old = {k: v for k, v in dataclasses.asdict(st).items() if k not in ("int8", "calibration_count")}
    config = json.loads(json.dumps(dataclasses.asdict(TINY)))
    newest = dataclasses.fields(UNetConfig)[-1].name  # a config field added later, at its default
    old_config = {k: v for k, v in config.items() if k != newest}
    run = {"variant": "stmc", "seed": 0, "si_snri": 1.0}
    (tmp_path / "sweep.json").write_text(json.dumps({"config": old_config, "settings": old, "runs": [run]}))
    state = {"config": config, "settings": dataclasses.asdict(st)}
    assert _previous_runs(tmp_path / "sweep.json", state) == {("stmc", 0): run}
    with pytest.raises(SoiError, match="other settings"):
        _previous_runs(tmp_path / "sweep.json", state | {"settings": dataclasses.asdict(dataclasses.replace(st, int8=True))})
    row = {"label": "STMC", "si_snri_mean": 5.0, "si_snri_std": 0.1, "si_snri_retained": 1.0, "mmac_s": 2.0,
           "mmac_s_retained": 1.0, "precomputed_share": 0.0}
    assert "int8" not in format_table([row])  # no int8 column for a float-only sweep
