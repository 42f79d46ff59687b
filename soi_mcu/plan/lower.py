"""Decisions for the C code: spec + int8 graph -> a typed plan of buffers, states and kernel calls.

Each layer kind lowers itself to typed nodes (soi_mcu/ops/); this module orders their work into
the step's groups, decides the input copy and the memory plan, and totals what the nodes cost.
Everything numeric is decided here or in the nodes; the templates only print it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from soi_mcu.model.spec import ModelSpec, analyze
from soi_mcu.ops.base import Action, BufRef, LowerContext, Lowered
from soi_mcu.plan.memory import MemoryPlan, plan_memory
from soi_mcu.quantize.graph import Graph, match_layers

GROUPS = ("early", "step", "deferred")
INPUT_COPY = "soi_input_copy"


@dataclass(frozen=True)
class CPlan:
    model_name: str
    phases: int
    input_size: int  # bytes of an input frame
    output_size: int  # bytes of an output frame
    in_width: int
    in_channels: int
    out_width: int
    out_channels: int
    input_scale: float
    input_zero_point: int
    output_scale: float
    output_zero_point: int
    output_buffer: BufRef
    buffers: dict[str, int]  # activation frame buffers: name -> bytes
    memory: MemoryPlan  # which of them persist, and the arena the others share
    nodes: tuple[Any, ...]
    scratch_bytes: int
    macs_by_phase: tuple[int, ...]
    precomputed_macs_by_phase: tuple[int, ...]  # part of macs_by_phase done by precompute()
    early_actions: tuple[Action, ...]  # precompute(), before the frame: needs past frames only
    step_actions: tuple[Action, ...]
    deferred_actions: tuple[Action, ...]  # precompute(), after the output: for later outputs only
    copies_input: bool

    @property
    def all_phases(self) -> int:
        return (1 << self.phases) - 1

    @property
    def scratch_words(self) -> int:
        return (self.scratch_bytes + 3) // 4

    @property
    def state_bytes(self) -> int:
        return sum(getattr(n, "state_bytes", 0) for n in self.nodes)

    @property
    def weight_bytes(self) -> int:
        return sum(getattr(n, "constant_bytes", 0) for n in self.nodes)

    @property
    def kernels(self) -> tuple[str, ...]:
        """The kernel functions the generated code calls, in first-use order."""
        return tuple(dict.fromkeys(k for n in self.nodes for k in getattr(n, "kernels", ())))

    @property
    def declared(self) -> list[Any]:
        """Nodes with static data of their own (constants, states), in declaration order."""
        return _ranked(self.nodes, "declare_rank")

    @property
    def initialized(self) -> list[Any]:
        """Nodes whose kernels init() checks (buffer sizes), in order."""
        return _ranked(self.nodes, "init_rank")

    @property
    def rings(self) -> list[Any]:
        """Nodes with a ring state that reset() refills with its zero point, in declaration order."""
        return [n for n in self.declared if getattr(n, "has_ring", False)]

    @property
    def resets(self) -> list[Any]:
        """Nodes with a state of their own that reset() sets (a recurrent layer's), in declaration order."""
        return [n for n in self.declared if getattr(n, "has_reset", False)]

    @property
    def headers(self) -> tuple[str, ...]:
        """The project's kernel headers the generated code includes, in first-use order."""
        return tuple(dict.fromkeys(h for n in self.nodes for h in getattr(n, "headers", ())))

    def uses(self, kernel: str) -> bool:
        return kernel in self.kernels

    def of_kind(self, kind: str) -> list[Any]:
        return [n for n in self.nodes if n.kind == kind]


def lower(spec: ModelSpec, graph: Graph, core: str | None = None, fast_kernels: bool = True,
          portable_layers: frozenset[str] = frozenset()) -> CPlan:
    """core: the target core (None: any), which decides where the project's DSP kernels replace the CMSIS-NN
    call; fast_kernels=False keeps every conv on the CMSIS-NN API (the int8 filters, half the flash), and
    portable_layers the conv nodes of those names."""
    sched = analyze(spec)
    consumers: dict[str, list] = {}
    for layer in spec.layers:
        for src in layer.inputs:
            consumers.setdefault(src, []).append(layer)
    inp, outp = graph.tensors[graph.inputs[0]], graph.tensors[graph.outputs[0]]
    ctx = LowerContext(sched, match_layers(graph, spec), {"input": BufRef("input")}, {"input": inp}, consumers,
                       core, fast_kernels, portable_layers)
    lowered: dict[str, Lowered] = {}
    for layer in spec.layers:
        low = layer.lower(ctx)
        lowered[layer.name] = low
        ctx.buf[layer.name], ctx.quant[layer.name] = low.out, low.quant
    groups = _schedule(spec, sched, lowered)
    copies_input = any(ref.buffer == "input" and not ref.ring for a in groups["deferred"] for ref in _refs(a.node))
    if copies_input:  # deferred work reads the frame after step() returned: keep a copy
        swapped = {id(n): _with_input_copy(n) for low in lowered.values() for n in low.nodes}
        groups = {g: tuple(dataclasses.replace(a, node=swapped[id(a.node)]) for a in acts)
                  for g, acts in groups.items()}
        lowered = {k: dataclasses.replace(v, nodes=tuple(swapped[id(n)] for n in v.nodes)) for k, v in lowered.items()}
    nodes = tuple(n for low in lowered.values() for n in low.nodes)
    buffers = _buffers(spec, lowered)
    if copies_input:
        buffers[INPUT_COPY] = spec.freq_bins * spec.in_channels
    output = ctx.buf[sched.output].with_input(INPUT_COPY) if copies_input else ctx.buf[sched.output]
    macs = [sum(n.macs for n in nodes if getattr(n, "macs", 0) and p % n.run_period == 0) for p in range(sched.phases)]
    pre = [sum(a.node.macs for g in ("early", "deferred") for a in groups[g]
               if a.what == "run" and getattr(a.node, "macs", 0) and a.mask >> p & 1) for p in range(sched.phases)]
    return CPlan(
        model_name=spec.name, phases=sched.phases,
        input_size=spec.freq_bins * spec.in_channels,
        output_size=sched.width[sched.output] * sched.channels[sched.output],
        in_width=spec.freq_bins, in_channels=spec.in_channels,
        out_width=sched.width[sched.output], out_channels=sched.channels[sched.output],
        input_scale=float(inp.scale[0]), input_zero_point=int(inp.zero_point[0]),
        output_scale=float(outp.scale[0]), output_zero_point=int(outp.zero_point[0]),
        output_buffer=output, buffers=buffers,
        memory=plan_memory(buffers, groups, sched.phases, output),
        nodes=nodes,
        scratch_bytes=max([getattr(n, "scratch_bytes", 0) for n in nodes] + [64]),
        macs_by_phase=tuple(macs), precomputed_macs_by_phase=tuple(pre),
        early_actions=groups["early"], step_actions=groups["step"], deferred_actions=groups["deferred"],
        copies_input=copies_input,
    )


def _ranked(nodes: tuple[Any, ...], rank: str) -> list[Any]:
    return sorted((n for n in nodes if getattr(n, rank, None) is not None), key=lambda n: getattr(n, rank))


def _buffers(spec: ModelSpec, lowered: dict[str, Lowered]) -> dict[str, int]:
    """Activation buffers in the order the generator has always declared them (by kind, then layer)."""
    ranked = sorted(((layer.buffer_rank, i), name, size) for i, layer in enumerate(spec.layers)
                    for name, size in lowered[layer.name].buffers.items())
    return {name: size for _, name, size in ranked}


def _refs(node: Any) -> list[BufRef]:
    """Every frame reference a node holds (its fields)."""
    refs: list[BufRef] = []
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        refs += [value] if isinstance(value, BufRef) else [v for v in value if isinstance(v, BufRef)] \
            if isinstance(value, tuple) else []
    return refs


def _with_input_copy(node: Any) -> Any:
    """The node reading the input copy wherever it read step()'s input argument."""
    changes = {}
    for f in dataclasses.fields(node):
        value = getattr(node, f.name)
        if isinstance(value, BufRef):
            changes[f.name] = value.with_input(INPUT_COPY)
        elif isinstance(value, tuple) and value and all(isinstance(v, BufRef) for v in value):
            changes[f.name] = tuple(v.with_input(INPUT_COPY) for v in value)
    return dataclasses.replace(node, **changes) if changes else node


def _schedule(spec: ModelSpec, sched, lowered: dict[str, Lowered]) -> dict[str, tuple[Action, ...]]:
    """Order each step's work into the groups of Schedule.group: early and deferred work run in
    precompute(), the rest in step(). Masks have bit p set for the phases p an action runs on.
    Late actions (shifts taking in their input's frame) come last, after everything that reads
    the delayed frame."""
    groups: dict[str, list[Action]] = {g: [] for g in GROUPS}
    for layer in spec.layers:
        for what, node, group_of in layer.actions(lowered[layer.name], sched):
            for group, actions in groups.items():
                mask = sum(1 << p for p in range(sched.phases) if group_of(p) == group)
                if mask:
                    actions.append(Action(what, node, mask))
    for layer in spec.layers:
        for what, node, mask in layer.late_actions(lowered[layer.name], sched):
            groups["deferred"].append(Action(what, node, mask))
    return {g: tuple(a) for g, a in groups.items()}
