"""Static memory plan: which activation buffers must persist across steps, and an arena shared by
the others with liveness-based reuse.

A buffer is transient when, on every phase it is read, it was written earlier in the same step;
it then carries nothing from one step to the next, and buffers whose live ranges within a step do
not overlap can share arena bytes. Buffers read on steps where they are not written (a frame held
by a duplication, a transposed conv's later frames, deferred work read by the next step) persist.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

GROUP_ORDER = ("early", "step", "deferred")  # the order of a step's work (precompute = deferred + early)
ALIGN = 4


@dataclass(frozen=True)
class MemoryPlan:
    arena_bytes: int
    offsets: dict[str, int]  # transient buffer -> offset in the arena
    persistent: dict[str, int]  # buffer -> bytes, kept in its own static array

    def total(self) -> int:
        return self.arena_bytes + sum(self.persistent.values())


def plan_memory(buffers: dict[str, int], groups: dict, phases: int, output_buffer: str) -> MemoryPlan:
    names = list(buffers)
    writes: dict[str, dict[int, list[int]]] = {n: {} for n in names}
    reads: dict[str, dict[int, list[int]]] = {n: {} for n in names}
    pos = 0
    for g in GROUP_ORDER:
        for action in groups[g]:
            written = _targets(action)
            read = _sources(action)
            for p in range(phases):
                if action.mask >> p & 1:
                    for n in names:
                        if _mentions(read, n):
                            reads[n].setdefault(p, []).append(pos)
                        if _mentions(written, n):
                            writes[n].setdefault(p, []).append(pos)
            pos += 1
        if g == "step":  # step() copies the output buffer out at its end
            end_of_step = pos
            pos += 1
    for n in names:
        if _mentions([output_buffer], n):
            for p in range(phases):
                reads[n].setdefault(p, []).append(end_of_step)
    persistent: dict[str, int] = {}
    intervals: list[tuple[int, int, str]] = []
    for n in names:
        transient = bool(writes[n]) and all(
            p in writes[n] and min(writes[n][p]) < min(rs) for p, rs in reads[n].items()
        ) and not n.startswith("soi_input")
        if transient:
            start = min(min(w) for w in writes[n].values())
            end = max([max(r) for r in reads[n].values()] + [max(max(w) for w in writes[n].values())])
            intervals.append((start, end, n))
        else:
            persistent[n] = buffers[n]
    offsets: dict[str, int] = {}
    placed: list[tuple[int, int, int, int]] = []  # (start, end, offset, size)
    for start, end, n in sorted(intervals):
        size = -(-buffers[n] // ALIGN) * ALIGN
        live = sorted((o, s) for (a, b, o, s) in placed if not (b < start or end < a))
        offset = 0
        for o, s in live:  # first fit among the buffers live at the same time
            if offset + size <= o:
                break
            offset = max(offset, o + s)
        offsets[n] = offset
        placed.append((start, end, offset, size))
    arena = max((o + s for (_, _, o, s) in placed), default=0)
    return MemoryPlan(arena, offsets, persistent)


def _targets(action) -> list[str]:
    n = action.node
    if action.what in ("push", "shift_push"):
        return []  # they write states, not activation buffers
    return [t for t in (getattr(n, "target", ""), getattr(n, "copy_to", "")) if t]


def _sources(action) -> list[str]:
    n = action.node
    if action.what == "shift_copy":
        return []
    if action.what == "conv" and getattr(n, "has_state", False):
        return []  # a conv with a state reads its ring, filled by its push
    return list(getattr(n, "sources", ())) or [getattr(n, "source", "")]


def _mentions(exprs: list[str], name: str) -> bool:
    return any(re.search(rf"\b{re.escape(name)}\b", e) for e in exprs)
