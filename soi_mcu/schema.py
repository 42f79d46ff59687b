"""Typed fields for the files a user writes (model configs, board files): each value is checked where it
enters, and a wrong one is refused in one line that names the file, the key, what was found and what
is expected, instead of a TypeError later (`kernel = [3, "3"]`) or a figure for a 2.5-frame kernel.

TOML already gives every value a type; a field says which types and ranges it takes. bool is a subclass
of int in Python, so it is refused explicitly wherever a number is expected.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from soi_mcu.errors import SoiError

# A Cortex-M core addresses 32 bits: no memory region ends beyond this.
ADDRESS_SPACE = 1 << 32


@dataclass(frozen=True)
class Field:
    expected: str  # what a good value is, in words ("a positive integer")
    ok: Callable[[Any], bool]
    convert: Callable[[Any], Any] = lambda v: v  # e.g. a TOML list -> a tuple


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def integer(lo: int | None = None, hi: int | None = None, what: str = "") -> Field:
    if lo is not None and hi is not None:
        words = f"an integer in {lo}..{hi}"
    elif lo is not None:
        words = {1: "a positive integer", 0: "an integer >= 0"}.get(lo, f"an integer >= {lo}")
    else:
        words = "an integer"
    return Field(words + (f" ({what})" if what else ""),
                 lambda v: _is_int(v) and (lo is None or v >= lo) and (hi is None or v <= hi))


def int_list(length: int | None = None, lo: int = 1, allowed: tuple[int, ...] = (), what: str = "",
             example: str = "", min_length: int = 0) -> Field:
    if allowed:
        each = " or ".join(str(a) for a in allowed)
    else:
        each = "positive integers" if lo == 1 else f"integers >= {lo}"
    count = f"{length} " if length else ""
    words = f"a list of {count}{each if not allowed else 'values ' + each}" + (f" ({what})" if what else "")
    words += f", e.g. {example}" if example else ""

    def ok(v: Any) -> bool:
        return (isinstance(v, list | tuple) and (length is None or len(v) == length) and len(v) >= min_length
                and all(_is_int(x) and x >= lo and (not allowed or x in allowed) for x in v))
    return Field(words, ok, tuple)


def string(choices: tuple[str, ...] = (), what: str = "") -> Field:
    if choices:
        return Field("one of " + ", ".join(f'"{c}"' for c in choices), lambda v: isinstance(v, str) and v in choices)
    return Field("a non-empty string" + (f" ({what})" if what else ""), lambda v: isinstance(v, str) and v.strip() != "")


def string_list(what: str = "") -> Field:
    return Field("a list of strings" + (f" ({what})" if what else ""),
                 lambda v: isinstance(v, list | tuple) and all(isinstance(x, str) for x in v), tuple)


BOOLEAN = Field("true or false", lambda v: isinstance(v, bool))


def show(value: Any) -> str:
    """A value as the user wrote it in TOML (near enough)."""
    if isinstance(value, dict):
        return "a table"
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)


def suggest(word: str, options) -> str:
    close = difflib.get_close_matches(word, sorted(options), n=1)
    return f" (did you mean '{close[0]}'?)" if close else ""


def check_table(where: str, table: Any, fields: dict[str, Field], section: str = "",
                required: tuple[str, ...] = ()) -> dict:
    """The values of `table` checked against `fields` (and converted); an unknown key is refused with the
    closest known one, a missing required key is named. `section`: the table's dotted name ("" at the top)."""
    if not isinstance(table, dict):
        raise SoiError(f"{where}: {section} = {show(table)}: expected a [{section}] table")
    at = f" in [{section}]" if section else ""
    for key in table:
        if key not in fields:
            raise SoiError(f"{where}: unknown key '{key}'{at}{suggest(key, fields)}")
    for key in required:
        if key not in table:
            raise SoiError(f"{where}: missing field '{section + '.' if section else ''}{key}' ({fields[key].expected})")
    out = {}
    for key, value in table.items():
        field = fields[key]
        if not field.ok(value):
            raise SoiError(f"{where}: {f'[{section}] ' if section else ''}{key} = {show(value)}: expected {field.expected}")
        out[key] = field.convert(value)
    return out
