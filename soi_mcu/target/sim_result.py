"""What a simulator run returns (SimResult), built the same way from any backend's marker hits.

The harness calls empty marker functions around each step (soi_mark_begin / soi_mark_end), around
each precompute (soi_mark_pre_begin / soi_mark_pre_end) and before each layer (soi_mark_layer_<name>);
a backend records its counters when each is entered (QEMU: the cycle plugin; Renode: hooks reading
ExecutedInstructions). Counts between consecutive hits are then attributed to what the earlier one
opened, so a step's layers and overheads add up to its measured total exactly.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from soi_mcu.errors import SoiError

STEP_MARKS = ("soi_mark_begin", "soi_mark_end", "soi_mark_pre_begin", "soi_mark_pre_end")
LAYER_MARK_PREFIX = "soi_mark_layer_"


@dataclass(frozen=True)
class MarkHit:
    """Counters when a marker function was entered (everything executed before it)."""

    addr: int
    insns: int
    cycles_p1: int
    cycles: int  # pipeline refill P=2: the estimate
    cycles_p3: int

    def since(self, earlier: MarkHit) -> MarkHit:
        """Counts between `earlier` and this hit (address of this hit)."""
        return MarkHit(
            self.addr,
            self.insns - earlier.insns,
            self.cycles_p1 - earlier.cycles_p1,
            self.cycles - earlier.cycles,
            self.cycles_p3 - earlier.cycles_p3,
        )


@dataclass(frozen=True)
class SimResult:
    outputs: np.ndarray  # int8 (frames, output bytes)
    insns_per_step: np.ndarray  # int64 (frames,)
    cycles_per_step: np.ndarray  # estimated, pipeline refill P=2
    cycles_per_step_p1: np.ndarray  # estimate range: P=1 ...
    cycles_per_step_p3: np.ndarray  # ... to P=3
    precompute_insns: np.ndarray  # the part of each step's work done by precompute() (FP SOI)
    precompute_cycles: np.ndarray
    layer_cycles: dict[str, float]  # average estimated cycles per step by layer (and overheads)
    layer_insns: dict[str, float]
    stack_peak: int
    total_insns: int
    counter_kind: str  # how cycles were obtained
    simulator: str


def marker_addresses(symbols: dict[str, tuple[int, int]], where: str) -> tuple[list[int], dict[int, str]]:
    """The four step/precompute marker entry addresses and {address: layer name} (Thumb bit cleared)."""
    missing = [n for n in STEP_MARKS if n not in symbols]
    if missing:
        raise SoiError(f"{where}: profiling markers {', '.join(missing)} not found in the ELF")
    marks = [symbols[n][0] & ~1 for n in STEP_MARKS]
    layers = {addr & ~1: name[len(LAYER_MARK_PREFIX):] for name, (addr, _) in symbols.items()
              if name.startswith(LAYER_MARK_PREFIX)}
    return marks, layers


def result_from_hits(hits: Sequence[MarkHit], marks: list[int], layer_marks: dict[int, str], frames: int, *,
                     outputs: np.ndarray, stack_peak: int, total_insns: int, counter_kind: str,
                     simulator: str) -> SimResult:
    """Per-step and per-layer counts from the ordered marker hits of a finished run."""
    per_mark = [[h for h in hits if h.addr == m] for m in marks]
    if any(len(h) != frames for h in per_mark):
        raise SoiError(f"{simulator}: the profiling markers were hit {[len(h) for h in per_mark]} times "
                       f"for {frames} frames")
    steps = [e.since(b) for b, e in zip(per_mark[0], per_mark[1], strict=True)]
    pre = [e.since(b) for b, e in zip(per_mark[2], per_mark[3], strict=True)]
    labels = dict(zip(marks, ("(step overhead)", None, "(precompute overhead)", None), strict=True))
    cycles_by, insns_by = _breakdown(hits, labels | layer_marks, frames)

    def column(field: str, of: list[MarkHit]) -> np.ndarray:
        return np.array([getattr(s, field) for s in of], dtype=np.int64)

    return SimResult(
        outputs=outputs,
        insns_per_step=column("insns", steps),
        cycles_per_step=column("cycles", steps),
        cycles_per_step_p1=column("cycles_p1", steps),
        cycles_per_step_p3=column("cycles_p3", steps),
        precompute_insns=column("insns", pre),
        precompute_cycles=column("cycles", pre),
        layer_cycles=cycles_by,
        layer_insns=insns_by,
        stack_peak=stack_peak,
        total_insns=total_insns,
        counter_kind=counter_kind,
        simulator=simulator,
    )


def _breakdown(hits: Sequence[MarkHit], labels: dict[int, str | None],
               frames: int) -> tuple[dict[str, float], dict[str, float]]:
    """Attribute the counts between consecutive marker hits to the segment the earlier one opened.

    Segments open at the step/precompute begin markers (overhead) and at each layer's marker, and
    close at the end markers, so the segments of a step add up to its measured total exactly.
    """
    cycles: dict[str, float] = {}
    insns: dict[str, float] = {}
    current: str | None = None
    start = None
    for hit in hits:
        if current is not None and start is not None:
            delta = hit.since(start)
            cycles[current] = cycles.get(current, 0) + delta.cycles / frames
            insns[current] = insns.get(current, 0) + delta.insns / frames
        current = labels.get(hit.addr)
        start = hit
    return cycles, insns
