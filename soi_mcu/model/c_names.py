"""User-supplied names -> valid, unique C identifiers, before anything is exported or generated.

Layer names become symbols of the generated C (`<name>_state`, `soi_buf_<name>`, per-layer markers)
and the model name ends up in comments and a CMake project name. Whatever a user calls them
("enc 1", "1st-conv", "int", "a/b", "*/"), they are renamed once, at the start of the pipeline, so
that every later stage (Keras layer names, TFLite matching, C) sees the same safe names.
"""

from __future__ import annotations

import re
from dataclasses import replace

from soi_mcu.model import Layer, ModelSpec, OfflineModel

# C11 keywords and names the generated code itself uses for other things.
_RESERVED = {
    "auto", "break", "case", "char", "const", "continue", "default", "do", "double", "else", "enum", "extern",
    "float", "for", "goto", "if", "inline", "int", "long", "register", "restrict", "return", "short", "signed",
    "sizeof", "static", "struct", "switch", "typedef", "union", "unsigned", "void", "volatile", "while",
    "_Alignas", "_Alignof", "_Atomic", "_Bool", "_Complex", "_Generic", "_Imaginary", "_Noreturn",
    "_Static_assert", "_Thread_local", "input", "output", "phase", "ctx", "status", "main",
}
_MAX_LEN = 40


def c_identifier(name: str, taken: set[str]) -> str:
    """A valid C identifier close to `name`, not in `taken` (which it is added to)."""
    base = re.sub(r"[^A-Za-z0-9_]+", "_", name).strip("_")[:_MAX_LEN] or "layer"
    if base[0].isdigit() or base in _RESERVED or base.startswith(("soi_", "arm_", "__")):
        base = f"l_{base}"
    out, n = base, 2
    while out in taken:
        out, n = f"{base}_{n}", n + 1
    taken.add(out)
    return out


def c_safe(model: ModelSpec | OfflineModel) -> ModelSpec | OfflineModel:
    """The same model with every name a safe C identifier (itself when they all are already)."""
    spec = model.spec if isinstance(model, OfflineModel) else model
    taken: set[str] = {"input"}
    names = {"input": "input"}
    for layer in spec.layers:
        names[layer.name] = c_identifier(layer.name, taken) if layer.name != "input" else "input"
    model_name = c_identifier(spec.name, set())
    if model_name == spec.name and all(k == v for k, v in names.items()):
        return model
    layers = tuple(_renamed(layer, names) for layer in spec.layers)
    safe = replace(spec, name=model_name, layers=layers, output=names.get(spec.output, spec.output) if spec.output else "")
    if not isinstance(model, OfflineModel):
        return safe
    renamed = OfflineModel(safe)
    state = {}
    for key, value in model.state_dict().items():
        kind, layer_name, rest = key.split(".", 2)
        state[f"{kind}.{names[layer_name]}.{rest}"] = value
    renamed.load_state_dict(state)
    return renamed.train(model.training)


def _renamed(layer: Layer, names: dict[str, str]) -> Layer:
    return layer.with_names(names.__getitem__)
