"""Two models, each generated with its own --name, linked into one program and run bit-exact."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest

from soi_mcu.cli import main
from soi_mcu.errors import SoiError
from soi_mcu.pipeline import check_api_name
from soi_mcu.quantize import reference_outputs
from soi_mcu.quantize.export import TfliteArtifact
from soi_mcu.quantize.graph import load_graph

from .conftest import have

MODELS = Path(__file__).parent / "models"
FRAMES = 8

MAIN = """#include <stdio.h>
#include "enh.h"
#include "kws.h"

static const int8_t enh_in[{frames}][ENH_INPUT_SIZE] = {{ {enh} }};
static const int8_t kws_in[{frames}][KWS_INPUT_SIZE] = {{ {kws} }};

static void put(const char *name, const int8_t *out, unsigned n)
{{
    printf("%s ", name);
    for (unsigned i = 0; i < n; i++) printf("%02x", (unsigned)(unsigned char)out[i]);
    printf("\\n");
}}

int main(void)
{{
    static int8_t enh_out[ENH_OUTPUT_SIZE], kws_out[KWS_OUTPUT_SIZE];
    if (enh_init() != 0 || kws_init() != 0) return 2;
    for (unsigned t = 0; t < {frames}; t++) {{  /* interleaved, as one firmware would run them */
        if (kws_step(kws_in[t], kws_out) != 0 || enh_step(enh_in[t], enh_out) != 0) return 3;
        put("kws", kws_out, KWS_OUTPUT_SIZE);
        put("enh", enh_out, ENH_OUTPUT_SIZE);
    }}
    return 0;
}}
"""


def _c_rows(a: np.ndarray) -> str:
    return ", ".join("{" + ", ".join(str(int(v)) for v in row.reshape(-1)) + "}" for row in a)


@pytest.mark.skipif(not have("gcc", "cmake"), reason="needs gcc and cmake")
def test_two_named_models_link_into_one_program_and_run_bitexact(tmp_path: Path) -> None:
    assert main(["generate", "demo", "--name", "enh", "--out", str(tmp_path / "lib_enh")]) == 0
    assert main(["generate", f"{MODELS / 'graph_models.py'}:build_tcn", "--name", "kws",
                 "--out", str(tmp_path / "lib_kws")]) == 0
    assert (tmp_path / "lib_kws" / "model" / "kws.h").is_file()
    rng = np.random.default_rng(0)
    inputs, want = {}, {}
    for name in ("enh", "kws"):
        tflite = tmp_path / f"lib_{name}" / "model.tflite"
        graph = load_graph(tflite)
        shape = graph.tensors[graph.inputs[0]].shape
        inputs[name] = rng.integers(-128, 128, size=(FRAMES, *shape[2:]), dtype=np.int8)
        artifact = TfliteArtifact(tflite, "", int(shape[1]), "")
        want[name] = reference_outputs(artifact, inputs[name]).reshape(FRAMES, -1)
    (tmp_path / "main.c").write_text(MAIN.format(frames=FRAMES, enh=_c_rows(inputs["enh"]), kws=_c_rows(inputs["kws"])))
    (tmp_path / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\nproject(two C)\n"
        "add_subdirectory(lib_enh)\nadd_subdirectory(lib_kws)\n"
        "add_executable(two main.c)\ntarget_link_libraries(two PRIVATE enh kws)\n")
    build = tmp_path / "build"
    for cmd in (["cmake", "-S", str(tmp_path), "-B", str(build), "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"],
                ["cmake", "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    lines = subprocess.run([str(build / "two")], check=True, capture_output=True, text=True).stdout.split("\n")
    got = {"enh": [], "kws": []}
    for line in filter(None, lines):
        name, hexes = line.split()
        got[name].append(np.frombuffer(bytes.fromhex(hexes), dtype=np.int8))
    for name in ("enh", "kws"):
        assert np.array_equal(np.stack(got[name]), want[name]), name


def test_names_must_be_c_identifiers_of_their_own() -> None:
    check_api_name("kws_v2")
    for bad, why in (("2kws", "lower-case C identifier"), ("Kws", "lower-case"), ("int", "lower-case C identifier"),
                     ("soi_ring", "runtime's and kernels'"), ("arm_x", "runtime's")):
        with pytest.raises(SoiError, match=why):
            check_api_name(bad)
