"""The paper's U-Net as a layer spec, and the SOI variants a user compares (STMC, S-CC, SS-CC, SC)."""

from __future__ import annotations

import dataclasses
import re

from soi_mcu.errors import SoiError
from soi_mcu.model import Concat, Conv, Duplicate, Layer, ModelSpec, Shift, TConv, TConvFreq, Upsample
from soi_mcu.model.config import UNetConfig, validate

VARIANT_HELP = ("stmc | scc:P | scc:P+Q (two nested pairs) | sscc:P (S-CC + shift) | sc:P (shift only) | "
                "fp:P/Q (S-CC at P, shift after encoder Q)")


def unet_spec(cfg: UNetConfig) -> ModelSpec:
    """Encoder e1..eN (STMC convs, some strided in frequency), decoder dN..d1 with skip concats.

    S-CC at position p: e_p is strided by 2 in time and d_p's output is duplicated back to e_{p-1}'s
    rate before it meets e_{p-1}'s skip (the network input's, for p = 1: the paper's skip from the
    strided conv's input keeps the current frame in the output on the steps the pair skips).
    SS-CC adds a shift after that duplication. SC at p shifts what flows from e_p to e_{p+1} (the
    skip from e_p stays current). A decoder whose encoder halved the bins upsamples them back with a
    nearest-neighbour Upsample after it, or (upsampling = "transposed") is itself a tSTMC layer, a
    transposed conv in frequency (TConvFreq).
    """
    kt, kf = cfg.kernel
    act = cfg.activation
    depth = len(cfg.channels)
    pairs = set(cfg.scc) | set(cfg.sscc)
    layers: list[Layer] = []
    enc = ["input"]
    x = "input"
    for i in range(1, depth + 1):
        layers.append(Conv(f"e{i}", x, cout=cfg.channels[i - 1], kt=kt, kf=kf, fstride=cfg.fstride[i - 1],
                           stride=2 if i in pairs else 1, act=act, norm=cfg.batch_norm))
        enc.append(f"e{i}")
        x = f"e{i}"
        if i in cfg.sc:
            layers.append(Shift(f"sc{i}", x))
            x = f"sc{i}"
    for i in range(depth, 0, -1):
        cout = cfg.channels[i - 2] if i > 1 else cfg.channels[0]
        fs = cfg.fstride[i - 1]
        if fs > 1 and cfg.upsampling == "transposed":
            layers.append(TConvFreq(f"d{i}", x, cout=cout, kt=kt, kf=kf, fstride=fs, act=act, norm=cfg.batch_norm))
        else:
            layers.append(Conv(f"d{i}", x, cout=cout, kt=kt, kf=kf, act=act, norm=cfg.batch_norm))
        y = f"d{i}"
        if i in pairs:
            if cfg.extrapolation == "transposed":
                layers.append(TConv(f"dup{i}", y, cout=cout, factor=2))
            else:
                layers.append(Duplicate(f"dup{i}", y))
            y = f"dup{i}"
            if i in cfg.sscc:
                layers.append(Shift(f"ss{i}", y))
                y = f"ss{i}"
        if fs > 1 and cfg.upsampling == "nearest":
            layers.append(Upsample(f"up{i}", y, factor=fs))
            y = f"up{i}"
        if i > 1 or i in pairs:  # a pair at layer 1 gets the skip from its strided conv's input too
            layers.append(Concat(f"skip{i}", (y, enc[i - 1])))
            y = f"skip{i}"
        x = y
    layers.append(Conv("mask", x, cout=1, kt=1, kf=1, act="none"))
    return ModelSpec(cfg.name, cfg.freq_bins, 1, tuple(layers), output="mask", frame_rate_hz=cfg.frame_rate_hz)


def parse_variant(text: str) -> dict[str, tuple[int, ...]]:
    """'scc:1+3' -> {'scc': (1, 3)}; see VARIANT_HELP."""
    t = text.strip().lower()
    if t == "stmc":
        return {"scc": (), "sscc": (), "sc": ()}
    m = re.fullmatch(r"(scc|sscc|sc):(\d+(?:\+\d+)*)", t)
    if m:
        positions = tuple(int(p) for p in m.group(2).split("+"))
        if len(set(positions)) != len(positions):
            twice = sorted({p for p in positions if positions.count(p) > 1})
            raise SoiError(f"variant '{text}': position {', '.join(map(str, twice))} appears twice; each encoder layer "
                           f"takes one {'shift' if m.group(1) == 'sc' else 'pair'} (e.g. {m.group(1)}:1+3)")
        return {"scc": (), "sscc": (), "sc": ()} | {m.group(1): positions}
    m = re.fullmatch(r"fp:(\d+)/(\d+)", t)
    if m:
        return {"scc": (int(m.group(1)),), "sscc": (), "sc": (int(m.group(2)),)}
    raise SoiError(f"unknown variant '{text}'; use one of: {VARIANT_HELP}")


def describe_variant(text: str) -> str:
    """What a variant string means, in the paper's words, for tables and logs."""
    parsed = parse_variant(text)
    enc = lambda ps: ("encoder " if len(ps) == 1 else "encoders ") + " and ".join(map(str, ps))  # noqa: E731
    if re.fullmatch(r"fp:\d+/\d+", text.strip().lower()):
        return (f"FP: S-CC pair at {enc(parsed['scc'])}, shift after {enc(parsed['sc'])} (fully predictive: the part "
                "after the shift is precomputed between frames)")
    parts = []
    if parsed["scc"]:
        parts.append(f"S-CC pair{'s' if len(parsed['scc']) > 1 else ''} at {enc(parsed['scc'])}"
                     + (" (nested; partially predictive)" if len(parsed["scc"]) > 1 else " (partially predictive)"))
    if parsed["sscc"]:
        parts.append(f"S-CC pair at {enc(parsed['sscc'])} with a shift after its extrapolation (SS-CC, fully "
                     "predictive)")
    if parsed["sc"]:
        parts.append(f"shift (SC) after {enc(parsed['sc'])}, no strided pair (fully predictive)")
    return "; ".join(parts) or "STMC: every layer every step, no SOI"


def variant_list(text: str, option: str = "--variants") -> list[str]:
    """A comma-separated list of variants, the same way for every command (complexity, profile, sweep):
    empty entries (a trailing comma, ",,") are skipped, repeats dropped; nothing left is refused."""
    variants = list(dict.fromkeys(v.strip() for v in text.split(",") if v.strip()))
    if not variants:
        raise SoiError(f"{option} '{text}' names no variant; give comma-separated variants: {VARIANT_HELP}")
    for v in variants:
        parse_variant(v)  # a typo is refused here, before any work
    return variants


def variant_config(base: UNetConfig, variant: str) -> UNetConfig:
    """The base config with the variant's SOI placement (the base's own placement is replaced)."""
    cfg = dataclasses.replace(base, name=f"{base.name}_{_slug(variant)}", **parse_variant(variant))
    return validate(cfg, f"variant '{variant}'")


def _slug(variant: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", variant.lower()).strip("_")


def all_variants(depth: int) -> list[str]:
    """What `soi-mcu complexity` tabulates: STMC, S-CC, 2xS-CC, SS-CC, SC and S-CC+SC everywhere."""
    out = ["stmc"]
    out += [f"scc:{p}" for p in range(1, depth + 1)]
    out += [f"scc:{p}+{q}" for p in range(1, depth + 1) for q in range(p + 1, depth + 1)]
    out += [f"sscc:{p}" for p in range(1, depth + 1)]
    out += [f"sc:{p}" for p in range(1, depth + 1)]
    out += [f"fp:{p}/{q}" for p in range(1, depth + 1) for q in range(p, depth + 1)]
    return out
