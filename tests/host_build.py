"""Compile generated model code for the host with gcc and run it (the fast bit-exact check)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np

from soi_mcu.paths import FIRMWARE_DIR, kernel_include_dirs, kernel_sources

HERE = Path(__file__).resolve().parent


def run_on_host(gen_dir: Path, frames: int, out_bytes: int, sanitize: bool = False) -> np.ndarray:
    exe = gen_dir / "host_model"
    flags = ["-O1", "-g", "-fsanitize=address,undefined", "-fno-sanitize-recover=all"] if sanitize else ["-O2"]
    cmd = [
        "gcc", *flags, "-std=c11", "-Wall", "-Wextra", "-Werror", f"-DSOI_FRAMES={frames}",
        f"-I{gen_dir / 'model'}", *(f"-I{d}" for d in kernel_include_dirs()), f"-I{FIRMWARE_DIR / 'runtime'}",
        str(gen_dir / "model" / "soi_model.c"), str(gen_dir / "harness" / "soi_inputs.c"),
        str(FIRMWARE_DIR / "runtime" / "soi_ring.c"), str(HERE / "host" / "host_main.c"),
        *map(str, kernel_sources()), "-o", str(exe),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, f"host build failed:\n{proc.stderr[-3000:]}"
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout.split()
    assert len(out) == frames
    return np.stack([np.frombuffer(bytes.fromhex(line), dtype=np.int8) for line in out]).reshape(frames, out_bytes)
