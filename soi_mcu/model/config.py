"""Model configs in TOML: a U-Net (or the demo) and its SOI placement, validated with clear errors."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, fields
from pathlib import Path

from soi_mcu.errors import SoiError
from soi_mcu.schema import BOOLEAN, check_table, int_list, integer, string, suggest


@dataclass(frozen=True)
class UNetConfig:
    """A causal U-Net over STFT magnitudes: 7 encoder and 7 decoder STMC layers, mask output."""

    name: str
    sample_rate: int = 16000
    n_fft: int = 128  # frequency bins = n_fft // 2 (the Nyquist bin is dropped)
    hop: int = 64
    channels: tuple[int, ...] = (8, 8, 16, 16, 16, 32, 32)  # encoder layer outputs; the decoder mirrors them
    kernel: tuple[int, int] = (3, 3)  # (time, frequency)
    fstride: tuple[int, ...] = (2, 1, 2, 1, 2, 1, 1)  # frequency stride of each encoder layer
    activation: str = "relu"
    batch_norm: bool = False  # batch norm after each STMC conv (trained in batch mode, folded for streaming and int8)
    upsampling: str = "nearest"  # decoders of strided-in-frequency layers: conv + nearest upsampling, or "transposed" (tSTMC)
    scc: tuple[int, ...] = ()  # encoder positions (1-based) of S-CC pairs
    sscc: tuple[int, ...] = ()  # positions of SS-CC pairs (S-CC with a shift after the extrapolation)
    sc: tuple[int, ...] = ()  # encoder positions followed by an SC shift
    extrapolation: str = "duplicate"  # or "transposed": a transposed conv in time restores the rate

    @property
    def freq_bins(self) -> int:
        return self.n_fft // 2

    @property
    def frame_rate_hz(self) -> float:
        return self.sample_rate / self.hop


# The config file's schema: every key's type and range, checked before anything is built from it.
_POSITIONS = {"what": "encoder positions, 1-based", "example": "[2]"}
_SCHEMA = {
    "model": {
        "name": string(what="the model's name"),
        "kind": string(("unet",)),
        "sample_rate": integer(1, what="Hz"),
        "n_fft": integer(2, what="STFT size: n_fft // 2 frequency bins"),
        "hop": integer(1, what="samples per frame"),
        "channels": int_list(min_length=1, what="output channels of each encoder layer", example="[8, 8, 16, 16, 16, 32, 32]"),
        "kernel": int_list(2, what="[time, frequency]", example="[3, 3]"),
        "fstride": int_list(allowed=(1, 2), what="frequency stride of each encoder layer", example="[2, 1, 2, 1, 2, 1, 1]"),
        "activation": string(("relu", "elu", "none")),
        "batch_norm": BOOLEAN,
        "upsampling": string(("nearest", "transposed")),
    },
    "soi": {
        "scc": int_list(**_POSITIONS),
        "sscc": int_list(**_POSITIONS),
        "sc": int_list(**_POSITIONS),
        "extrapolation": string(("duplicate", "transposed")),
    },
}


def load_config(path: Path) -> UNetConfig:
    """Read a model config; unknown keys and sections are errors that suggest the close match, and every
    value is checked against its type and range (soi_mcu/schema.py) before it is used."""
    path = Path(path)
    if path.is_dir():
        raise SoiError(f"config {path} is a folder; give a model config file (TOML), e.g. configs/unet-mcu-s.toml")
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise SoiError(f"config file {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise SoiError(f"config file {path} cannot be read ({getattr(exc, 'strerror', None) or exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise SoiError(f"{path}: malformed TOML: {exc}") from None
    values: dict = {}
    for section, content in data.items():
        if section not in _SCHEMA:
            raise SoiError(f"{path}: unknown section [{section}]{suggest(section, _SCHEMA)}")
        values |= check_table(str(path), content, _SCHEMA[section], section)
    values.pop("kind", None)
    values.setdefault("name", path.stem)
    return validate(UNetConfig(**values), str(path))


def config_from_dict(values: dict, where: str) -> UNetConfig:
    """A config stored as one flat dict (a checkpoint's), checked against the same schema as a file."""
    schema = _SCHEMA["model"] | _SCHEMA["soi"]
    return validate(UNetConfig(**check_table(where, dict(values), schema, "config")), where)


def validate(cfg: UNetConfig, where: str = "config") -> UNetConfig:
    types = {f.name: f.type for f in fields(UNetConfig)}
    for name in ("sample_rate", "n_fft", "hop"):
        value = getattr(cfg, name)
        if not isinstance(value, int) or value <= 0:
            raise SoiError(f"{where}: {name} must be a positive integer, got {value!r} ({types[name]})")
    depth = len(cfg.channels)
    if depth < 1 or any(not isinstance(c, int) or c < 1 for c in cfg.channels):
        raise SoiError(f"{where}: channels must be a list of positive integers")
    if len(cfg.fstride) != depth:
        raise SoiError(f"{where}: fstride has {len(cfg.fstride)} entries, channels has {depth}; give one per layer")
    if len(cfg.kernel) != 2 or cfg.kernel[1] % 2 == 0 or min(cfg.kernel) < 1:
        raise SoiError(f"{where}: kernel must be [time, freq] with an odd frequency size")
    width = cfg.freq_bins
    for i, fs in enumerate(cfg.fstride, 1):
        if fs not in (1, 2):
            raise SoiError(f"{where}: fstride[{i}] = {fs}; frequency strides of 1 or 2 are supported")
        if fs == 2 and width % 2:
            raise SoiError(f"{where}: layer {i} halves {width} frequency bins, which is odd; change n_fft or fstride")
        width //= fs
    for key in ("scc", "sscc", "sc"):
        for pos in getattr(cfg, key):
            if not isinstance(pos, int) or not 1 <= pos <= depth:
                raise SoiError(f"{where}: {key} position {pos!r} is outside the encoder layers 1..{depth}")
    both = set(cfg.scc) & set(cfg.sscc)
    if both or len(set(cfg.scc)) != len(cfg.scc) or len(set(cfg.sscc)) != len(cfg.sscc):
        raise SoiError(f"{where}: an S-CC position appears twice ({sorted(both) or 'repeated'})")
    if cfg.extrapolation not in ("duplicate", "transposed"):
        raise SoiError(f"{where}: extrapolation '{cfg.extrapolation}' is not one of \"duplicate\", \"transposed\"")
    if cfg.upsampling not in ("nearest", "transposed"):
        raise SoiError(f"{where}: upsampling '{cfg.upsampling}' is not one of \"nearest\", \"transposed\"")
    if not isinstance(cfg.batch_norm, bool):
        raise SoiError(f"{where}: batch_norm must be true or false, got {cfg.batch_norm!r}")
    if cfg.activation not in ("relu", "elu", "none"):
        raise SoiError(f"{where}: activation '{cfg.activation}' is not supported; use \"relu\" or \"elu\"")
    return cfg
