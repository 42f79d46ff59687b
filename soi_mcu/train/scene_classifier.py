"""The streaming scene classifier: training on generated scenes (`scene_audio`, `scene_features`),
checkpoints, and its float and int8 top-1 accuracy.

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
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch

from soi_mcu.errors import SoiError
from soi_mcu.model import OfflineModel
from soi_mcu.model.classifier import classifier_spec
from soi_mcu.train.args import EVAL_SEED  # the held-out clips' seed, as for speech
from soi_mcu.train.common import optimize, pick_device, read_checkpoint, say
from soi_mcu.train.int8 import int8_outputs
from soi_mcu.train.scene_audio import SAMPLE_RATE, SCENES
from soi_mcu.train.scene_features import FEATURE_GAIN, FEATURE_MEAN, FEATURE_SCALE, HOP, MEL_BINS, N_FFT, scene_set

WIDTH = 16  # channels of the classifier's blocks
TRAIN_SEED_BASE = 1000  # training clips come from seed TRAIN_SEED_BASE + the training seed
CALIBRATION_SEED = 31338  # int8 calibration clips (never the held-out ones)


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
    if steps < 1 or batch < 1 or clips < 1:
        raise SoiError("training needs steps >= 1, batch >= 1 and clips >= 1")
    dev = pick_device(device)
    torch.manual_seed(seed)
    model = scene_model(variant, seed).to(dev)
    if log_every:
        say(f"generating {clips} training scenes of {seconds:g} s")
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
