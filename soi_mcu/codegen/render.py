"""Render the C plan through the Jinja2 templates into a folder of sources.

The model library (soi_model.{c,h}) is separate from the simulation harness (harness/), so an
engineer can drop the first into their firmware. Output is deterministic: the same inputs give
byte-identical files.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import jinja2
import numpy as np

from soi_mcu import __version__
from soi_mcu.errors import SoiError
from soi_mcu.ops.base import BufRef
from soi_mcu.paths import FIRMWARE_DIR, TEMPLATES_DIR
from soi_mcu.plan.lower import CPlan
from soi_mcu.target.boards import Board


@dataclass(frozen=True)
class GeneratedSources:
    out_dir: Path
    model_sources: tuple[Path, ...]
    harness_sources: tuple[Path, ...]
    linker_script: Path
    digests: dict[str, str]  # relative path -> sha256


def c_array(values: Iterable | np.ndarray, per_line: int = 16, indent: str = "    ") -> str:
    """Format numbers as the body of a C initializer, `per_line` to a line."""
    flat = [int(v) for v in np.asarray(values).reshape(-1)]
    lines = [", ".join(str(v) for v in flat[i : i + per_line]) for i in range(0, len(flat), per_line)]
    return (",\n").join(indent + line for line in lines)


def c_ref(ref: BufRef) -> str:
    """A frame reference as the C expression that points at it."""
    if ref.ring:
        return f"soi_ring_window(&{ref.buffer}_state)"
    if ref.select is not None:
        in_period, out_period, frame = ref.select
        return f"({ref.buffer} + ((phase % {in_period}u) / {out_period}u) * {frame}u)"
    if ref.offset is not None:
        return f"({ref.buffer} + {ref.offset}u)"
    return ref.buffer


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(TEMPLATES_DIR)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["c_array"] = c_array
    env.filters["c"] = c_ref
    return env


def _op_partials(env: jinja2.Environment) -> dict[str, object]:
    """Each node kind's C (templates/ops/<kind>.c.j2): macros declare, init, push, run."""
    partials = {}
    for path in sorted((TEMPLATES_DIR / "ops").glob("*.c.j2")):
        partials[path.name.removesuffix(".c.j2")] = env.get_template(f"ops/{path.name}").module
    return partials


DEFAULT_API = "soi_model"


def _context(plan: CPlan, board: Board, env: jinja2.Environment, api: str = DEFAULT_API) -> dict:
    """What the model templates read: the plan, each node kind's partial, the board, and the prefix of
    the library's functions, macros and files (`api`: soi_model unless the user names it)."""
    return {
        "api": api,
        "API": api.upper(),
        "plan": plan,
        "ops": _op_partials(env),
        "version": __version__,
        "board": board,
    }


def linker_script(board: Board, stack_size: int | None = None) -> str:
    """The board's linker script (memory regions from its board file; the stack's size reserved)."""
    return _environment().get_template("linker.ld.j2").render(
        board=board, stack_size=board.stack_size if stack_size is None else stack_size)


def generate(plan: CPlan, board: Board, inputs_q: np.ndarray, out_dir: Path) -> GeneratedSources:
    """Write model/, harness/ and the board's linker script under out_dir."""
    env = _environment()
    frames = int(inputs_q.shape[0])
    ctx = _context(plan, board, env) | {"frames": frames, "stack_size": board.stack_size}
    files = {
        "model/soi_model.h": env.get_template("soi_model.h.j2").render(ctx),
        "model/soi_model.c": env.get_template("soi_model.c.j2").render(ctx),
        "harness/soi_harness.c": env.get_template("soi_harness.c.j2").render(ctx),
        "harness/soi_layer_marks.c": env.get_template("soi_layer_marks.c.j2").render(ctx),
        "harness/soi_inputs.c": env.get_template("soi_inputs.c.j2").render(
            ctx | {"inputs": inputs_q.reshape(frames, -1)}
        ),
        "linker.ld": linker_script(board),
    }
    files["model/sources.txt"] = "soi_model.c\n"
    digests = {}
    for rel, text in files.items():
        path = out_dir / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_if_changed(path, text)
        except OSError as exc:
            raise SoiError(f"cannot write generated sources to {path.parent}: {exc.strerror}; choose another --out") from None
        digests[rel] = hashlib.sha256(text.encode()).hexdigest()
    return GeneratedSources(
        out_dir=out_dir,
        model_sources=(out_dir / "model/soi_model.c",),
        harness_sources=(out_dir / "harness/soi_harness.c", out_dir / "harness/soi_inputs.c",
                         out_dir / "harness/soi_layer_marks.c"),
        linker_script=out_dir / "linker.ld",
        digests=digests,
    )


def generate_library(plan: CPlan, board: Board, out_dir: Path, api: str = DEFAULT_API) -> list[Path]:
    """Write the model as a library an engineer drops into their firmware: model/ (the API header
    and sources, named `api`), the kernels and runtime it needs, a CMake target and a plain file list."""
    env = _environment()
    ctx = _context(plan, board, env, api)
    files: dict[str, str | bytes] = {
        f"model/{api}.h": env.get_template("soi_model.h.j2").render(ctx),
        f"model/{api}.c": env.get_template("soi_model.c.j2").render(ctx),
        "CMakeLists.txt": env.get_template("library_CMakeLists.txt.j2").render(ctx),
    }
    for name in ("soi_ring.c", "soi_ring.h"):
        files[f"runtime/{name}"] = (FIRMWARE_DIR / "runtime" / name).read_bytes()
    kernels = FIRMWARE_DIR / "kernels"  # src/<Family>/, include/, and soi/ (soi_conv_s16w_s8, soi_prelu_s8)
    for path in sorted(p for p in kernels.rglob("*") if p.is_file() and p.suffix in (".c", ".h", ".txt")):
        files[f"kernels/{path.relative_to(kernels)}"] = path.read_bytes()
    files["sources.txt"] = "".join(f"{rel}\n" for rel in sorted(files) if rel.endswith(".c"))
    written = []
    for rel, content in files.items():
        path = out_dir / rel
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            _write_if_changed(path, content if isinstance(content, str) else content.decode())
        except OSError as exc:
            raise SoiError(f"cannot write {path}: {exc.strerror}; choose another --out") from None
        written.append(path)
    return written


def _write_if_changed(path: Path, text: str) -> None:
    # Unchanged files keep their timestamps so the build does not recompile them.
    if path.is_file() and path.read_text() == text:
        return
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
