"""plan_for_board on a board whose flash does not take every int16 stream of the DSP kernels: layers go
back to the CMSIS-NN call one at a time, the largest saving first, and the others keep their kernel."""

from __future__ import annotations

from dataclasses import replace

from soi_mcu.ops.conv_node import FAST_KERNELS
from soi_mcu.pipeline import plan_for_board
from soi_mcu.plan.lower import lower
from soi_mcu.target.boards import load_board

from .conftest import Exported


def _fast(plan) -> list:
    return [n for n in plan.nodes if set(getattr(n, "kernels", ())) & set(FAST_KERNELS)]


def test_streams_are_dropped_per_layer_largest_first(demo_export: Exported) -> None:
    spec, graph = demo_export.spec, demo_export.graph
    board = load_board("mps2-an386")
    fast = lower(spec, graph, board.core)
    nodes = _fast(fast)
    assert len(nodes) >= 2
    saving = {n.name: n.constant_bytes - n.portable().constant_bytes for n in nodes}
    largest = max(saving, key=saving.get)
    # one byte too little flash for everything: dropping the largest stream is enough
    tight = replace(board, flash_size=fast.weight_bytes - 1)
    plan = plan_for_board(spec, graph, tight, quiet=True)
    assert plan.weight_bytes <= tight.flash_size
    kept = {n.name for n in _fast(plan)}
    assert kept == {n.name for n in nodes} - {largest}
    # enough flash: every stream stays
    assert len(_fast(plan_for_board(spec, graph, replace(board, flash_size=fast.weight_bytes), quiet=True))) == len(nodes)
