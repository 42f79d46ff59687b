"""Two models, each generated with its own --name, linked into one program and run bit-exact."""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
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

MAIN = """#include "enh.h"
#include "kws.h"
#ifdef SOI_HOST
#include <stdio.h>
static void emit(const char *s) {{ fputs(s, stdout); }}
#else
#include "soi_semihost.h"
static void emit(const char *s) {{ soi_sh_write0(s); }}
#endif

static const int8_t enh_in[{frames}][ENH_INPUT_SIZE] = {{ {enh} }};
static const int8_t kws_in[{frames}][KWS_INPUT_SIZE] = {{ {kws} }};

static void put(const char *name, const int8_t *out, unsigned n)
{{
    static const char hex[] = "0123456789abcdef";
    char line[8 + 2 * 256];
    char *p = line;
    while (*name) *p++ = *name++;
    *p++ = ' ';
    for (unsigned i = 0; i < n && i < 256; i++) {{
        *p++ = hex[((unsigned char)out[i]) >> 4];
        *p++ = hex[((unsigned char)out[i]) & 15];
    }}
    *p++ = '\\n';
    *p = 0;
    emit(line);
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


@dataclass
class TwoModels:
    root: Path
    inputs: dict[str, np.ndarray]
    want: dict[str, np.ndarray]

    def outputs(self, text: str) -> dict[str, np.ndarray]:
        got: dict[str, list] = {"enh": [], "kws": []}
        for line in text.splitlines():
            parts = line.split()
            if len(parts) == 2 and parts[0] in got:
                got[parts[0]].append(np.frombuffer(bytes.fromhex(parts[1]), dtype=np.int8))
        return {k: np.stack(v) if v else np.zeros((0,), np.int8) for k, v in got.items()}

    def check(self, text: str) -> None:
        got = self.outputs(text)
        for name in ("enh", "kws"):
            assert got[name].shape == self.want[name].shape and np.array_equal(got[name], self.want[name]), name


@pytest.fixture(scope="module")
def two_models(tmp_path_factory: pytest.TempPathFactory) -> TwoModels:
    """The demo as `enh` and a Conv1d TCN as `kws`, generated as two libraries, with int8 inputs and
    their LiteRT outputs."""
    root = tmp_path_factory.mktemp("two")
    assert main(["generate", "demo", "--name", "enh", "--out", str(root / "lib_enh")]) == 0
    assert main(["generate", f"{MODELS / 'graph_models.py'}:build_tcn", "--name", "kws",
                 "--out", str(root / "lib_kws")]) == 0
    rng = np.random.default_rng(0)
    inputs, want = {}, {}
    for name in ("enh", "kws"):
        tflite = root / f"lib_{name}" / "model.tflite"
        graph = load_graph(tflite)
        shape = graph.tensors[graph.inputs[0]].shape
        inputs[name] = rng.integers(-128, 128, size=(FRAMES, *shape[2:]), dtype=np.int8)
        want[name] = reference_outputs(TfliteArtifact(tflite, "", int(shape[1]), ""), inputs[name]).reshape(FRAMES, -1)
    (root / "main.c").write_text(MAIN.format(frames=FRAMES, enh=_c_rows(inputs["enh"]), kws=_c_rows(inputs["kws"])))
    return TwoModels(root, inputs, want)


@pytest.mark.skipif(not have("gcc", "cmake"), reason="needs gcc and cmake")
def test_two_named_libraries_link_into_one_program_with_cmake(two_models: TwoModels) -> None:
    root = two_models.root
    assert (root / "lib_kws" / "model" / "kws.h").is_file()
    (root / "CMakeLists.txt").write_text(
        "cmake_minimum_required(VERSION 3.20)\nproject(two C)\n"
        "add_subdirectory(lib_enh)\nadd_subdirectory(lib_kws)\n"
        "add_executable(two main.c)\ntarget_compile_definitions(two PRIVATE SOI_HOST)\n"
        "target_link_libraries(two PRIVATE enh kws)\n")
    build = root / "build"
    for cmd in (["cmake", "-S", str(root), "-B", str(build), "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"],
                ["cmake", "--build", str(build)]):
        proc = subprocess.run(cmd, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    two_models.check(subprocess.run([str(build / "two")], check=True, capture_output=True, text=True).stdout)


@pytest.mark.slow
@pytest.mark.skipif(not have("arm-none-eabi-gcc", "qemu-system-arm"), reason="needs the cross toolchain and QEMU")
def test_two_named_models_in_one_cortex_m4_firmware(two_models: TwoModels, tmp_path: Path) -> None:
    from soi_mcu.paths import FIRMWARE_DIR, kernel_include_dirs, kernel_sources
    from soi_mcu.target.boards import load_board
    from soi_mcu.target.link import link_command
    from soi_mcu.target.qemu import board_qemu_command

    root, board = two_models.root, load_board("mps2-an386")
    elf = tmp_path / "two.elf"
    sources = [root / "lib_enh" / "model" / "enh.c", root / "lib_kws" / "model" / "kws.c", root / "main.c",
               FIRMWARE_DIR / "runtime" / "soi_ring.c", *kernel_sources()]
    cmd = link_command(board, sources, tmp_path, elf, cflags=["-O2", "-Wall", "-Wextra", "-Werror"],
                       includes=[root / "lib_enh" / "model", root / "lib_kws" / "model", *kernel_include_dirs(),
                                 FIRMWARE_DIR / "runtime"])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = subprocess.run(board_qemu_command(board, elf), capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout[-1000:] + run.stderr[-1000:]
    two_models.check(run.stdout + run.stderr)  # QEMU prints semihosting output on stderr


def test_names_must_be_c_identifiers_of_their_own() -> None:
    check_api_name("kws_v2")
    for bad, why in (("2kws", "lower-case C identifier"), ("Kws", "lower-case"), ("int", "lower-case C identifier"),
                     ("soi_ring", "runtime's and kernels'"), ("arm_x", "runtime's")):
        with pytest.raises(SoiError, match=why):
            check_api_name(bad)
