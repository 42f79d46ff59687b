"""What the elementwise two-tensor kinds share (add, sub, mul): inputs of equal shape at one rate,
the float form as one combining function, and the match of their one TFLite op.

Each kind names its TFLite op (`tflite_op`) and its Keras layer (`keras_layer`) and says how it combines
its inputs (`combine`); the int8 arithmetic (lowering) stays with the kind (add.py, sub.py, mul.py)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import torch

from soi_mcu.errors import SoiError
from soi_mcu.ops.activations import activate
from soi_mcu.ops.base import Facts, LayerOp
from soi_mcu.ops.concat import aligned, skip_facts
from soi_mcu.ops.records import MatchedAdd
from soi_mcu.ops.tflite_act import fused_act

FUSABLE = ("none", "relu", "relu6")  # activations TFLite fuses into ADD, SUB and MUL


@dataclass(frozen=True)
class Elementwise(LayerOp):
    """Base of the elementwise kinds: `inputs` of equal channels, bins and rate; the output has their shape.
    `act` ("none", "relu", "relu6") follows the operation: TFLite fuses it into the op (an int8 clamp)."""

    act: str = "none"

    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int] = 2
    tflite_op: ClassVar[str] = ""  # the int8 op the converter writes: "ADD", "SUB", "MUL"
    keras_layer: ClassVar[str] = ""  # the keras.layers class that converts to it
    verb: ClassVar[str] = ""  # for messages: "added", "subtracted", "multiplied"

    def check_inputs(self) -> None:
        if self.max_inputs == 2 and len(self.inputs) != 2:
            raise SoiError(f"layer '{self.name}': a {self.kind} layer takes two inputs, got {len(self.inputs)}")
        super().check_inputs()

    def combine(self, parts: list[torch.Tensor]) -> torch.Tensor:
        """The float operation on the (aligned) input tensors, in input order."""
        raise NotImplementedError(self.kind)

    def infer(self, period, channels, width, rf) -> Facts:
        if self.act not in FUSABLE:
            raise SoiError(f"layer '{self.name}': activation '{self.act}' after a {self.kind}; one of {FUSABLE}")
        p, w, r = skip_facts(self, period, width, rf)
        if len({channels[s] for s in self.inputs}) != 1:
            raise SoiError(f"layer '{self.name}': {self.verb} inputs have different channels "
                           f"{[channels[s] for s in self.inputs]}")
        return Facts(p, channels[self.inputs[0]], w, r)

    def offline(self, model: Any, acts: dict[str, Any]) -> torch.Tensor:
        return activate(self.combine(aligned([acts[s] for s in self.inputs])), self.act)

    def stream(self, stepper: Any, phase: int) -> torch.Tensor:
        return activate(self.combine([stepper.frames[s] for s in self.inputs]), self.act)

    def keras(self, keras: Any, offline: Any, acts: dict[str, Any]) -> Any:
        out = getattr(keras.layers, self.keras_layer)(name=self.name)([acts[s] for s in self.inputs])
        if self.act == "none":
            return out
        # a ReLU right after the op: the converter fuses it into the op's fusedActivationFunction
        return keras.layers.ReLU(max_value=6.0 if self.act == "relu6" else None, name=f"{self.name}__act")(out)

    def match(self, m: Any) -> MatchedAdd:
        """Its op reads exactly its inputs; `sources` keeps the op's input order (SUB's operands are
        ordered; the converter may also swap the commutative ones)."""
        srcs = [m.acts[s] for s in self.inputs]
        same = [op for op in m.graph.consumers.get(srcs[0], []) if op.kind == self.tflite_op and set(op.inputs) == set(srcs)]
        # the converter merges identical ops (x.pow(2) written twice): then this layer shares the claimed one
        cands = [op for op in same if op.index not in m.used] or same
        if not cands:
            raise SoiError(f"layer '{self.name}': no {self.tflite_op} of {self.inputs} in the .tflite")
        op = cands[0]
        m.used.add(op.index)
        m.acts[self.name] = op.outputs[0]
        by_tensor = {m.acts[s]: s for s in self.inputs}
        sources = tuple(by_tensor[t] for t in op.inputs)
        if self.tflite_op == "SUB" and sources != tuple(self.inputs):
            raise SoiError(f"layer '{self.name}': the SUB in the .tflite has its operands swapped")
        act = fused_act(op.options.get("fusedActivationFunction", 0))
        if act != self.act:
            raise SoiError(f"layer '{self.name}': the {self.tflite_op} in the .tflite has activation '{act}', the "
                           f"layer '{self.act}'")
        return MatchedAdd(
            sources=sources, inputs=tuple(m.graph.tensors[t] for t in op.inputs),
            output=m.graph.tensors[op.outputs[0]], act=act,
        )
