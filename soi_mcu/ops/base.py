"""What every layer kind provides, and the plain records the stages hand each other.

A layer kind is one class (a frozen dataclass: its spec) in its own module under soi_mcu/ops/,
with everything about that kind as methods: validation and schedule facts (`infer`), its offline
PyTorch form, its streaming step, the one MAC formula, its Keras export, the TFLite pattern it
matches and its lowering to typed plan nodes. The stages loop over a model's layers and call
these methods; none of them tests a layer's type.

Nothing here imports a stage: model/, quantize/, plan/ and codegen/ import this package.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from soi_mcu.errors import SoiError
from soi_mcu.target.cores import kernel_is_fast


@dataclass(frozen=True)
class Facts:
    """What a layer's output frames are: how often they come, their shape, what they depend on."""

    period: int  # steps between output frames
    channels: int
    width: int  # frequency bins
    receptive_field: int  # input frames the newest output frame depends on, worst case


@dataclass(frozen=True)
class BufRef:
    """Where a frame is in the C memory, as data: the memory planner reads `buffer`, codegen renders it.

    buffer: an activation buffer (soi_buf_*), "input" (step()'s argument) or "soi_input_copy";
    offset: a constant byte offset into it (None: the buffer itself);
    select: (input period, output period, frame bytes) - the frame of a transposed conv that this
    phase hands out, (phase % input period) / output period frames into the buffer;
    ring: the newest window of the partial state of layer `buffer` (not an activation buffer).
    """

    buffer: str
    offset: int | None = None
    select: tuple[int, int, int] | None = None
    ring: bool = False

    @property
    def activation_buffer(self) -> str:
        """The activation buffer this reference reads or writes ("" for a ring window)."""
        return "" if self.ring else self.buffer

    def with_input(self, replacement: str) -> BufRef:
        return BufRef(replacement, self.offset, self.select) if self.buffer == "input" and not self.ring else self


INPUT = BufRef("input")


def ring_window(layer: str) -> BufRef:
    return BufRef(layer, ring=True)


@dataclass(frozen=True)
class Action:
    """One thing a step does, in order: `what` of `node` on the phases set in `mask`."""

    what: str  # "push" (into a state), "run", "shift_copy", "shift_push", ...
    node: Any
    mask: int


@dataclass(frozen=True)
class Lowered:
    """A layer's part of the C plan: its nodes, where its newest frame is and its quantization."""

    nodes: tuple[Any, ...]
    out: BufRef
    quant: Any  # the output Tensor's quantization (soi_mcu.ops.records.Tensor)
    buffers: dict[str, int] = field(default_factory=dict)  # activation buffers it owns: name -> bytes


@dataclass
class LowerContext:
    """What lowering one layer may read: the schedule, the matched .tflite records, and for every
    earlier layer its output frame and quantization; `consumers` lists who reads each layer."""

    sched: Any
    matched: dict[str, Any]
    buf: dict[str, BufRef]
    quant: dict[str, Any]
    consumers: dict[str, list[Any]]
    core: str | None = None
    fast_kernels: bool = True
    portable_layers: frozenset[str] = frozenset()  # nodes kept on the CMSIS-NN API (flash: plan_for_board)

    def core_is_fast(self, kernel: str) -> bool:
        """The project's `kernel` is the faster one on the target core (None: any core, so no)."""
        return kernel_is_fast(kernel, self.core)


class KerasActs(dict):
    """What a kind's `keras` reads: the Keras tensor of every layer built so far, by name; and, for a
    kind that fixes its own int8 ranges instead of leaving them to the converter's calibration (GRU),
    `calibration(name)`: layer `name`'s float activations (batch, channels, time, freq) on the
    calibration frames, computed once, on first use, by `compute`."""

    def __init__(self, first: dict[str, Any], compute: Callable[[], dict[str, Any]]) -> None:
        super().__init__(first)
        self._compute = compute
        self._float: dict[str, Any] | None = None

    def calibration(self, name: str) -> Any:
        if self._float is None:
            self._float = self._compute()
        return self._float[name]


GroupOf = Callable[[int], "str | None"]  # phase -> "early" | "step" | "deferred" | None (not on this phase)


@dataclass(frozen=True)
class LayerOp:
    """Base of every layer kind. `inputs` names the layers (or "input") it reads; a single name is
    accepted where a kind has one input."""

    name: str
    inputs: tuple[str, ...]

    kind: ClassVar[str] = ""
    min_inputs: ClassVar[int] = 1
    max_inputs: ClassVar[int] = 1
    delays: ClassVar[bool] = False  # hands on frames from earlier steps (a shift): they are never fresh
    holds_input_frame: ClassVar[bool] = False  # reads its input on phases its input does not run (duplication)
    pushes: ClassVar[bool] = False  # keeps a partial state that takes each new input frame
    torch_group: ClassVar[str] = ""  # the OfflineModel ModuleDict its parameters live in ("" if none)
    # Where its activation buffers come in the generated declarations (kept as the generator always
    # had them, by kind: convs, adds, pools, transposed convs, concats, upsamplings, shifts).
    buffer_rank: ClassVar[int] = 0
    # PyTorch module types a user's nn.Sequential may hold that import as this kind:
    # type -> function(builder, path, module) (see soi_mcu/model/from_torch.py's builder).
    torch_imports: ClassVar[dict] = {}

    def __post_init__(self) -> None:
        if isinstance(self.inputs, str):
            object.__setattr__(self, "inputs", (self.inputs,))
        else:
            object.__setattr__(self, "inputs", tuple(self.inputs))

    def check_inputs(self) -> None:
        """The number of inputs the kind takes (checked by analyze, with the rest of the graph)."""
        if len(self.inputs) < self.min_inputs:
            raise SoiError(f"layer '{self.name}': a skip connection (concat or add) needs at least two inputs")
        if len(self.inputs) > self.max_inputs:
            raise SoiError(f"layer '{self.name}': a {self.kind} layer takes one input, got {len(self.inputs)}")

    def check_neighbours(self, layers: Mapping[str, LayerOp]) -> None:
        """Checks that need the layers this one reads (`layers` by name; "input" is absent): none by default."""

    @property
    def input(self) -> str:
        """The one input of a single-input kind."""
        return self.inputs[0]

    def with_names(self, rename: Callable[[str], str]) -> LayerOp:
        from dataclasses import replace

        return replace(self, name=rename(self.name), inputs=tuple(rename(s) for s in self.inputs))

    # -- schedule ---------------------------------------------------------------------------
    def infer(self, period: dict[str, int], channels: dict[str, int], width: dict[str, int],
              rf: dict[str, int]) -> Facts:
        """Check the layer against its inputs and say what its frames are (default: as its input)."""
        s = self.input
        return Facts(period[s], channels[s], width[s], rf[s])

    def works(self, sched: Any, phase: int) -> bool:
        """Whether it computes at this phase (a transposed conv computes when its input frame arrives)."""
        return sched.runs(self.name, phase)

    def macs(self, sched: Any) -> int:
        """Multiply-accumulates of one run, counted as the paper counts (0: no arithmetic to speak of)."""
        return 0

    # -- float forms ------------------------------------------------------------------------
    def torch_module(self, sched: Any) -> Any:
        """Its trainable parameters as a torch module (None: it has none)."""
        return None

    def norm_module(self, sched: Any) -> Any:
        """A batch norm after it (folded for streaming and int8), or None."""
        return None

    def offline(self, model: Any, acts: dict[str, Any]) -> Any:
        raise NotImplementedError(self.kind)

    def state_shape(self, sched: Any) -> tuple[int, int, int] | None:
        """(channels, frames, width) of the streaming partial state, None when it keeps none."""
        return None

    def stream(self, stepper: Any, phase: int) -> Any:
        """Its newest output frame (channels, width) in the stepper, on a phase where it runs."""
        raise NotImplementedError(self.kind)

    # -- int8 -------------------------------------------------------------------------------
    def keras(self, keras: Any, offline: Any, acts: dict[str, Any]) -> Any:
        raise NotImplementedError(self.kind)

    def match(self, m: Any) -> Any:
        """Find its ops in the .tflite (m: soi_mcu.quantize.graph.Matcher); returns its matched record
        and sets m.acts[self.name] to the tensor its output frame is."""
        raise NotImplementedError(self.kind)

    def lower(self, ctx: LowerContext) -> Lowered:
        raise NotImplementedError(self.kind)

    def actions(self, lowered: Lowered, sched: Any) -> list[tuple[str, Any, GroupOf]]:
        """The plan's actions for its nodes, with the group each takes on each phase."""
        return [("run", n, own_group(self, sched)) for n in lowered.nodes]

    def late_actions(self, lowered: Lowered, sched: Any) -> list[tuple[str, Any, int]]:
        """Actions after all deferred work (a shift taking in its input's frame), with their phase mask."""
        return []


def own_group(layer: LayerOp, sched: Any) -> GroupOf:
    return lambda p: sched.group(layer.name, p) if sched.runs(layer.name, p) else None


def same_quant(layer: str, a: Any, b: Any) -> None:
    """Kinds that move int8 values without arithmetic need their input's quantization on the output."""
    if not (np.allclose(a.scale, b.scale, rtol=0, atol=0) and np.array_equal(a.zero_point, b.zero_point)):
        raise SoiError(
            f"layer '{layer}': its input has other quantization than its output in the .tflite "
            f"({a.scale[0]:.6g}/{a.zero_point[0]} vs {b.scale[0]:.6g}/{b.zero_point[0]}); this layer moves int8 values "
            "without requantizing them, so it is not supported here yet"
        )
