"""Whether a model fits its board, checked as early as each figure is known: a lower bound of the weights'
flash from the float model (before the export, which takes minutes for a large model), the int8 plan's
weights, state, buffers and scratch (before the C is generated), the code estimate (before the build),
and the input frames a run keeps in flash (--frames, before anything is allocated)."""

from __future__ import annotations

import sys

from soi_mcu.errors import SoiError
from soi_mcu.model import ModelSpec, OfflineModel
from soi_mcu.ops.conv_node import FAST_KERNELS
from soi_mcu.plan.lower import CPlan, lower
from soi_mcu.target.boards import Board


def min_weight_bytes(offline: OfflineModel) -> int:
    """A lower bound of the int8 weights' flash, from the float model: one byte per element of every weight
    tensor (conv, linear and recurrent matrices: two or more dimensions). Biases (int32), the quantization
    parameters and the DSP kernels' int16 streams come on top; batch norms fold into the convs."""
    return sum(t.numel() for t in offline.state_dict().values() if t.dim() >= 2)


def check_fits_early(offline: OfflineModel, board: Board, input_bytes: int = 0) -> None:
    """Refuse, before the float check and the export, a model whose weights alone exceed the board's flash."""
    weights = min_weight_bytes(offline)
    if weights + input_bytes > board.flash_size:
        frames = f" and {input_bytes:,} bytes of input frames (fewer --frames)" if input_bytes else ""
        raise SoiError(f"model weights need at least {weights:,} bytes of flash (one int8 per weight){frames}, board "
                       f"{board.name} has {board.flash_size:,}; use a smaller model or a larger board (checked before "
                       "the int8 export)")


def memory_estimate(plan, code_bytes: int | None = None) -> dict[str, int]:
    """What the model will take, from the plan (bytes), before the firmware is built; code when a cross
    compiler could estimate it (soi_mcu/target/code_size.py)."""
    est = {"weights_flash": plan.weight_bytes, "state": plan.state_bytes, "arena": plan.memory.arena_bytes,
           "persistent_activations": sum(plan.memory.persistent.values()), "scratch": plan.scratch_bytes}
    return est | ({"code": code_bytes} if code_bytes is not None else {})


def plan_for_board(spec: ModelSpec, graph, board: Board, quiet: bool = False) -> CPlan:
    """The C plan for the board's core: with the project's DSP kernels where they apply. Their int16 streams
    take more flash than the int8 filters (2x the filter, 3x for soi_conv_s16w_s8's folded rows), so where
    the model does not fit the board's flash, layers go back to the CMSIS-NN call one at a time, the
    largest saving first, until it fits (the smaller layers keep their fast kernel)."""
    plan = lower(spec, graph, board.core)
    fast = [n for n in plan.nodes if set(getattr(n, "kernels", ())) & set(FAST_KERNELS)]
    if fast and plan.weight_bytes > board.flash_size:
        excess, dropped = plan.weight_bytes - board.flash_size, []
        for node in sorted(fast, key=lambda n: n.constant_bytes - n.portable().constant_bytes, reverse=True):
            saving = node.constant_bytes - node.portable().constant_bytes
            if excess <= 0 or saving <= 0:
                break
            dropped.append(node.name)
            excess -= saving
        if excess <= 0:
            portable = lower(spec, graph, board.core, portable_layers=frozenset(dropped))
            if not quiet:
                print(f"      the int16 streams of the DSP kernels ({plan.weight_bytes:,} B of constants) do not fit the "
                      f"flash of {board.name}; {len(dropped)} of {len(fast)} layer(s) keep the CMSIS-NN call with int8 "
                      f"filters ({', '.join(dropped)}): {portable.weight_bytes:,} B", file=sys.stderr)
            return portable
    if fast and not quiet:
        print(f"      {len(fast)} layer(s) run on the project's kernels with generation-time constants (soi_conv_s16w_s8, "
              "soi_pw_s16w_s8, soi_dw_s16w_s8: int16 filter streams; soi_add_table_s8: tables)", file=sys.stderr)
    return plan


def check_frames(frames: int, spec: ModelSpec, board: Board) -> None:
    """--frames: at least one, and no more than the firmware can hold. The harness keeps every input frame
    as const data in flash, so the board's flash bounds them, before a large count allocates gigabytes."""
    if frames < 1:
        raise SoiError("--frames must be at least 1")
    frame_bytes = spec.freq_bins * spec.in_channels  # int8
    if frames * frame_bytes > board.flash_size:
        raise SoiError(f"--frames {frames}: the firmware holds every input frame in flash ({frames:,} x {frame_bytes} B "
                       f"= {frames * frame_bytes:,} B), more than the {board.flash_size:,} B of {board.name}; give at most "
                       f"{board.flash_size // frame_bytes:,} frames (fewer with the model's weights)")


def check_fits(plan, board: Board, code_bytes: int = 0, input_bytes: int = 0) -> None:
    """Refuse a model whose estimated flash or RAM exceeds the board's, before compiling; `input_bytes`: the
    harness's input frames, which a run keeps in flash too."""
    ram = plan.state_bytes + plan.memory.total() + plan.scratch_bytes + board.stack_size
    if plan.weight_bytes + code_bytes + input_bytes > board.flash_size:
        code = f" and {code_bytes} bytes of code" if code_bytes else ""
        frames = f" and {input_bytes} bytes of input frames (fewer --frames)" if input_bytes else ""
        raise SoiError(f"model weights need {plan.weight_bytes} bytes of flash{code}{frames}, board {board.name} has "
                       f"{board.flash_size}; use a smaller model or a larger board")
    if ram > board.ram_size:
        raise SoiError(f"model needs about {ram} bytes of RAM (state {plan.state_bytes}, buffers "
                       f"{plan.memory.total()}, scratch {plan.scratch_bytes}, stack {board.stack_size}), "
                       f"board {board.name} has {board.ram_size}")
