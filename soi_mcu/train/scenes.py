"""Synthetic acoustic scenes for the streaming scene classifier: data, features, training, evaluation.

Everything is generated (numpy, seeded), so it runs on a fresh machine without downloads or espeak-ng.
Eight scene classes, each a mixture of sources with random parameters (levels, pitches, rates,
spectral tilts, event times), so that no single fixed feature separates them:

    quiet_room  brown/pink air noise, a faint ventilation hum
    street      low rumble with passing vehicles (band-limited noise swells), now and then a horn
    cafe        babble of 4-8 synthetic talkers (voiced harmonics through moving formants), cup clinks
    office      keyboard clicks in bursts, ventilation (low-passed noise), sometimes one talker
    rain        high-passed noise and dense small drops
    park        bird chirps (fast frequency sweeps, 2-7 kHz) over gusty wind (low-passed, modulated)
    metro       low rumble with rail clacks at a steady rhythm, sometimes a wheel screech
    alarm       a beeping harmonic tone (0.8-3 kHz, 2-6 beeps/s) over pink noise

Every clip also gets a background shared by all classes (coloured noise, a hum, distant babble or a
noise band) at a scene-to-background ratio of 5..20 dB, and is scaled to a random level (-40..-20
dBFS), so neither the background nor the overall level says anything about the class.

What runs where (the streaming model and the firmware compute exactly `classifier_spec`'s network):

    audio --STFT (n_fft 512, hop 320: 50 frames/s, Hann, causal)--> |X|^2
    features = (log1p(FEATURE_GAIN * mel(|X|^2)) - 4.5) / 3    (32 bands, each the mean power of its band)
    logits per frame = model(features)             (`classifier.classifier_spec`: STMC or S-CC)
    clip decision = argmax of the frame logits averaged over the clip (outside the model)

The loss is the cross entropy of every frame's logits against the clip's class.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from soi_mcu.classifier import classifier_spec
from soi_mcu.errors import SoiError
from soi_mcu.model import OfflineModel
from soi_mcu.train.args import EVAL_SEED  # the held-out clips' seed, as for speech
from soi_mcu.train.audio import stft
from soi_mcu.train.speech_data import coloured_noise

SCENES = ("quiet_room", "street", "cafe", "office", "rain", "park", "metro", "alarm")
SAMPLE_RATE = 16000
N_FFT = 512
HOP = 320  # 50 frames per second
MEL_BINS = 32
FEATURE_GAIN = 1e4  # mel power of audio at -40..-20 dBFS spans ~1e-6..1e2: log1p(1e4 p) spans ~0..16
FEATURE_MEAN, FEATURE_SCALE = 4.5, 3.0  # fixed standardization (about the training scenes' mean and std)
WIDTH = 16  # channels of the classifier's blocks
BACKGROUND_SNR_DB = (5.0, 20.0)  # scene to shared background
TRAIN_SEED_BASE = 1000  # training clips come from seed TRAIN_SEED_BASE + the training seed
CALIBRATION_SEED = 31338  # int8 calibration clips (never the held-out ones)


# ---- sources ----

def _band(x: np.ndarray, lo: float, hi: float, sr: int = SAMPLE_RATE) -> np.ndarray:
    """Ideal band-pass by FFT (lo..hi Hz), renormalized to unit std."""
    spec = np.fft.rfft(x)
    f = np.fft.rfftfreq(len(x), 1 / sr)
    spec[(f < lo) | (f > hi)] = 0
    y = np.fft.irfft(spec, n=len(x))
    return y / (y.std() + 1e-9)


def _smooth_env(rng: np.random.Generator, n: int, rate_hz: float, depth: float) -> np.ndarray:
    """A slowly varying positive envelope (random points every 1/rate_hz s, interpolated)."""
    points = max(int(n / SAMPLE_RATE * rate_hz) + 2, 2)
    knots = 1 + depth * (rng.random(points) * 2 - 1)
    return np.interp(np.arange(n), np.linspace(0, n - 1, points), knots)


def _talker(rng: np.random.Generator, n: int) -> np.ndarray:
    """Babble-like speech: a pulse train at a gliding f0, through formants that move every syllable."""
    sr = SAMPLE_RATE
    f0 = rng.uniform(90, 250) * _smooth_env(rng, n, 3.0, 0.15)
    source = 2 * ((np.cumsum(f0) / sr) % 1.0) - 1  # sawtooth: every harmonic of f0
    out = np.zeros(n)
    at = -int(rng.integers(0, int(0.2 * sr)))
    while at < n:
        length = int(rng.uniform(0.08, 0.25) * sr)
        lo, hi = max(at, 0), min(at + length, n)
        if hi - lo > 16 and rng.random() < 0.8:  # a syllable, or a pause
            freqs = np.fft.rfftfreq(hi - lo, 1 / sr)
            formants = (rng.uniform(300, 850), rng.uniform(850, 2400), rng.uniform(2300, 3300))
            gain = sum(np.exp(-0.5 * ((freqs - fm) / 120.0) ** 2) / (i + 1) for i, fm in enumerate(formants))
            seg = np.fft.irfft(np.fft.rfft(source[lo:hi]) * (gain + 0.02) * (freqs < 4000), n=hi - lo)
            out[lo:hi] += seg * np.hanning(length)[lo - at: hi - at]
        at += length
    return out / (out.std() + 1e-9)


def _decaying_tones(rng: np.random.Generator, n: int, rate_hz: float, f_range: tuple[float, float],
                    dur: tuple[float, float], regular: bool = False) -> np.ndarray:
    """Short events: a sine (with a partial) that decays; Poisson times, or a steady rhythm when regular."""
    sr = SAMPLE_RATE
    x = np.zeros(n)
    if regular:
        period = sr / rate_hz
        times = np.arange(rng.uniform(0, period), n, period * rng.uniform(0.95, 1.05))
    else:
        times = rng.uniform(0, n, rng.poisson(rate_hz * n / sr) + 1)
    for t0 in times.astype(int):
        m = int(rng.uniform(*dur) * sr)
        t = np.arange(m) / sr
        f = rng.uniform(*f_range)
        ev = (np.sin(2 * np.pi * f * t) + 0.5 * np.sin(2 * np.pi * 2.7 * f * t)) * np.exp(-t / (dur[0] + 1e-3))
        x[t0: t0 + m] += (ev * rng.uniform(0.5, 1.0))[: n - t0]
    return x


def _bursts(rng: np.random.Generator, n: int, rate_hz: float, lo: float, hi: float, dur: tuple[float, float]) -> np.ndarray:
    """Band-limited noise bursts with a fast decay (clicks, drops, keys, clacks)."""
    sr = SAMPLE_RATE
    x = np.zeros(n)
    for t0 in rng.uniform(0, n, rng.poisson(rate_hz * n / sr) + 1).astype(int):
        m = max(int(rng.uniform(*dur) * sr), 8)
        ev = rng.standard_normal(m) * np.exp(-np.arange(m) / (m / 5)) * rng.uniform(0.3, 1.0)
        x[t0: t0 + m] += ev[: n - t0]
    return _band(x, lo, hi) if x.any() else x


def _chirps(rng: np.random.Generator, n: int) -> np.ndarray:
    sr = SAMPLE_RATE
    x = np.zeros(n)
    for _ in range(rng.poisson(6 * n / sr) + 1):
        t0, m = int(rng.uniform(0, n)), int(rng.uniform(0.04, 0.15) * sr)
        f_a, f_b = rng.uniform(2000, 7000, 2)
        freq = np.linspace(f_a, f_b, m) + 300 * np.sin(2 * np.pi * rng.uniform(20, 60) * np.arange(m) / sr)
        ev = np.sin(2 * np.pi * np.cumsum(freq) / sr) * np.hanning(m)
        x[t0: t0 + m] += ev[: n - t0]
    return x


def _tone(rng: np.random.Generator, n: int, f0: float, harmonics: int) -> np.ndarray:
    t = np.arange(n) / SAMPLE_RATE
    return sum(np.sin(2 * np.pi * k * f0 * t + rng.uniform(0, 6.3)) * rng.uniform(0.3, 1.0) / k
               for k in range(1, harmonics + 1))


def _events(rng: np.random.Generator, n: int, rate_hz: float, make) -> np.ndarray:
    """Occasional long events (horn, screech, a passing car): `make(m)` of 0.3-1.5 s at Poisson times."""
    x = np.zeros(n)
    for t0 in rng.uniform(-0.5 * SAMPLE_RATE, n, rng.poisson(rate_hz * n / SAMPLE_RATE)).astype(int):
        m = int(rng.uniform(0.3, 1.5) * SAMPLE_RATE)
        ev = make(m) * np.hanning(m)
        lo, hi = max(t0, 0), min(t0 + m, n)
        if hi > lo:
            x[lo:hi] += ev[lo - t0: hi - t0]
    return x


def scene_audio(label: int, rng: np.random.Generator, n: int) -> np.ndarray:
    """One clip of scene `label` (index into SCENES), n samples at SAMPLE_RATE, float32."""
    u = rng.uniform
    name = SCENES[label]
    if name == "quiet_room":
        x = coloured_noise(rng, n, u(1.2, 2.0)) + u(0.05, 0.3) * _tone(rng, n, u(50, 120), 4)
    elif name == "street":
        x = _band(coloured_noise(rng, n, 2.0), 20, u(300, 800)) * _smooth_env(rng, n, 1.0, 0.5)
        x += u(0.5, 1.5) * _events(rng, n, 1.0, lambda m: _band(rng.standard_normal(m), 80, u(1500, 3000))
                                   * np.linspace(0.2, 1, m))
        x += u(0.4, 1.2) * _events(rng, n, 0.4, lambda m: _tone(rng, m, u(300, 500), 6))
    elif name == "cafe":
        x = sum(_talker(rng, n) * u(0.4, 1.0) for _ in range(int(rng.integers(4, 9))))
        x = x / (x.std() + 1e-9) + u(0.3, 1.0) * _decaying_tones(rng, n, u(0.5, 3), (2000, 5000), (0.05, 0.2))
    elif name == "office":
        x = _band(coloured_noise(rng, n, 1.0), 20, u(200, 400)) * u(0.3, 0.8)
        x += u(0.6, 1.5) * _bursts(rng, n, u(5, 14), 1000, 5000, (0.005, 0.02))
        if rng.random() < 0.5:
            x += u(0.2, 0.6) * _talker(rng, n)
    elif name == "rain":
        x = _band(rng.standard_normal(n), u(800, 2000), 8000) * u(0.5, 1.0)
        x += u(0.5, 1.5) * _bursts(rng, n, u(60, 200), 1500, 8000, (0.001, 0.004))
    elif name == "park":
        wind = _band(coloured_noise(rng, n, 1.5), 20, u(300, 700)) * _smooth_env(rng, n, 2.0, 0.8)
        x = wind * u(0.3, 1.0) + u(0.5, 1.5) * _chirps(rng, n)
    elif name == "metro":
        x = _band(coloured_noise(rng, n, 2.0), 20, u(150, 300))
        x += u(0.5, 1.5) * _bursts(rng, n, 0, 100, 2000, (0.01, 0.03))  # a clack at least
        x += u(0.8, 2.0) * _band(_decaying_tones(rng, n, u(1.2, 2.5), (150, 600), (0.02, 0.06), regular=True), 80, 3000)
        if rng.random() < 0.5:
            x += u(0.3, 0.8) * _events(rng, n, 0.8, lambda m: np.sin(2 * np.pi * np.cumsum(
                u(3000, 6000) + 200 * np.sin(2 * np.pi * 7 * np.arange(m) / SAMPLE_RATE)) / SAMPLE_RATE))
    elif name == "alarm":
        rate = u(2, 6)
        gate = (np.sin(2 * np.pi * rate * np.arange(n) / SAMPLE_RATE + u(0, 6.3)) > u(-0.3, 0.3)).astype(float)
        x = gate * _tone(rng, n, u(800, 3000), 3) + u(0.1, 0.5) * coloured_noise(rng, n, 1.0)
    else:  # pragma: no cover - SCENES and this table are edited together
        raise SoiError(f"unknown scene {name}")
    x = x / (x.std() + 1e-12) + _background(rng, n) * 10 ** (-u(*BACKGROUND_SNR_DB) / 20)
    level = 10 ** (u(-40, -20) / 20)
    return (x * level / (np.sqrt(np.mean(x ** 2)) + 1e-12)).astype(np.float32)


def _background(rng: np.random.Generator, n: int) -> np.ndarray:
    """What any scene may have behind it (unit std): coloured noise, a hum, distant babble or a noise band."""
    kind = int(rng.integers(4))
    if kind == 0:
        x = coloured_noise(rng, n, rng.uniform(0, 2))
    elif kind == 1:
        x = _tone(rng, n, rng.uniform(50, 150), 6) + 0.1 * rng.standard_normal(n)
    elif kind == 2:
        x = _band(sum(_talker(rng, n) for _ in range(int(rng.integers(3, 6)))), 50, rng.uniform(1000, 2500))
    else:
        lo = rng.uniform(50, 3000)
        x = _band(rng.standard_normal(n), lo, lo * rng.uniform(1.5, 4))
    return x / (x.std() + 1e-12)


def scene_clips(count: int, seconds: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(audio (count, samples), labels (count,)): classes in turn (balanced), seeded."""
    if count < 1 or seconds <= 0:
        raise SoiError("scene clips need count >= 1 and a positive length")
    rng = np.random.default_rng(seed)
    n = int(seconds * SAMPLE_RATE)
    labels = np.arange(count) % len(SCENES)
    rng.shuffle(labels)
    return np.stack([scene_audio(int(c), rng, n) for c in labels]), labels.astype(np.int64)


# ---- features ----

def mel_filterbank(bins: int = MEL_BINS, n_fft: int = N_FFT, sr: int = SAMPLE_RATE, f_min: float = 50.0) -> np.ndarray:
    """(bins, n_fft // 2) triangular filters on the mel scale, each normalized to sum 1 (mean band power)."""
    def mel(f):
        return 2595 * np.log10(1 + f / 700)

    def hz(m):
        return 700 * (10 ** (m / 2595) - 1)

    edges = hz(np.linspace(mel(f_min), mel(sr / 2), bins + 2))
    f = np.arange(n_fft // 2) * sr / n_fft
    fb = np.zeros((bins, n_fft // 2))
    for i in range(bins):
        lo, mid, hi = edges[i: i + 3]
        fb[i] = np.clip(np.minimum((f - lo) / (mid - lo), (hi - f) / (hi - mid)), 0, None)
        if fb[i].sum() == 0:  # narrower than one FFT bin: take the nearest bin
            fb[i, int(np.argmin(np.abs(f - mid)))] = 1
    return (fb / fb.sum(1, keepdims=True)).astype(np.float32)


_FB = torch.from_numpy(mel_filterbank())


def scene_features(audio: np.ndarray | torch.Tensor) -> torch.Tensor:
    """(clips, samples) audio -> the model's input (clips, frames, MEL_BINS, 1)."""
    x = torch.as_tensor(audio, dtype=torch.float32)
    power = stft(x, N_FFT, HOP).abs() ** 2  # (clips, frames, n_fft // 2)
    return ((torch.log1p(FEATURE_GAIN * power @ _FB.T) - FEATURE_MEAN) / FEATURE_SCALE).unsqueeze(-1)


def scene_set(count: int, seconds: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(features (count, frames, MEL_BINS, 1), labels (count,))."""
    audio, labels = scene_clips(count, seconds, seed)
    return scene_features(audio), torch.from_numpy(labels)


# ---- model, training, checkpoints ----

def scene_model(variant: str, seed: int = 0) -> OfflineModel:
    return OfflineModel(classifier_spec(variant, mel_bins=MEL_BINS, classes=len(SCENES), width=WIDTH,
                                        frame_rate_hz=SAMPLE_RATE / HOP), seed=seed)


def frame_logits(model: OfflineModel, feats: torch.Tensor) -> torch.Tensor:
    """(clips, frames, classes): the model on whole clips, padded in time to its step pattern."""
    frames = feats.shape[1]
    padded = torch.nn.functional.pad(feats, (0, 0, 0, 0, 0, -frames % model.schedule.phases))
    return model(padded)[:, :frames, 0, :]


@dataclass
class SceneTrainResult:
    model: OfflineModel
    variant: str
    steps: int
    seed: int
    clips: int
    seconds_per_clip: float
    losses: list[float] = field(default_factory=list)
    seconds: float = 0.0
    checkpoint: Path | None = None


def train_scenes(variant: str = "stmc", steps: int = 400, seed: int = 0, batch: int = 16, clips: int = 800,
                 seconds: float = 1.0, lr: float = 2e-2, checkpoint: Path | None = None, device: str | None = None,
                 log_every: int = 50) -> SceneTrainResult:
    """Adam with cosine decay over `steps` minibatches drawn from `clips` generated training clips (seeded)."""
    from soi_mcu.train.speech import optimize, pick_device

    if steps < 1 or batch < 1 or clips < 1:
        raise SoiError("training needs steps >= 1, batch >= 1 and clips >= 1")
    dev = pick_device(device)
    torch.manual_seed(seed)
    model = scene_model(variant, seed).to(dev)
    if log_every:
        _say(f"generating {clips} training scenes of {seconds:g} s")
    feats, labels = scene_set(clips, seconds, TRAIN_SEED_BASE + seed)
    feats, labels = feats.to(dev), labels.to(dev)
    gen = torch.Generator().manual_seed(seed)
    result = SceneTrainResult(model, variant, steps, seed, clips, seconds)

    def step_loss() -> torch.Tensor:
        idx = torch.randint(len(feats), (batch,), generator=gen).to(dev)
        logits = frame_logits(model, feats[idx])
        return torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                 labels[idx].repeat_interleave(logits.shape[1]))

    result.seconds = optimize(model, step_loss, steps, lr, f"scenes {variant} seed {seed}", "cross entropy", log_every,
                              result.losses)
    if checkpoint:
        result.checkpoint = save_scene_checkpoint(result, checkpoint)
    return result


def _front_end() -> dict:
    return {"sample_rate": SAMPLE_RATE, "n_fft": N_FFT, "hop": HOP, "mel_bins": MEL_BINS, "feature_gain": FEATURE_GAIN,
            "feature_mean": FEATURE_MEAN, "feature_scale": FEATURE_SCALE, "width": WIDTH, "scenes": list(SCENES)}


def save_scene_checkpoint(result: SceneTrainResult, path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({
        "kind": "scene",
        "state_dict": {k: v.cpu() for k, v in result.model.state_dict().items()},
        "config": _front_end(),
        "variant": result.variant,
        "step": result.steps,
        "seed": result.seed,
        "clips": result.clips,
        "losses": result.losses,
        "frontend": {"features": f"(log1p({FEATURE_GAIN:g} * mel(|STFT|^2)) - {FEATURE_MEAN}) / {FEATURE_SCALE}",
                     "decision": "argmax of mean frame logits"},
    }, path)
    return path


def load_scene_checkpoint(path: Path, device: str | None = None) -> tuple[OfflineModel, str, dict]:
    """(model in eval mode, variant, the checkpoint dict) of a checkpoint written by `train scenes`."""
    from soi_mcu.train.speech import pick_device, read_checkpoint

    ckpt = read_checkpoint(path)
    if ckpt.get("kind") != "scene":
        raise SoiError(f"{path}: a U-Net checkpoint, not a scene classifier one")
    if ckpt["config"] != _front_end():
        raise SoiError(f"{path}: made with another scene front end or class list ({ckpt['config']}); retrain it")
    model = scene_model(ckpt["variant"])
    model.load_state_dict(ckpt["state_dict"])
    return model.to(pick_device(device)).eval(), ckpt["variant"], ckpt


# ---- evaluation ----

@dataclass(frozen=True)
class SceneEvaluation:
    count: int
    seconds: float
    seed: int
    classes: int
    top1: float  # clip accuracy of the float model (argmax of mean frame logits)
    frame_top1: float  # accuracy of single frames' decisions
    top1_int8: float | None = None  # the same for the int8 export in LiteRT (= the firmware's)
    frame_top1_int8: float | None = None
    int8_agreement: float | None = None  # share of clips where int8 and float decide the same
    int8_frames: int | None = None
    calibration_count: int | None = None
    per_class: dict[str, float] = field(default_factory=dict)  # float clip accuracy per scene
    per_class_int8: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def _accuracy(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float, torch.Tensor]:
    clip = logits.mean(1).argmax(-1)
    frame = (logits.argmax(-1) == labels[:, None]).float().mean()
    return float((clip == labels).float().mean()), float(frame), clip


def _per_class(pred: torch.Tensor, labels: torch.Tensor) -> dict[str, float]:
    return {name: float((pred[labels == c] == c).float().mean()) for c, name in enumerate(SCENES) if (labels == c).any()}


@torch.no_grad()
def evaluate_scenes(model: OfflineModel, feats: torch.Tensor, labels: torch.Tensor, seed: int = EVAL_SEED,
                    seconds: float = 0.0, calibration: torch.Tensor | None = None) -> SceneEvaluation:
    """Top-1 of the float model; with `calibration` (features as long as `feats`) also of its int8 export."""
    from soi_mcu.train.evaluate import int8_outputs

    model.eval()
    dev = next(model.parameters()).device
    logits = torch.cat([frame_logits(model, feats[i: i + 64].to(dev)).cpu() for i in range(0, len(feats), 64)])
    top1, frame_top1, pred = _accuracy(logits, labels)
    extra: dict = {}
    if calibration is not None:
        run = int8_outputs(model, feats.numpy(), calibration.numpy())
        logits_q = torch.from_numpy(run.outputs[:, :, 0, :])
        top1_q, frame_q, pred_q = _accuracy(logits_q, labels)
        extra = {"top1_int8": top1_q, "frame_top1_int8": frame_q, "int8_agreement": float((pred_q == pred).float().mean()),
                 "int8_frames": run.frames, "calibration_count": len(calibration), "per_class_int8": _per_class(pred_q, labels)}
    return SceneEvaluation(count=len(feats), seconds=seconds, seed=seed, classes=len(SCENES), top1=top1,
                           frame_top1=frame_top1, per_class=_per_class(pred, labels), **extra)


def evaluate_scene_checkpoint(path: Path, count: int = 256, seconds: float = 2.0, seed: int = EVAL_SEED,
                              int8: bool = True, calibration_count: int = 32,
                              device: str | None = None) -> tuple[SceneEvaluation, dict]:
    model, variant, ckpt = load_scene_checkpoint(path, device)
    feats, labels = scene_set(count, seconds, seed)
    calib = scene_set(calibration_count, seconds, CALIBRATION_SEED)[0] if int8 else None
    meta = {"variant": variant, "step": ckpt.get("step"), "train_seed": ckpt.get("seed"), "task": "scenes"}
    return evaluate_scenes(model, feats, labels, seed, seconds, calib), meta


def format_scene_evaluation(ev: SceneEvaluation, title: str = "") -> str:
    chance = 1 / ev.classes
    lines = [title] if title else []
    lines += [f"held-out scenes: {ev.count} x {ev.seconds:g} s (seed {ev.seed}), {ev.classes} classes (chance {100 * chance:.1f}%)",
              f"top-1 float  {100 * ev.top1:5.1f}% of clips   {100 * ev.frame_top1:5.1f}% of single frames"]
    if ev.top1_int8 is not None:
        lines.append(f"top-1 int8   {100 * ev.top1_int8:5.1f}% of clips   {100 * ev.frame_top1_int8:5.1f}% of single frames"
                     f"   (LiteRT reference kernels = firmware; {100 * (ev.top1_int8 - ev.top1):+.1f} points vs float, "
                     f"same decision on {100 * ev.int8_agreement:.1f}% of clips)")
    lines.append("per class (float" + (" / int8" if ev.per_class_int8 else "") + "): " + ", ".join(
        f"{k} {100 * v:.0f}%" + (f"/{100 * ev.per_class_int8[k]:.0f}%" if ev.per_class_int8 else "")
        for k, v in ev.per_class.items()))
    return "\n".join(lines)


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def run_train_from_args(args: argparse.Namespace) -> int:
    """`soi-mcu train scenes --variant stmc|scc:K ...`."""
    out = Path(args.out) if args.out != "out/train/model.pt" else Path("out/train/scenes.pt")
    res = train_scenes(args.variant, steps=args.steps, seed=args.seed, batch=args.batch, clips=args.clips,
                       seconds=args.seconds, lr=args.lr or 2e-2, checkpoint=out, device=args.device)
    print(f"trained the scene classifier ({args.variant}) for {res.steps} steps in {res.seconds:.0f}s; "
          f"checkpoint: {res.checkpoint}")
    return 0


def run_evaluate_from_args(args: argparse.Namespace) -> int:
    """`soi-mcu evaluate SCENE_CHECKPOINT`: --count clips of --seconds."""
    if args.data:
        raise SoiError("--data is for speech checkpoints; the scene classifier is evaluated on generated scenes")
    ev, meta = evaluate_scene_checkpoint(Path(args.checkpoint), args.count, args.seconds, args.seed,
                                         int8=not args.float_only, calibration_count=args.calibration, device=args.device)
    if args.json:
        print(json.dumps(meta | ev.as_dict(), indent=2))
    else:
        print(format_scene_evaluation(ev, f"scene classifier {meta['variant']} (seed {meta['train_seed']}, {meta['step']} steps)"))
    return 0
