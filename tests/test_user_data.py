"""A user's data and frame rate: --calibration frames (checked before any long work), --frame-rate."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from soi_mcu.cli import main
from soi_mcu.data import load_frames, synthetic_frames
from soi_mcu.errors import SoiError
from soi_mcu.model import OfflineModel, demo_spec
from soi_mcu.model.source import load_model
from soi_mcu.model.streaming import EquivalenceResult, check_equivalence
from soi_mcu.pipeline import calibration_windows, export, float_model
from soi_mcu.quantize.graph import load_graph

MODELS = Path(__file__).parent / "models"


def test_frames_load_from_a_file_or_a_folder(tmp_path: Path) -> None:
    a = synthetic_frames(30, 16, 1, seed=1)
    np.save(tmp_path / "a.npy", a)
    np.save(tmp_path / "b.npy", a[:, :, 0])  # (time, freq) for one channel
    assert load_frames(tmp_path / "a.npy", 16, 1).shape == (30, 16, 1)
    assert load_frames(tmp_path, 16, 1).shape == (60, 16, 1)
    with pytest.raises(SoiError, match=r"shape \(30, 16, 1\); the model's frames are \(time, 8 freq, 1 channels\)"):
        load_frames(tmp_path / "a.npy", 8, 1)
    with pytest.raises(SoiError, match="does not exist"):
        load_frames(tmp_path / "missing.npy", 16, 1)
    bad = a.copy()
    bad[3, 2] = np.nan
    np.save(tmp_path / "nan.npy", bad)
    with pytest.raises(SoiError, match="NaN or inf"):
        load_frames(tmp_path / "nan.npy", 16, 1)
    (tmp_path / "text.npy").write_text("not an array")
    with pytest.raises(SoiError, match="not a readable .npy"):
        load_frames(tmp_path / "text.npy", 16, 1)
    with pytest.raises(SoiError, match=r"has 30 frames; the int8 export needs at least 64"):
        calibration_windows(a, 64)
    windows = calibration_windows(np.concatenate([a] * 4), 64)
    assert windows.shape[1:] == (64, 16, 1) and 1 < len(windows) <= 16


def test_calibration_sets_the_int8_ranges(tmp_path: Path) -> None:
    spec = demo_spec()
    offline = OfflineModel(spec, seed=0).eval()
    data = 10.0 * synthetic_frames(64, spec.freq_bins, 1, seed=3)  # ten times the synthetic range
    plain = load_graph(export(offline, 16, 0, tmp_path / "plain").path)
    mine = load_graph(export(offline, 16, 0, tmp_path / "mine", data).path)
    scale = [float(g.tensors[g.inputs[0]].scale[0]) for g in (plain, mine)]
    assert scale[1] > 5 * scale[0], scale


def test_bad_calibration_is_refused_before_any_long_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    np.save(tmp_path / "wrong.npy", np.zeros((100, 7, 1), np.float32))
    code = main(["run", "demo", "--calibration", str(tmp_path / "wrong.npy"), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "shape (100, 7, 1)" in err[0], err
    assert not (tmp_path / "out" / "model.tflite").exists()


def test_frame_rate_from_the_flag_or_the_module(tmp_path: Path) -> None:
    assert load_model("demo", frame_rate_hz=50.0).frame_rate_hz == 50.0
    assert load_model("demo").frame_rate_hz == 16000 / 256
    model_file = tmp_path / "m.py"
    model_file.write_text("from torch import nn\n"
                          "def build():\n"
                          "    m = nn.Sequential(nn.Conv1d(4, 2, 1))\n"
                          "    m.frame_rate_hz = 100.0\n"
                          "    return m\n"
                          "def bad():\n"
                          "    m = build()\n"
                          "    m.frame_rate_hz = 'fast'\n"
                          "    return m\n")
    assert load_model(f"{model_file}:build").spec.frame_rate_hz == 100.0
    assert load_model(f"{model_file}:build", frame_rate_hz=31.25).spec.frame_rate_hz == 31.25
    with pytest.raises(SoiError, match="frame_rate_hz attribute is 'fast'"):
        load_model(f"{model_file}:bad")
    with pytest.raises(SoiError, match="--frame-rate -3"):
        load_model("demo", frame_rate_hz=-3)


def test_the_streaming_check_is_relative_to_the_outputs_scale() -> None:
    assert EquivalenceResult(10, 2.1e-4, scale=560.0).ok  # float rounding at that scale, not a bug
    assert not EquivalenceResult(10, 2.1e-4, scale=1.0).ok
    assert not EquivalenceResult(10, float("nan"), scale=float("inf"), finite=False).ok
    offline = OfflineModel(demo_spec(), seed=0).eval()
    with torch.no_grad():
        offline.convs["enc0"].weight.fill_(float("nan"))
    assert not check_equivalence(offline, torch.randn(12, 16, 1)).finite
    with pytest.raises(SoiError, match=r"layer 'enc0': its weight has 72 NaN or inf value\(s\) of 72"):
        float_model(offline, 0, 12)


def test_the_float_check_reports_progress_on_long_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from soi_mcu.pipeline import FrameProgress

    progress = FrameProgress("streaming == offline")
    progress.started -= 10.0  # as if it had been running for ten seconds
    progress.last -= 10.0
    progress(5, 20)
    assert "streaming == offline: frame 5/20" in capsys.readouterr().err


def test_the_guides_example_imports_and_streams(tmp_path: Path) -> None:
    """docs/your-model.md's model, as written there."""
    text = (Path(__file__).parents[1] / "docs" / "your-model.md").read_text()
    code = text.split("```python\n", 1)[1].split("```", 1)[0]
    (tmp_path / "guide_model.py").write_text(code)
    offline = load_model(f"{tmp_path / 'guide_model.py'}:build", freq_bins=16)
    assert offline.spec.frame_rate_hz == 62.5
    assert {layer.kind for layer in offline.spec.layers} >= {"conv", "add", "concat", "duplicate"}
    assert check_equivalence(offline, torch.randn(24, 16, 1)).ok
