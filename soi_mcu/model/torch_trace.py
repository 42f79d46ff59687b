"""A user's nn.Module as a flat list of calls, captured with torch.fx.

torch.fx traces `forward` symbolically: every call of a layer module, of a tensor function
(`torch.cat`, `+`, `torch.sigmoid`...) or of a tensor method becomes one node, in the order the
model computes it, so residual adds, concatenated skips and masks come out as a graph. Modules of
torch.nn (and SOI's own TimeShift/RepeatFrames, and the module types a layer kind imports) are
leaves: they are looked at as one layer. A user's own container modules are traced through.

Functional forms of the activations (`torch.relu(x)`, `x.sigmoid()`, `F.elu(x)`...) are turned
into their modules here, so that the importer handles each layer type in one place.
"""

from __future__ import annotations

import operator
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import fx, nn

from soi_mcu.errors import SoiError


@dataclass
class Call:
    """One step of the model: a module, a function or a method applied to earlier values."""

    node: fx.Node
    path: str  # where it is, for messages: "model.enc.0", or "model.add_1" for a function
    what: str  # "module", "function" or "method"
    target: Any  # the module (what == "module"), the function, or the method's name
    args: tuple
    kwargs: dict
    where: str = ""  # " (model.py:12)": the user's line that made it, when torch.fx recorded it
    users: int = 0  # how many later calls read its result

    @property
    def label(self) -> str:
        if self.what == "module":
            return type(self.target).__name__
        if self.what == "method":
            return f"Tensor.{self.target}"
        return getattr(self.target, "__name__", str(self.target))


@dataclass
class Traced:
    calls: list[Call]
    input_node: fx.Node
    output: Any  # the value (an fx.Node, or a tuple of them) forward returns
    paths: dict[fx.Node, str] = field(default_factory=dict)


# Activations written as functions or methods -> the module the importer knows.
_ACT_FUNCTIONS: dict[Any, Callable[..., nn.Module]] = {
    torch.relu: lambda **kw: nn.ReLU(),
    nn.functional.relu: lambda inplace=False: nn.ReLU(),
    nn.functional.relu6: lambda inplace=False: nn.ReLU6(),
    nn.functional.elu: lambda alpha=1.0, inplace=False: nn.ELU(alpha),
    torch.sigmoid: lambda: nn.Sigmoid(),
    nn.functional.sigmoid: lambda: nn.Sigmoid(),
    torch.tanh: lambda: nn.Tanh(),
    nn.functional.tanh: lambda: nn.Tanh(),
    nn.functional.hardswish: lambda inplace=False: nn.Hardswish(),
    nn.functional.hardsigmoid: lambda inplace=False: nn.Hardsigmoid(),
    nn.functional.dropout: lambda p=0.5, training=False, inplace=False: nn.Identity(),
}
_ACT_METHODS: dict[str, Callable[..., nn.Module]] = {
    "relu": lambda: nn.ReLU(), "sigmoid": lambda: nn.Sigmoid(), "tanh": lambda: nn.Tanh(),
}
# Element-wise arithmetic of two tensors -> the layer kind's name (soi_mcu/ops: Add's "add", ...).
ARITHMETIC: dict[Any, str] = {
    operator.add: "add", operator.iadd: "add", torch.add: "add",
    operator.sub: "sub", operator.isub: "sub", torch.sub: "sub",
    operator.mul: "mul", operator.imul: "mul", torch.mul: "mul",
}
ARITHMETIC_METHODS = {"add": "add", "add_": "add", "sub": "sub", "sub_": "sub", "mul": "mul", "mul_": "mul"}
CONCAT = (torch.cat, torch.concat)


class _Tracer(fx.Tracer):
    def __init__(self, leaves: tuple[type, ...]) -> None:
        super().__init__()
        self.leaves = leaves
        self.record_stack_traces = True

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        if isinstance(m, self.leaves):
            return True
        return super().is_leaf_module(m, qualname)

    def iter(self, obj: fx.Proxy):  # noqa: A003 (torch.fx's name)
        """Iterating a chunk or split whose number of parts the call states (`for m in x.chunk(2, 1)`,
        a list comprehension): its parts, one getitem each. fx alone allows only `a, b = x.chunk(2)`."""
        parts = _parts(obj.node)
        if parts is None:
            return super().iter(obj)
        return iter([obj[i] for i in range(parts)])


def trace(module: nn.Module, leaves: tuple[type, ...]) -> Traced:
    """The model's calls in order; a model torch.fx cannot trace is refused in one line."""
    tracer = _Tracer(leaves)
    try:
        graph = tracer.trace(module)
    except Exception as exc:  # fx raises TraceError, TypeError, NotImplementedError... from the user's forward
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise SoiError(f"the model's forward cannot be captured by torch.fx ({type(exc).__name__}: {first}); "
                       "write it without Python control flow that depends on tensor values, or as an "
                       "nn.Sequential") from None
    modules = dict(module.named_modules())
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    if len(placeholders) != 1:
        names = ", ".join(n.target for n in placeholders)
        raise SoiError(f"the model's forward takes {len(placeholders)} inputs ({names}); a streaming model takes "
                       "one tensor of frames")
    calls: list[Call] = []
    output: Any = None
    for n in graph.nodes:
        if n.op == "placeholder":
            continue
        if n.op == "output":
            output = n.args[0]
            continue
        where = _where(n)
        if n.op == "get_attr":
            raise SoiError(f"model.{n.target}{where}: forward uses a parameter or buffer directly (a functional "
                           "layer); use the layer's module (nn.Conv2d, nn.PReLU, ...) instead")
        if n.op == "call_module":
            calls.append(Call(n, f"model.{n.target}", "module", modules[n.target], n.args, n.kwargs, where))
        elif n.op == "call_function" and n.target in _ACT_FUNCTIONS:
            act = _activation_module(n, _ACT_FUNCTIONS[n.target], n.args[1:], where)
            calls.append(Call(n, f"model.{n.name}", "module", act, n.args[:1], {}, where))
        elif _is_square(n):  # x.pow(2), x ** 2, torch.square(x): the product of x with itself
            calls.append(Call(n, f"model.{n.name}", "function", operator.mul, (n.args[0], n.args[0]), {}, where))
        elif n.op == "call_method" and n.target in _ACT_METHODS:
            act = _activation_module(n, _ACT_METHODS[n.target], n.args[1:], where)
            calls.append(Call(n, f"model.{n.name}", "module", act, n.args[:1], {}, where))
        else:
            what = "function" if n.op == "call_function" else "method"
            calls.append(Call(n, f"model.{n.name}", what, n.target, n.args, n.kwargs, where))
    for c in calls:
        c.users = len(c.node.users)
    return Traced(calls, placeholders[0], output, {c.node: c.path for c in calls})


def _is_square(n: fx.Node) -> bool:
    if (n.op == "call_function" and n.target is torch.square) or (n.op == "call_method" and n.target == "square"):
        return len(n.args) == 1 and not n.kwargs
    powers = n.op == "call_function" and n.target in (torch.pow, operator.pow) or (n.op == "call_method" and n.target == "pow")
    return powers and len(n.args) == 2 and isinstance(n.args[0], fx.Node) and n.args[1] == 2 and not n.kwargs


def _parts(n: fx.Node) -> int | None:
    """How many tensors x.chunk(k) / torch.chunk(x, k) / x.split([sizes]) returns, when the call says."""
    name = n.target if n.op == "call_method" else getattr(n.target, "__name__", "")
    if name not in ("chunk", "split") or len(n.args) < 2:
        return None
    arg = n.args[1]
    if name == "chunk" and isinstance(arg, int):
        return arg
    if name == "split" and isinstance(arg, (list, tuple)):
        return len(arg)
    return None


def _activation_module(n: fx.Node, make: Callable[..., nn.Module], args: tuple, where: str) -> nn.Module:
    try:
        return make(*args, **n.kwargs)
    except TypeError:
        raise SoiError(f"model.{n.name}{where}: {n.target}{tuple(args)} with {n.kwargs}: arguments not "
                       "supported") from None


def _where(n: fx.Node) -> str:
    """' (file.py:LINE)' of the user's code that made the node: the innermost frame of its stack trace
    outside torch itself ('' when there is none, as for the layers of an nn.Sequential)."""
    torch_dir = os.path.dirname(torch.__file__)
    for line in reversed((n.stack_trace or "").strip().splitlines()):
        parts = line.strip().split('"')
        if not line.strip().startswith("File ") or len(parts) < 3 or parts[1].startswith(torch_dir):
            continue
        lineno = parts[2].split(",")[1].strip().removeprefix("line ") if parts[2].count(",") else "?"
        return f" ({os.path.basename(parts[1])}:{lineno})"
    return ""
