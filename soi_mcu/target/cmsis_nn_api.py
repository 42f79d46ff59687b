"""Reading a C API from headers: enough C to compare CMSIS-NN's declarations with the project's own.

parse_api() reads functions (return and parameter types), structs (field types and names) and enum
constants, through comments, preprocessor lines, extern "C" blocks, inline bodies and attributes; the
old q7_t/q15_t/... spellings read as the int types they are.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Old CMSIS-NN spelled the int8 types with its own typedefs; they are the same C types.
TYPE_ALIASES = {"q7_t": "int8_t", "q15_t": "int16_t", "q31_t": "int32_t", "q63_t": "int64_t"}
# Words before a function name that are not part of its return type.
STORAGE_WORDS = {"extern", "static", "inline", "__inline", "__STATIC_INLINE", "__STATIC_FORCEINLINE", "__attribute__"}



@dataclass(frozen=True)
class Prototype:
    name: str
    ret: str
    params: tuple[str, ...]

    def signature(self) -> str:
        return f"({', '.join(self.params) or 'void'})"


@dataclass(frozen=True)
class Api:
    """Declarations read from a set of headers: functions, structs (field types and names) and enum constants."""

    functions: dict[str, Prototype]
    structs: dict[str, tuple[str, ...]]
    constants: frozenset[str]


# ---------------------------------------------------------------------------------------------------------
# Header parsing: enough C to read CMSIS-NN's declarations (comments, preprocessor lines, extern "C" blocks,
# inline function bodies and typedef'd structs/enums); not a general C parser.


def _strip(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r"\\\n", " ", text)
    return re.sub(r"^\s*#[^\n]*", " ", text, flags=re.M)


def _tokens(text: str) -> list[str]:
    return re.findall(r"[A-Za-z_]\w*|\*|\[|\]|\.\.\.", text)


def _type_of(decl: str, has_name: bool = True) -> tuple[str, str]:
    """('type', 'name') of a parameter or field declaration, top-level const dropped, aliases resolved."""
    toks = [TYPE_ALIASES.get(t, t) for t in _tokens(decl)]
    toks = [t for t in toks if t not in ("[", "]")] + (["*"] if "[" in decl else [])
    name = ""
    idents = [i for i, t in enumerate(toks) if t not in ("*", "const", "...")]
    if has_name and len(idents) >= 2 and toks[idents[-1]] not in ("void",):
        name = toks.pop(idents[-1])
    # A qualifier on the value itself (not on what a pointer points to) does not change the type.
    if "*" not in toks:
        toks = [t for t in toks if t != "const"]
    else:
        last = len(toks) - 1 - toks[::-1].index("*")
        toks = toks[: last + 1] + [t for t in toks[last + 1:] if t != "const"]
    return " ".join(toks).replace("* *", "**"), name


def _split_params(text: str) -> tuple[str, ...]:
    text = text.strip()
    if text in ("", "void"):
        return ()
    return tuple(_type_of(p)[0] for p in text.split(","))


def parse_api(texts: list[str]) -> Api:
    """Declarations in the given header texts."""
    functions: dict[str, Prototype] = {}
    structs: dict[str, tuple[str, ...]] = {}
    constants: set[str] = set()
    for raw in texts:
        # extern "C" { ... } only wraps declarations: drop its braces and read what is inside.
        text = re.sub(r'extern\s+"C"\s*\{', " ", _strip(raw))
        start = pos = 0
        while pos < len(text):
            ch = text[pos]
            if ch == ";":
                _record_function(text[start:pos], functions)
                start = pos + 1
            elif ch == "}":  # the end of an extern "C" block
                start = pos + 1
            elif ch == "{":
                head, end = text[start:pos], _match_brace(text, pos)
                if re.search(r"\b(struct|enum)\b", head):  # typedef struct/enum { body } name;
                    semicolon = text.find(";", end)
                    semicolon = len(text) if semicolon < 0 else semicolon
                    _record_type(head, text[pos + 1: end], text[end + 1: semicolon], structs, constants)
                    end = semicolon
                else:  # an inline function's definition: keep its prototype, skip its body
                    _record_function(head, functions)
                start = pos = end + 1
                continue
            pos += 1
    return Api(functions, structs, frozenset(constants))


def _match_brace(text: str, pos: int) -> int:
    depth = 0
    for i in range(pos, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return len(text) - 1


def _record_type(head: str, body: str, tail: str, structs: dict[str, tuple[str, ...]], constants: set[str]) -> None:
    names = re.findall(r"[A-Za-z_]\w*", tail)
    tag = re.search(r"\b(?:struct|enum)\s+([A-Za-z_]\w*)", head)
    name = names[0] if names else (tag.group(1) if tag else "")
    if re.search(r"\benum\b", head):
        for part in body.split(","):
            match = re.match(r"\s*([A-Za-z_]\w*)", part)
            if match:
                constants.add(match.group(1))
        return
    fields = []
    for decl in body.split(";"):
        if decl.strip():
            ftype, fname = _type_of(decl)
            fields.append(f"{ftype} {fname}".strip())
    if name:
        structs[name] = tuple(fields)


def _record_function(decl: str, functions: dict[str, Prototype]) -> None:
    decl = " ".join(decl.split())
    match = re.match(r"^(.*?)\b([A-Za-z_]\w*)\s*\((.*)\)\s*$", decl)
    if not match or "typedef" in decl or "=" in decl:
        return
    ret_words = [w for w in _tokens(match.group(1)) if w not in STORAGE_WORDS]
    if not ret_words:
        return
    ret = _type_of(" ".join(ret_words), has_name=False)[0]
    functions[match.group(2)] = Prototype(match.group(2), ret, _split_params(match.group(3)))


def read_headers(folder: Path) -> list[str]:
    return [p.read_text(errors="replace") for p in sorted(folder.glob("*.h"))]
