"""Synthetic acoustic scenes, the scene classifier's training, and its float and int8 top-1 accuracy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from soi_mcu.cli import main
from soi_mcu.errors import SoiError
from soi_mcu.train import scene_audio, scene_features
from soi_mcu.train import scene_classifier as scenes


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """A cache of its own, and one torch thread: this small model trains ~5x faster with one thread than
    with two on the shared 2-core machines CI runs on."""
    monkeypatch.setenv("SOI_MCU_CACHE", str(tmp_path / "cache"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_scene_clips_are_seeded_balanced_and_levelled() -> None:
    audio, labels = scene_audio.scene_clips(16, 0.5, seed=3)
    again, labels2 = scene_audio.scene_clips(16, 0.5, seed=3)
    other, _ = scene_audio.scene_clips(16, 0.5, seed=4)
    assert audio.shape == (16, 8000) and audio.dtype == np.float32
    assert np.array_equal(audio, again) and np.array_equal(labels, labels2) and not np.array_equal(audio, other)
    assert np.bincount(labels, minlength=len(scene_audio.SCENES)).tolist() == [2] * len(scene_audio.SCENES)
    rms_db = 20 * np.log10(np.sqrt(np.mean(audio.astype(float) ** 2, 1)))
    assert ((rms_db > -40.5) & (rms_db < -19.5)).all()  # random level: the level does not give the class away
    assert np.isfinite(audio).all() and np.abs(audio).max() < 1


def test_scene_features_match_the_classifier_input() -> None:
    feats = scene_features.scene_features(scene_audio.scene_clips(3, 1.0, seed=0)[0])
    model = scenes.scene_model("scc:2")
    assert feats.shape == (3, 51, scene_features.MEL_BINS, 1)  # 50 frames/s, causal frames
    assert model.spec.freq_bins == scene_features.MEL_BINS and model.spec.frame_rate_hz == 50.0
    assert -2 < float(feats.min()) and float(feats.max()) < 5  # standardized log-mel
    fb = scene_features.mel_filterbank()
    assert np.allclose(fb.sum(1), 1) and (fb >= 0).all()
    with torch.no_grad():
        assert scenes.frame_logits(model, feats).shape == (3, 51, len(scene_audio.SCENES))


def test_tiny_training_beats_chance_in_float_and_int8(tmp_path: Path) -> None:
    """A seeded run of a few seconds: clearly above chance (12.5 %), and the int8 export (LiteRT) reported."""
    res = scenes.train_scenes("scc:2", steps=120, seed=0, batch=32, clips=160, seconds=1.0, lr=3e-2,
                              checkpoint=tmp_path / "s.pt", log_every=0)
    assert res.losses[-1] < res.losses[0]
    feats, labels = scene_features.scene_set(64, 1.0, seed=scenes.EVAL_SEED)
    calib = scene_features.scene_set(8, 1.0, seed=scenes.CALIBRATION_SEED)[0]
    ev = scenes.evaluate_scenes(res.model, feats, labels, seconds=1.0, calibration=calib)
    assert ev.top1 > 0.4, ev  # > 3x chance (0.125)
    assert ev.top1_int8 is not None and ev.top1_int8 > 0.4 and abs(ev.top1_int8 - ev.top1) <= 0.1, ev
    assert ev.int8_frames == 52 and ev.calibration_count == 8  # 51 frames, rounded up to the S-CC's 2-step pattern
    assert set(ev.per_class) == set(scene_audio.SCENES)
    text = scenes.format_scene_evaluation(ev)
    assert "top-1 int8" in text and "chance 12.5%" in text

    model, variant, ckpt = scenes.load_scene_checkpoint(tmp_path / "s.pt", "cpu")
    assert variant == "scc:2" and ckpt["kind"] == "scene" and ckpt["step"] == 120
    with torch.no_grad():
        assert torch.equal(scenes.frame_logits(model, feats[:4]), scenes.frame_logits(res.model.cpu(), feats[:4]))


def test_train_and_evaluate_commands(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    ck = tmp_path / "stmc.pt"
    assert main(["train", "scenes", "--variant", "stmc", "--steps", "3", "--batch", "4", "--clips", "8",
                 "--seconds", "0.5", "--out", str(ck)]) == 0
    assert "checkpoint" in capsys.readouterr().out
    assert main(["evaluate", str(ck), "--count", "8", "--seconds", "0.5", "--calibration", "2", "--json"]) == 0
    text = capsys.readouterr().out
    out = json.loads(text[text.index('{\n  "variant"'):])  # after the converter's chatter (pytest captures it)
    assert out["task"] == "scenes" and out["variant"] == "stmc" and out["count"] == 8
    assert 0 <= out["top1"] <= 1 and 0 <= out["top1_int8"] <= 1 and out["int8_frames"] == 26
    assert main(["evaluate", str(ck), "--count", "8", "--seconds", "0.5", "--float-only"]) == 0
    assert "top-1 float" in capsys.readouterr().out
    assert main(["train", "scenes", "--variant", "scc:7", "--steps", "1", "--out", str(tmp_path / "x.pt")]) == 2
    assert "unknown classifier variant" in capsys.readouterr().err


def test_checkpoint_kinds_are_told_apart(tmp_path: Path) -> None:
    from soi_mcu.train.speech import load_checkpoint

    res = scenes.train_scenes("stmc", steps=1, batch=2, clips=2, seconds=0.25, log_every=0, checkpoint=tmp_path / "s.pt")
    assert res.checkpoint is not None
    with pytest.raises(SoiError, match="scene classifier checkpoint, not a U-Net one"):
        load_checkpoint(tmp_path / "s.pt")
    ckpt = torch.load(tmp_path / "s.pt", weights_only=True)
    ckpt["config"]["mel_bins"] = 40
    torch.save(ckpt, tmp_path / "other.pt")
    with pytest.raises(SoiError, match="another scene front end"):
        scenes.load_scene_checkpoint(tmp_path / "other.pt")
    assert os.path.getsize(tmp_path / "s.pt") > 0
