"""The whole path for one model and one board: model -> streaming check -> int8 -> C -> firmware ->
simulator -> report. Each stage is its own module; this file only sequences them and shows progress."""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from soi_mcu.codegen import generate, generate_library
from soi_mcu.codegen.render import DEFAULT_API
from soi_mcu.data import load_frames, synthetic_frames
from soi_mcu.errors import SoiError, ToolMissingError, require_tool
from soi_mcu.model import ModelSpec, OfflineModel, analyze, demo_spec
from soi_mcu.model.c_names import c_safe
from soi_mcu.model.streaming import check_equivalence, torch_threads
from soi_mcu.quantize import export_tflite, reference_outputs
from soi_mcu.quantize.graph import load_graph
from soi_mcu.report.analysis import Analysis, layer_costs
from soi_mcu.report.fit import check_fits, check_fits_early, check_frames, memory_estimate, plan_for_board
from soi_mcu.report.outputs import claimed, lock_only
from soi_mcu.report.run_report import Report, format_layers, format_table, make_report, write_json
from soi_mcu.target.boards import Board, load_board
from soi_mcu.target.build import APT_HINT, build_firmware, cmsis_nn_path
from soi_mcu.target.code_size import code_functions, estimate_code_bytes, model_data_bytes, reachable, roots
from soi_mcu.target.link_map import library_footprint
from soi_mcu.target.qemu import QEMU_HINT, check_qemu_machine, simulate_qemu
from soi_mcu.target.renode import RENODE_MISSING, renode_available, simulate_renode

STAGES = 8


@dataclass
class Progress:
    quiet: bool = False
    total: int = STAGES
    stage: int = 0
    started: float = 0.0

    def __call__(self, what: str) -> None:
        self.stage += 1
        if not self.quiet:
            now = time.monotonic()
            self.started = self.started or now
            print(f"[{self.stage}/{self.total}] {what} (+{now - self.started:.1f}s)", file=sys.stderr, flush=True)


def quantize_frames(x: np.ndarray, scale: float, zero_point: int) -> np.ndarray:
    """Float frames -> int8 with the model input's quantization (as TFLite's QUANTIZE does)."""
    q = np.floor(x / scale + 0.5) + zero_point
    return np.clip(q, -128, 127).astype(np.int8)


def preflight(board: Board, backend: str = "qemu") -> None:
    """Fail in the first second, not after the export, when a tool or setting is missing."""
    require_tool("cmake", "apt-get install cmake")
    require_tool("arm-none-eabi-gcc", APT_HINT)
    cmsis_nn_path()
    if backend == "qemu":
        require_tool("qemu-system-arm", QEMU_HINT)
        if not board.qemu_machine:
            raise SoiError(f"board {board.name} cannot run in QEMU (no [simulators.qemu] in its board file); "
                           f"its simulators: {', '.join(board.simulators) or 'none'}")
        check_qemu_machine(board)
    elif backend == "renode":
        if not renode_available():
            raise ToolMissingError(RENODE_MISSING)
        if not board.renode_platform:
            raise SoiError(f"board {board.name} cannot run in Renode (no [simulators.renode] in its board file)")
    else:
        raise SoiError(f"unknown backend '{backend}' (qemu or renode)")


def check_writable(out_dir: Path) -> None:
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        probe = out_dir / f".soi-write-test-{os.getpid()}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise SoiError(f"output folder {out_dir} cannot be written ({exc.strerror}); choose another --out") from None


class FrameProgress:
    """Per-frame progress of a long float check: a line every few seconds once it has run for two."""

    def __init__(self, what: str, quiet: bool = False) -> None:
        self.what, self.quiet = what, quiet
        self.started = time.monotonic()
        self.last = self.started

    def __call__(self, done: int, total: int) -> None:
        now = time.monotonic()
        if self.quiet or now - self.started < 2.0 or (now - self.last < 3.0 and done < total):
            return
        self.last = now
        per = (now - self.started) / done
        print(f"      {self.what}: frame {done}/{total} ({per:.3f} s per frame, {per * (total - done):.0f} s left)",
              file=sys.stderr, flush=True)


def float_model(model: ModelSpec | OfflineModel, seed: int, frames: int, data: np.ndarray | None = None,
                quiet: bool = False):
    """The float model (a user's trained one, or seeded from a spec), its input frames (the user's data
    first where given, synthetic after) and proof that it streams as it runs offline."""
    offline = (model if isinstance(model, OfflineModel) else OfflineModel(model, seed=seed)).eval()
    spec = offline.spec
    x = synthetic_frames(frames, spec.freq_bins, spec.in_channels, seed=seed + 1)
    if data is not None:
        x[: min(frames, len(data))] = data[:frames]
    check_finite_weights(offline)
    eq = check_equivalence(offline, torch.from_numpy(x), progress=FrameProgress("streaming == offline", quiet))
    if not eq.finite:
        raise SoiError("the float model's output has NaN or inf values (check its weights and input frames)")
    if not eq.ok:
        raise SoiError(f"streaming differs from offline by {eq.max_abs_diff:.3g} (more than {eq.tolerance:.3g}, float "
                       f"rounding at the output's scale {eq.scale:.3g}): this is a bug in soi-mcu; please report it")
    return offline, x, eq


def check_finite_weights(offline: OfflineModel) -> None:
    """Name the layer whose weights hold NaN or inf (a diverged training run, a bad checkpoint), before the
    streaming check would find only that the output is not finite."""
    for key, tensor in offline.state_dict().items():
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all()):
            *group, layer, param = key.split(".")
            bad = int((~torch.isfinite(tensor)).sum())
            raise SoiError(f"layer '{layer}': its {param} has {bad} NaN or inf value(s) of {tensor.numel()}; check the "
                           "checkpoint or the training run that produced it")


def export(offline: OfflineModel, length: int, seed: int, out_dir: Path, data: np.ndarray | None = None):
    """Full-int8 .tflite of `length` frames, calibrated on 16 sequences: windows of the user's data
    where given, synthetic frames otherwise."""
    spec = offline.spec
    if data is not None:
        calib = calibration_windows(data, length)
    else:
        calib = np.stack([synthetic_frames(length, spec.freq_bins, spec.in_channels, seed=seed + 100 + i)
                          for i in range(16)])
    return export_tflite(offline, calib, length, out_dir / "model.tflite")


def calibration_windows(data: np.ndarray, length: int, count: int = 16) -> np.ndarray:
    """Up to `count` windows of `length` frames spread evenly over the user's frames."""
    if len(data) < length:
        raise SoiError(f"the calibration data has {len(data)} frames; the int8 export needs at least {length} "
                       "(one sequence of the exported length): give more frames or fewer --frames")
    starts = np.unique(np.linspace(0, len(data) - length, num=count).round().astype(int))
    return np.stack([data[s:s + length] for s in starts])


def int8_snr_db(offline: OfflineModel, x: np.ndarray, reference: np.ndarray, graph) -> float:
    """Float output power over the int8 reference's error power on the streamed frames (dB)."""
    out = graph.tensors[graph.outputs[0]]
    frames = len(reference)
    deq = (reference.reshape(frames, -1).astype(np.float64) - int(out.zero_point[0])) * float(out.scale[0])
    with torch.no_grad(), torch_threads(1):
        ref = offline.eval()(torch.from_numpy(x[:frames])[None])[0].reshape(frames, -1).double().numpy()
    noise = float(((ref - deq) ** 2).sum())
    return float("inf") if noise == 0 else float(10 * np.log10(max(float((ref ** 2).sum()), 1e-30) / noise))


def run(model: ModelSpec | OfflineModel, board_name: str, frames: int, out_dir: Path, seed: int = 0,
        quiet: bool = False, backend: str = "qemu", data: Path | None = None) -> Report:
    """The whole path for a spec (weights seeded) or a model with its own weights (e.g. imported);
    `data`: the user's frames (a .npy or a folder of them) to calibrate the int8 export and stream."""
    model = c_safe(model)  # user-supplied names become valid, unique C identifiers
    spec = model.spec if isinstance(model, OfflineModel) else model
    board = load_board(board_name)
    check_frames(frames, spec, board)
    preflight(board, backend)
    check_writable(out_dir)
    sched = analyze(spec)
    length = -(-frames // sched.phases) * sched.phases
    frames_in = load_user_frames(data, spec, length)
    model = _seeded(model, seed)
    check_fits_early(model, board, frames * spec.freq_bins * spec.in_channels)  # before the float check and export
    # Inputs checked: from here on this run owns out_dir, and its old report is marked until the new one is written.
    with claimed(out_dir, "report.json"):
        progress = Progress(quiet)
        progress(f"model '{spec.name}': building and checking streaming == offline (float)")
        offline, x, eq = float_model(model, seed, max(frames, 3 * sched.receptive_field + 1), frames_in, quiet)
        progress("exporting full-int8 .tflite with TensorFlow's converter"
                 + (f", calibrated on {data}" if data is not None else ""))
        artifact = export(offline, length, seed, out_dir, frames_in)
        if artifact.from_cache and not quiet:
            print(f"      reused the cached conversion {artifact.sha256[:12]} (same model, calibration and converter)",
                  file=sys.stderr)

        # The plan, the fit and the code estimate come before the LiteRT reference: a model that does not
        # fit is refused without waiting for the reference of every frame.
        progress("generating C from templates")
        graph = load_graph(artifact.path)
        inp = graph.tensors[graph.inputs[0]]
        inputs_q = quantize_frames(x[:frames], float(inp.scale[0]), int(inp.zero_point[0]))
        plan = plan_for_board(spec, graph, board, quiet)
        check_fits(plan, board, input_bytes=inputs_q.size)  # weights and RAM: before spending time on anything else
        sources = generate(plan, board, inputs_q, out_dir / "generated")
        code = estimate_code_bytes(sources.model_sources[0], board)
        est = memory_estimate(plan, code)
        if not quiet:
            print("      estimate: " + ", ".join(f"{k.replace('_', ' ')} {v:,} B" for k, v in est.items()), file=sys.stderr)
        check_fits(plan, board, code or 0, inputs_q.size)

        progress("computing the int8 reference with LiteRT's reference kernels")
        reference = reference_outputs(artifact, inputs_q)

        progress(f"building firmware for {board.name} ({board.core})")
        build = build_firmware(sources, board, out_dir / "build", io="uart" if backend == "renode" else "semihosting")

        if backend == "renode":
            progress(f"simulating {frames} frames in Renode ({board.renode_platform}), counting instructions")
            sim = simulate_renode(build, board, frames, plan.output_size, out_dir / "sim")
        else:
            progress(f"simulating {frames} frames in QEMU ({board.qemu_machine}) with the cycle plugin")
            sim = simulate_qemu(build, board, frames, plan.output_size, out_dir / "sim")

        progress("comparing every frame with LiteRT")
        report = make_report(plan, board, build, sim, reference, spec.frame_rate_hz, eq.max_abs_diff, est,
                             input_frames=str(data) if data is not None else "synthetic",
                             int8_snr_db=int8_snr_db(offline, x, reference, graph),
                             model_library=_library_footprint(out_dir / "build" / "soi_firmware.map"))
        progress(f"writing {out_dir / 'report.json'}")
        write_json(report, out_dir / "report.json")
        return report


_C_RESERVED = {"auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum",
               "extern", "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return",
               "short", "signed", "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void",
               "volatile", "while", "main"}
_TAKEN = ("soi_ring", "soi_runtime", "soi_kernels", "soi_nn", "soi_conv", "soi_prelu", "soi_table", "arm_")


def check_api_name(api: str) -> None:
    """A --name must be a C identifier that no runtime or kernel symbol starts with."""
    import re

    if not re.fullmatch(r"[a-z][a-z0-9_]{0,31}", api) or api in _C_RESERVED:
        raise SoiError(f"--name '{api}': give a lower-case C identifier (letters, digits, _; up to 32), e.g. kws")
    if api.startswith(_TAKEN):
        raise SoiError(f"--name '{api}': names starting with {', '.join(_TAKEN)} are the runtime's and kernels'")


def _seeded(model: ModelSpec | OfflineModel, seed: int) -> OfflineModel:
    """The float model with its weights (a spec's seeded as float_model() would), for the early fit check."""
    return model if isinstance(model, OfflineModel) else OfflineModel(model, seed=seed)


def _library_footprint(map_file: Path) -> dict | None:
    if not map_file.is_file():
        return None
    fp = library_footprint(map_file)
    return {"flash": fp.flash, "ram": fp.ram}


def load_user_frames(data: Path | None, spec: ModelSpec, length: int) -> np.ndarray | None:
    """The user's frames, checked against the model before any long work (None: synthetic frames)."""
    if data is None:
        return None
    frames = load_frames(data, spec.freq_bins, spec.in_channels)
    calibration_windows(frames, length)  # enough of them for one exported sequence
    return frames


def generate_library_for(model: ModelSpec | OfflineModel, board_name: str, out_dir: Path, seed: int = 0,
                         data: Path | None = None, api: str = DEFAULT_API) -> list[Path]:
    """`soi-mcu generate`: float check, int8 export (calibrated on `data` where given), C library (no
    harness, no build) whose functions, macros and files start with `api`."""
    check_api_name(api)
    model = c_safe(model)
    spec = model.spec if isinstance(model, OfflineModel) else model
    board = load_board(board_name)
    check_writable(out_dir)
    sched = analyze(spec)
    length = 8 * sched.phases
    frames_in = load_user_frames(data, spec, length)
    model = _seeded(model, seed)
    check_fits_early(model, board)  # before the float check and the export
    with lock_only(out_dir):  # one run at a time writes into out_dir
        return _generate_library(model, spec, board, out_dir, seed, data, api, sched, length, frames_in)


def _generate_library(model, spec: ModelSpec, board: Board, out_dir: Path, seed: int, data: Path | None, api: str,
                      sched, length: int, frames_in: np.ndarray | None) -> list[Path]:
    progress = Progress(total=4)
    progress(f"model '{spec.name}': checking streaming == offline (float)")
    offline, _, _ = float_model(model, seed, 3 * sched.receptive_field + 1, frames_in)
    progress("exporting full-int8 .tflite with TensorFlow's converter"
             + (f", calibrated on {data}" if data is not None else ""))
    artifact = export(offline, length, seed, out_dir, frames_in)
    progress("planning and checking the board's memory")
    plan = plan_for_board(spec, load_graph(artifact.path), board)
    check_fits(plan, board)
    progress(f"writing the C library to {out_dir}")
    files = generate_library(plan, board, out_dir, api)
    code = estimate_code_bytes(out_dir / "model" / f"{api}.c", board)
    print("      estimate: " + ", ".join(f"{k.replace('_', ' ')} {v:,} B" for k, v in memory_estimate(plan, code).items()),
          file=sys.stderr)
    check_fits(plan, board, code or 0)
    return files


def analyze_model(model: ModelSpec | OfflineModel, board_name: str, out_dir: Path, seed: int = 0,
                  data: Path | None = None, quiet: bool = False) -> Analysis:
    """`soi-mcu analyze`: per-layer cost and the fit on the board, from the int8 plan and the generated
    model compiled for the core; no firmware is built or simulated."""
    model = c_safe(model)
    spec = model.spec if isinstance(model, OfflineModel) else model
    board = load_board(board_name)
    check_writable(out_dir)
    sched = analyze(spec)
    length = 8 * sched.phases
    frames_in = load_user_frames(data, spec, length)
    with lock_only(out_dir):  # one run at a time writes into out_dir
        return _analyze(model, spec, board, out_dir, seed, data, quiet, sched, length, frames_in)


def _analyze(model, spec: ModelSpec, board: Board, out_dir: Path, seed: int, data: Path | None, quiet: bool,
             sched, length: int, frames_in: np.ndarray | None) -> Analysis:
    progress = Progress(quiet, total=4)
    progress(f"model '{spec.name}': checking streaming == offline (float)")
    offline, _, _ = float_model(model, seed, 3 * sched.receptive_field + 1, frames_in, quiet)
    progress("exporting full-int8 .tflite with TensorFlow's converter" + (f", calibrated on {data}" if data else ""))
    artifact = export(offline, length, seed, out_dir, frames_in)
    progress(f"planning for {board.name} ({board.core})")
    plan = plan_for_board(spec, load_graph(artifact.path), board, quiet=True)
    progress(f"compiling the generated model for {board.core} to measure its code and data")
    generate_library(plan, board, out_dir)
    model_c = out_dir / "model" / "soi_model.c"
    functions = code_functions(model_c, board)
    data_bytes = model_data_bytes(model_c, board)
    code = None if functions is None else sum(functions[f][0] for f in reachable(functions, roots(model_c)))
    flash = ram = None
    if code is not None and data_bytes is not None:
        flash = code + data_bytes["const"] + data_bytes["data"]
        ram = data_bytes["data"] + data_bytes["bss"]
    macs = [sum(layer.macs(sched) for layer in spec.layers if sched.works(layer, p)) for p in range(sched.phases)]
    return Analysis(model=spec.name, board=board.name, core=board.core, frame_rate_hz=spec.frame_rate_hz,
                    layers=layer_costs(spec, sched, plan, functions), macs_per_step_avg=sum(macs) / len(macs),
                    macs_per_step_max=max(macs), flash=flash, ram=ram, stack=board.stack_size,
                    board_flash=board.flash_size, board_ram=board.ram_size, estimate=memory_estimate(plan, code))


def demo(board: str = "mps2-an386", frames: int = 64, out_dir: Path = Path("out/demo"), quiet: bool = False,
         backend: str = "qemu") -> Report:
    report = run(demo_spec(), board, frames, out_dir, quiet=quiet, backend=backend)
    if not quiet:
        print(format_table(report))
        print(format_layers(report))
    return report
