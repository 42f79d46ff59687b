"""CMSIS-NN from CMSIS_NN_PATH or an installed pack: API check before compiling, pack discovery, precedence.

Fake trees are built in tmp_path from the project's own headers (firmware/kernels/include declares the same
API as CMSIS-NN), so none of this needs CMSIS-NN. A real CMSIS-NN tree beside the checkout (../cmsis-nn, or
SOI_TEST_CMSIS_NN_TREE) is used by the tests that say so and skipped when absent.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest

from soi_mcu.cli import main
from soi_mcu.errors import SoiError
from soi_mcu.paths import FIRMWARE_DIR
from soi_mcu.target import cmsis_nn, cmsis_nn_api
from soi_mcu.target.build import cmsis_nn_path

from .conftest import Exported, have

REPO = Path(__file__).resolve().parent.parent
REAL_TREE = Path(os.environ.get("SOI_TEST_CMSIS_NN_TREE", REPO.parent / "cmsis-nn"))
HAVE_REAL = (REAL_TREE / "Include" / "arm_nnfunctions.h").is_file()
OWN_INCLUDE = FIRMWARE_DIR / "kernels" / "include"
WRAPPER_TAIL = "const cmsis_nn_dims *output_dims,\n                                            int8_t *output_data);"
PDSC = ('<?xml version="1.0" encoding="UTF-8"?>\n<package><vendor>ARM</vendor><name>CMSIS-NN</name>\n'
        '<releases>\n<release version="{version}">text</release>\n<release version="1.0.0"/>\n</releases></package>\n')


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Neither the user's settings nor their real pack caches may leak into these tests.
    for name in ("CMSIS_NN_PATH", "SOI_CMSIS_NN", "CMSIS_PACK_ROOT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg-data"))


def fake_tree(root: Path, version: str = "", sources: bool = False, cmake: bool = True) -> Path:
    """A CMSIS-NN-shaped tree: the project's headers under Include/, optionally its kernels under Source/,
    a CMakeLists.txt (checkout) or not (pack), and a pdsc naming `version`."""
    (root / "Include").mkdir(parents=True)
    for header in OWN_INCLUDE.glob("*.h"):
        shutil.copy2(header, root / "Include" / header.name)
    if sources:  # in CMSIS-NN's layout (Source/<Family>Functions/), with the ISA header soi_nn_support.h includes
        shutil.copytree(FIRMWARE_DIR / "kernels" / "src", root / "Source")
        shutil.copy2(FIRMWARE_DIR / "kernels" / "soi" / "soi_nn_isa.h", root / "Include")
    else:
        (root / "Source").mkdir()
    if cmake:
        (root / "CMakeLists.txt").write_text("project(CMSISNN C)\n")
    if version:
        (root / "ARM.CMSIS-NN.pdsc").write_text(PDSC.format(version=version))
    return root


def alter(tree: Path, header: str, old: str, new: str) -> None:
    path = tree / "Include" / header
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new))


def add_upscale_dims(tree: Path) -> None:
    # The kind of change CMSIS-NN made to arm_convolve_s8: an extra cmsis_nn_dims argument before the output.
    alter(tree, "arm_nnfunctions.h", WRAPPER_TAIL,
          "const cmsis_nn_dims *upscale_dims,\n const cmsis_nn_dims *output_dims,\n int8_t *output_data);")


# ---------------------------------------------------------------------------------------------------------
# The API check.


def test_required_api_is_what_the_templates_call() -> None:
    need = cmsis_nn.required_api()
    assert {"arm_convolve_wrapper_s8", "arm_depthwise_conv_wrapper_s8", "arm_elementwise_add_s8", "arm_avgpool_s8",
            "arm_convolve_wrapper_s8_get_buffer_size"} <= set(need.functions)
    assert {"arm_fully_connected_s8", "arm_fully_connected_s8_get_buffer_size"} <= set(need.functions)  # FC heads
    assert need.functions["arm_softmax_s8"].ret == "void"  # softmax layers: no context, no status
    assert need.functions["arm_convolve_wrapper_s8"].params[:3] == (
        "const cmsis_nn_context *", "const cmsis_nn_conv_params *", "const cmsis_nn_per_channel_quant_params *")
    assert need.functions["arm_convolve_wrapper_s8"].ret == "arm_cmsis_nn_status"
    assert need.structs["cmsis_nn_tile"] == ("int32_t w", "int32_t h")
    assert {"cmsis_nn_conv_params", "cmsis_nn_activation", "cmsis_nn_pool_params"} <= set(need.structs)
    assert "ARM_CMSIS_NN_SUCCESS" in need.constants


def test_parser_ignores_names_comments_inline_bodies_and_top_level_const() -> None:
    api = cmsis_nn_api.parse_api(["""
        #ifdef __cplusplus
        extern "C" {
        #endif
        /* int32_t not_me(int x); */
        typedef enum { A_OK = 0, A_ERR = -1 /* , A_FAKE */ } st;
        typedef struct { q7_t *p; const int32_t n; } s_t;
        __STATIC_FORCEINLINE int32_t helper(const int32_t a, q7_t *const b) { if (a) { return 1; } return 0; }
        st f(const s_t *ctx,
             const int8_t input[],   // trailing comment
             void *buf);
        int32_t g(void);
        #ifdef __cplusplus
        }
        #endif
    """])
    assert api.functions["f"].params == ("const s_t *", "const int8_t *", "void *")
    assert api.functions["f"].ret == "st"
    assert api.functions["g"].params == ()
    assert api.functions["helper"].params == ("int32_t", "int8_t *")
    assert "not_me" not in api.functions
    assert api.structs["s_t"] == ("int8_t * p", "int32_t n")
    assert api.constants == {"A_OK", "A_ERR"}


def test_own_headers_pass(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path / "nn")
    assert cmsis_nn.api_mismatches(tree / "Include") == []
    assert cmsis_nn.tree_problem(tree) == ""


def test_altered_prototype_is_refused_before_compiling(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    tree = fake_tree(tmp_path / "nn", version="3.1.0")
    add_upscale_dims(tree)
    monkeypatch.setenv("CMSIS_NN_PATH", str(tree))
    with pytest.raises(SoiError) as exc:
        cmsis_nn_path()
    msg = str(exc.value)
    assert "\n" not in msg
    assert msg.startswith(f"CMSIS_NN_PATH={tree} (CMSIS-NN 3.1.0): arm_convolve_wrapper_s8 takes (const cmsis_nn_context *")
    assert "const cmsis_nn_dims *, const cmsis_nn_dims *, int8_t *) here, soi-mcu needs (" in msg
    assert f"(CMSIS-NN >= {cmsis_nn.MIN_VERSION})" in msg
    assert msg.endswith("point CMSIS_NN_PATH at a matching release or unset it to use the built-in kernels")


@pytest.mark.parametrize(("header", "old", "new", "expect"), [
    ("arm_nn_types.h", "    int32_t w;\n    int32_t h;\n} cmsis_nn_tile;", "    int32_t h;\n    int32_t w;\n} cmsis_nn_tile;",
     "cmsis_nn_tile has {int32_t h; int32_t w} here, soi-mcu needs {int32_t w; int32_t h}"),
    ("arm_nnfunctions.h", "arm_cmsis_nn_status arm_avgpool_s8(", "arm_cmsis_nn_status arm_avgpool_s8_old(",
     "arm_avgpool_s8 is not declared here"),
    ("arm_nnfunctions.h", "arm_cmsis_nn_status arm_elementwise_add_s8(", "int32_t arm_elementwise_add_s8(",
     "arm_elementwise_add_s8 returns int32_t here, soi-mcu needs arm_cmsis_nn_status"),
    ("arm_nn_types.h", "ARM_CMSIS_NN_SUCCESS = 0", "ARM_MATH_SUCCESS = 0", "ARM_CMSIS_NN_SUCCESS not defined here"),
])
def test_each_kind_of_difference_is_named(tmp_path: Path, header: str, old: str, new: str, expect: str) -> None:
    tree = fake_tree(tmp_path / "nn")
    alter(tree, header, old, new)
    with pytest.raises(SoiError, match="^CMSIS_NN_PATH=x") as exc:
        cmsis_nn.check_tree(tree, "CMSIS_NN_PATH=x")
    assert expect in str(exc.value)


def test_harmless_spelling_differences_pass(tmp_path: Path) -> None:
    tree = fake_tree(tmp_path / "nn")
    # Other parameter names, no top-level const, q7_t for int8_t, other layout: the same C types.
    alter(tree, "arm_nnfunctions.h", "arm_cmsis_nn_status arm_elementwise_add_s8(const int8_t *input_1_vect,",
          "arm_cmsis_nn_status arm_elementwise_add_s8(const q7_t* in1,")
    alter(tree, "arm_nnfunctions.h", "const int32_t block_size);", "int32_t n);")
    assert cmsis_nn.tree_problem(tree) == ""


def test_not_a_tree_and_version_names(tmp_path: Path) -> None:
    assert "is not a CMSIS-NN tree" in cmsis_nn.tree_problem(tmp_path)
    tree = fake_tree(tmp_path / "nn", cmake=False)
    shutil.rmtree(tree / "Source")
    assert "expected CMakeLists.txt or Source/" in cmsis_nn.tree_problem(tree)
    assert cmsis_nn.describe_version(tree) == ""
    (tree / "ARM.CMSIS-NN.pdsc").write_text(PDSC.format(version="0.0.0"))  # main's placeholder
    alter(tree, "arm_nnfunctions.h", "#ifndef ARM_NNFUNCTIONS_H", "/* $Revision:    V.19.1.0 */\n#ifndef ARM_NNFUNCTIONS_H")
    assert cmsis_nn.describe_version(tree) == "arm_nnfunctions.h V.19.1.0"
    (tree / "ARM.CMSIS-NN.pdsc").write_text(PDSC.format(version="7.0.0"))
    assert cmsis_nn.describe_version(tree) == "CMSIS-NN 7.0.0"


def test_cli_exits_2_with_the_message(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    tree = fake_tree(tmp_path / "nn")
    add_upscale_dims(tree)
    monkeypatch.setenv("CMSIS_NN_PATH", str(tree))
    assert main(["demo", "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    if have("cmake", "arm-none-eabi-gcc"):  # preflight checks the tools first
        assert "arm_convolve_wrapper_s8 takes" in err
    assert not (tmp_path / "out" / "build").exists()


@pytest.mark.skipif(not HAVE_REAL, reason=f"no CMSIS-NN tree at {REAL_TREE}")
def test_real_cmsis_nn_passes_and_an_altered_copy_does_not(tmp_path: Path) -> None:
    assert cmsis_nn.api_mismatches(REAL_TREE / "Include") == []
    assert cmsis_nn.tree_problem(REAL_TREE) == ""
    copy = tmp_path / "nn"
    shutil.copytree(REAL_TREE / "Include", copy / "Include")
    (copy / "CMakeLists.txt").write_text("project(CMSISNN C)\n")
    alter(copy, "arm_nnfunctions.h", "int32_t arm_avgpool_s8_get_buffer_size(const int dim_dst_width, const int ch_src);",
          "int32_t arm_avgpool_s8_get_buffer_size(const int dim_dst_width, const int ch_src, const int extra);")
    assert cmsis_nn.tree_problem(copy).startswith(
        "arm_avgpool_s8_get_buffer_size takes (int, int, int) here, soi-mcu needs (int, int)")


@pytest.mark.skipif(not HAVE_REAL or not have("arm-none-eabi-gcc"), reason=f"no CMSIS-NN tree at {REAL_TREE}")
@pytest.mark.parametrize("cpu", ["cortex-m4", "cortex-m55"])
def test_own_kernels_compile_against_real_cmsis_nn_headers(cpu: str) -> None:
    """The project's kernels (kernels/soi/) build with a user's CMSIS-NN: they may take nothing from
    the project's own arm_nn_types.h that CMSIS-NN's does not declare (NULL came from there once)."""
    import subprocess

    soi = FIRMWARE_DIR / "kernels" / "soi"
    for src in sorted(soi.glob("*.c")):
        res = subprocess.run(["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", "-mfloat-abi=hard", "-std=c11", "-O2",
                              "-Wall", "-Werror", "-fsyntax-only", f"-I{REAL_TREE / 'Include'}", f"-I{soi}", str(src)],
                             capture_output=True, text=True)
        assert res.returncode == 0, (src.name, res.stderr)


# ---------------------------------------------------------------------------------------------------------
# Packs and precedence.


def make_zip_pack(path: Path, version: str) -> Path:
    """A zipped pack as cmsis-pack-manager caches it: <vendor>/<name>/<version>.pack."""
    src = fake_tree(path.parent / f"src-{version}", version=version, cmake=False, sources=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w") as zf:
        for file in sorted(src.rglob("*")):
            if file.is_file():
                zf.write(file, str(file.relative_to(src)))
    shutil.rmtree(src)
    return path


def test_version_order() -> None:
    versions = ["7.0.0", "10.0.0", "7.0.0-dev3", "9.1.0", "junk", "4.0.0"]
    assert sorted(versions, key=cmsis_nn._version_key, reverse=True) == \
        ["10.0.0", "9.1.0", "7.0.0", "7.0.0-dev3", "4.0.0", "junk"]


def test_default_pack_roots(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "c"))
    assert cmsis_nn.pack_root() == tmp_path / "c" / "arm" / "packs"  # CMSIS-Toolbox's default (cpackget)
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cmsis_nn.pack_root() == tmp_path / "home" / ".cache" / "arm" / "packs"
    monkeypatch.setenv("CMSIS_PACK_ROOT", str(tmp_path / "mine"))
    assert cmsis_nn.pack_root() == tmp_path / "mine"
    assert cmsis_nn.pack_manager_root() == tmp_path / "xdg-data" / "cmsis-pack-manager"


def test_newest_passing_pack_is_used_only_on_request(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    root = tmp_path / "packs"
    packs = root / "ARM" / "CMSIS-NN"
    fake_tree(packs / "4.1.0", version="4.1.0", cmake=False)
    fake_tree(packs / "6.0.0", version="6.0.0", cmake=False)
    add_upscale_dims(fake_tree(packs / "10.0.0", version="10.0.0", cmake=False))  # newest, but another API
    fake_tree(root / "ARM" / "Other" / "99.0.0", cmake=False)
    monkeypatch.setenv("CMSIS_PACK_ROOT", str(root))

    assert cmsis_nn.select_kernels() == cmsis_nn.Kernels("own")  # default: reproducible, own kernels
    assert cmsis_nn_path() is None

    monkeypatch.setenv("SOI_CMSIS_NN", "pack")
    kernels = cmsis_nn.select_kernels()
    assert (kernels.kind, kernels.path, kernels.version) == ("pack", packs / "6.0.0", "CMSIS-NN 6.0.0")
    assert cmsis_nn_path() == packs / "6.0.0"
    candidates = cmsis_nn.pack_candidates()
    assert [c.version for c in candidates] == ["10.0.0", "6.0.0", "4.1.0"]
    assert "arm_convolve_wrapper_s8 takes" in candidates[0].problem

    checkout = fake_tree(tmp_path / "checkout")
    monkeypatch.setenv("CMSIS_NN_PATH", str(checkout))
    assert cmsis_nn.select_kernels() == cmsis_nn.Kernels("path", checkout.resolve(), "")


def test_zipped_pack_from_cmsis_pack_manager(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CMSIS_PACK_ROOT", str(tmp_path / "packs"))
    fake_tree(tmp_path / "packs" / "ARM" / "CMSIS-NN" / "6.0.0", version="6.0.0", cmake=False)
    make_zip_pack(tmp_path / "xdg-data" / "cmsis-pack-manager" / "ARM" / "CMSIS-NN" / "7.0.0.pack", "7.0.0")
    monkeypatch.setenv("SOI_CMSIS_NN", "pack")
    kernels = cmsis_nn.select_kernels()
    assert kernels.version == "CMSIS-NN 7.0.0"
    assert kernels.path is not None and kernels.path.is_relative_to(tmp_path / "xdg-cache" / "soi-mcu" / "cmsis-nn-packs")
    assert (kernels.path / "Include" / "arm_nnfunctions.h").is_file()
    assert sorted(p.relative_to(kernels.path / "Source") for p in (kernels.path / "Source").rglob("*.c")) == \
        sorted(p.relative_to(FIRMWARE_DIR / "kernels" / "src") for p in (FIRMWARE_DIR / "kernels" / "src").rglob("*.c"))
    assert cmsis_nn.select_kernels() == kernels  # unpacked once, reused


def test_pack_requested_but_none_usable(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CMSIS_PACK_ROOT", str(tmp_path / "packs"))
    monkeypatch.setenv("SOI_CMSIS_NN", "pack")
    with pytest.raises(SoiError, match=r"^SOI_CMSIS_NN=pack: no CMSIS-NN pack in .*packs/ARM/CMSIS-NN .*cpackget add"):
        cmsis_nn.select_kernels()
    add_upscale_dims(fake_tree(tmp_path / "packs" / "ARM" / "CMSIS-NN" / "5.0.0", version="5.0.0", cmake=False))
    with pytest.raises(SoiError, match=r"no usable CMSIS-NN pack; the newest, .*5\.0\.0 \(5\.0\.0\), arm_convolve_wrapper_s8"):
        cmsis_nn.select_kernels()
    monkeypatch.setenv("SOI_CMSIS_NN", "yes")
    with pytest.raises(SoiError, match=r"^SOI_CMSIS_NN=yes is not one of own, pack"):
        cmsis_nn.select_kernels()
    monkeypatch.setenv("SOI_CMSIS_NN", "own")
    assert cmsis_nn.select_kernels().kind == "own"


# ---------------------------------------------------------------------------------------------------------
# Building with a pack (no CMakeLists.txt: the root CMakeLists compiles Source/ itself).


def _build_and_run(exported: Exported, out: Path) -> tuple[str, np.ndarray]:
    from soi_mcu.codegen import generate
    from soi_mcu.plan.lower import lower
    from soi_mcu.target.boards import load_board
    from soi_mcu.target.build import build_firmware
    from soi_mcu.target.qemu import simulate_qemu

    board = load_board("mps2-an386")
    plan = lower(exported.spec, exported.graph)
    sources = generate(plan, board, exported.inputs_q, out / "gen")
    build = build_firmware(sources, board, out / "build")
    sim = simulate_qemu(build, board, 64, plan.output_size, out / "sim")
    return build.kernels, sim.outputs


needs_tools = pytest.mark.skipif(not have("arm-none-eabi-gcc", "cmake", "qemu-system-arm"),
                                 reason="needs gcc-arm-none-eabi, cmake and qemu-system-arm (make setup installs them)")


@pytest.mark.slow
@needs_tools
def test_pack_without_cmakelists_builds_bitexact(demo_export: Exported, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    # The project's own kernels laid out as a pack: exercises the Source/ glob of CMakeLists.txt.
    pack = fake_tree(tmp_path / "packs" / "ARM" / "CMSIS-NN" / "7.0.0", version="7.0.0", sources=True, cmake=False)
    monkeypatch.setenv("CMSIS_PACK_ROOT", str(tmp_path / "packs"))
    monkeypatch.setenv("SOI_CMSIS_NN", "pack")
    kernels, outputs = _build_and_run(demo_export, tmp_path / "fw")
    assert kernels == str(pack)
    assert "Source/ConvolutionFunctions/arm_convolve_s8.c" in (tmp_path / "fw" / "build" / "build.log").read_text()
    assert np.array_equal(outputs, demo_export.reference.reshape(64, -1))


@pytest.mark.slow
@needs_tools
@pytest.mark.skipif(not HAVE_REAL, reason=f"no CMSIS-NN tree at {REAL_TREE}")
def test_real_cmsis_nn_as_a_pack_builds_bitexact(demo_export: Exported, monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    pack = tmp_path / "packs" / "ARM" / "CMSIS-NN" / "7.0.0"
    for name in ("Include", "Source"):
        shutil.copytree(REAL_TREE / name, pack / name)
    (pack / "ARM.CMSIS-NN.pdsc").write_text(PDSC.format(version="7.0.0"))
    monkeypatch.setenv("CMSIS_PACK_ROOT", str(tmp_path / "packs"))
    monkeypatch.setenv("SOI_CMSIS_NN", "pack")
    kernels, outputs = _build_and_run(demo_export, tmp_path / "fw")
    assert kernels == str(pack)
    assert np.array_equal(outputs, demo_export.reference.reshape(64, -1))
