"""What a MODEL argument names: `demo`, a U-Net config (`unet.toml`, with an optional variant), or a
user's PyTorch model (`file.py:function`, a function returning an nn.Module)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from soi_mcu.errors import SoiError

if TYPE_CHECKING:  # torch is imported only when a model is loaded: `soi-mcu --help` stays fast
    from soi_mcu.model import ModelSpec, OfflineModel

MODEL_HELP = ("demo | CONFIG.toml (a U-Net config; --variant picks the SOI placement) | "
              "FILE.py:FUNCTION (a function returning an nn.Module; a Conv2d model needs --freq-bins or a freq_bins attribute)")


def load_model(text: str, variant: str = "", freq_bins: int = 0, frame_rate_hz: float = 0.0) -> ModelSpec | OfflineModel:
    """A spec (weights seeded later) or, for a user's PyTorch model, the imported model with its weights.
    `frame_rate_hz` (> 0) sets the input frames per second that CPU load and the real-time verdict use."""
    if frame_rate_hz < 0 or frame_rate_hz != frame_rate_hz or frame_rate_hz == float("inf"):
        raise SoiError(f"--frame-rate {frame_rate_hz}: give input frames per second (sample rate / hop), e.g. 62.5")
    model = _load(text, variant, freq_bins)
    return with_frame_rate(model, frame_rate_hz) if frame_rate_hz else model


def with_frame_rate(model: ModelSpec | OfflineModel, frame_rate_hz: float) -> ModelSpec | OfflineModel:
    """The same model at another input frame rate (the schedule and weights do not change)."""
    from dataclasses import replace

    from soi_mcu.model import OfflineModel

    if isinstance(model, OfflineModel):
        model.spec = replace(model.spec, frame_rate_hz=float(frame_rate_hz))
        return model
    return replace(model, frame_rate_hz=float(frame_rate_hz))


def _load(text: str, variant: str, freq_bins: int) -> ModelSpec | OfflineModel:
    python = ":" in text and text.rsplit(":", 1)[0].endswith(".py")
    kind = "demo" if text == "demo" else "python" if python else "config" if text.endswith(".toml") else ""
    _check_options(kind, text, variant, freq_bins)
    if kind == "demo":
        from soi_mcu.model import demo_spec

        return demo_spec()
    if kind == "python":
        return _load_python(text, freq_bins)
    if kind == "config":
        from soi_mcu.model.config import load_config
        from soi_mcu.model.unet import unet_spec, variant_config

        base = load_config(Path(text))
        return unet_spec(variant_config(base, variant) if variant else base)
    raise SoiError(f"cannot tell what model '{text}' is; give {MODEL_HELP}")


def _check_options(kind: str, text: str, variant: str, freq_bins: int) -> None:
    """Options that do not apply to this kind of model are refused, not dropped without a word."""
    if freq_bins < 0:
        raise SoiError(f"--freq-bins {freq_bins}: give the frequency bins of an input frame (a positive number)")
    if variant and kind != "config":
        what = "the demo model has its own S-CC placement" if kind == "demo" else "a PyTorch model is streamed as it is"
        raise SoiError(f"--variant {variant} applies to a U-Net config (CONFIG.toml) only; {what}: drop --variant")
    if freq_bins and kind in ("demo", "config"):
        if kind == "demo":
            from soi_mcu.model import demo_spec

            where = f"the demo model has {demo_spec().freq_bins}"
        else:
            where = f"{text} sets them (n_fft // 2)"
        raise SoiError(f"--freq-bins {freq_bins} applies to a PyTorch model (FILE.py:FUNCTION) only; {where}: "
                       "drop --freq-bins")


def _load_python(text: str, freq_bins: int) -> OfflineModel:
    from torch import nn

    from soi_mcu.model.from_torch import from_torch

    file_name, func_name = text.rsplit(":", 1)
    path = Path(file_name)
    if not path.is_file():
        raise SoiError(f"model file {path} does not exist")
    module_name = f"soi_user_model_{abs(hash(path.resolve()))}"
    spec = importlib.util.spec_from_file_location(module_name, path)
    if spec is None or spec.loader is None:
        raise SoiError(f"{path} cannot be loaded as a Python module")
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module
    try:
        spec.loader.exec_module(module)
    except SystemExit as exc:  # the user's code called sys.exit(): that would end soi-mcu without a word
        raise SoiError(f"{path} called sys.exit({exc.code}) while loading; a model file must not exit") from None
    except Exception as exc:  # the user's code: report it in one line, whatever it raised
        raise SoiError(f"{path} raised {type(exc).__name__} while loading: {exc}") from None
    factory = getattr(module, func_name, None)
    if not callable(factory):
        names = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise SoiError(f"{path} has no function '{func_name}' (it defines: {', '.join(names) or 'nothing callable'})")
    try:
        model = factory()
    except SystemExit as exc:
        raise SoiError(f"{text}() called sys.exit({exc.code}); it must return an nn.Module") from None
    except Exception as exc:
        raise SoiError(f"{text}() raised {type(exc).__name__}: {exc}") from None
    if not isinstance(model, nn.Module):
        raise SoiError(f"{text}() returned {type(model).__name__}, not a torch.nn.Module")
    rate = getattr(model, "frame_rate_hz", 125.0)  # a module may say its own frame rate
    if not isinstance(rate, int | float) or not 0 < rate < float("inf"):
        raise SoiError(f"{text}(): its frame_rate_hz attribute is {rate!r}; give input frames per second, e.g. 62.5")
    if not freq_bins:  # a module may say its own frame size
        bins = getattr(model, "freq_bins", 0)
        if not isinstance(bins, int) or bins < 0:
            raise SoiError(f"{text}(): its freq_bins attribute is {bins!r}; give the frequency bins of an input frame")
        freq_bins = bins
    return from_torch(model, freq_bins, name=path.stem, frame_rate_hz=float(rate))
