"""Pieces the speech U-Net and the scene classifier share: the torch device, the optimizer loop and
checkpoint reading.

Their own module so that `speech`, `scene_classifier` and `evaluate` depend on it rather than on each other
(they used to import each other in a cycle).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from soi_mcu.errors import SoiError


def pick_device(device: str | None = None) -> torch.device:
    return torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))


def say(text: str) -> None:
    """Progress on stderr (stdout carries the results, e.g. --json)."""
    print(text, file=sys.stderr, flush=True)


def optimize(model: torch.nn.Module, step_loss: Callable[[], torch.Tensor], steps: int, lr: float, label: str,
             unit: str, log_every: int, losses: list[float]) -> float:
    """Adam with cosine decay (to 5 % of lr) and gradient clipping over `steps` minibatches, each loss
    from `step_loss()`; appends the losses, logs every `log_every` steps, leaves the model in eval
    mode and returns the seconds it took. Shared by the U-Net and the scene classifier."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * s / steps)))
    start = time.monotonic()
    model.train()
    for step in range(1, steps + 1):
        loss = step_loss()
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        opt.step()
        sched.step()
        losses.append(loss.item())
        if log_every and (step % log_every == 0 or step == steps):
            say(f"[{label}] step {step}/{steps} loss {np.mean(losses[-log_every:]):.3f} ({unit}) "
                f"{time.monotonic() - start:.0f}s")
    model.eval()
    return time.monotonic() - start


def read_checkpoint(path: Path) -> dict:
    """The checkpoint dict (U-Net or scene classifier), or a clear error."""
    try:
        ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise SoiError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # noqa: BLE001 - torch raises many types for a corrupt file
        raise SoiError(f"{path}: not a soi-mcu checkpoint ({exc})") from None
    if not isinstance(ckpt, dict) or not {"state_dict", "config", "variant"} <= ckpt.keys():
        raise SoiError(f"{path}: not a soi-mcu checkpoint (no state_dict/config/variant)")
    return ckpt


def checkpoint_kind(path: Path) -> str:
    """"unet" (speech enhancement, `train CONFIG`) or "scene" (the scene classifier, `train scenes`)."""
    return str(read_checkpoint(path).get("kind", "unet"))
