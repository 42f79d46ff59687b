"""Bad inputs and faults, as a new user would meet them: each is refused through the CLI with its exit
code and one line (no traceback). A bad input is refused before any long work and changes nothing an
earlier run wrote; a run that fails or is interrupted once under way leaves its report marked failed.

Fast: nothing here builds firmware (where a stage would, it is replaced by one that fails the test or
returns fixed rows). The faults that need firmware are in test_faults.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soi_mcu.cli import main
from soi_mcu.errors import SoiError, ToolError

from .conftest import have

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "configs" / "unet-mcu-s.toml"


def refused(argv: list[str], capsys: pytest.CaptureFixture[str], code: int = 2) -> str:
    """Run the CLI, expect exit `code` and a one-line `soi-mcu: error: ...` on stderr; return that line."""
    capsys.readouterr()
    assert main(argv) == code
    err = capsys.readouterr().err.strip().splitlines()
    assert err, "no message"
    line = err[-1]
    assert "Traceback" not in "\n".join(err), err
    assert line.startswith("soi-mcu: "), err
    return line


def _row(variant: str, cycles: float):
    from soi_mcu.profile import VariantCost

    return VariantCost(variant=variant, bitexact=True, analytic_avg_mmac_s=1.0, mac_ratio=1.0, avg_cycles=cycles,
                       peak_cycles=int(cycles), step_peak_cycles=int(cycles), cycle_ratio=1.0, peak_ratio=1.0,
                       mac_per_cycle=0.5, cpu_load=0.1, ram_static=1000, ram_stack_peak=100, ram_state=10, flash=5000,
                       non_mac_share=0.2, conv_mac_per_cycle=0.6, deviation="")


@pytest.fixture
def no_builds(monkeypatch: pytest.MonkeyPatch):
    """profile() must not be reached: the input is refused first."""
    from soi_mcu import profile as profile_mod

    def fail(*args, **kwargs):
        raise AssertionError("variants were built before the bad input was refused")

    monkeypatch.setattr(profile_mod, "profile", fail)


@pytest.mark.parametrize("content, words", [
    ("[1, 2]", "expected a JSON object with a 'variants' list"),
    ('{"board": "x"}', "expected a JSON object with a 'variants' list"),
    ('{"variants": [{"variant": "stmc"}]}', "has no number 'avg_cycles'"),
    ('{"variants": [{"variant": "stmc", "avg_cycles": "1", "peak_cycles": 1, "ram_static": 1, '
     '"ram_stack_peak": 1, "flash": 1}]}', "has no number 'avg_cycles'"),
    ('{"variants": [3]}', "variants[0] is not an object"),
    ("{not json", "not JSON"),
])
def test_compare_file_is_validated_before_any_build(tmp_path: Path, capsys, no_builds, content: str, words: str) -> None:
    bad = tmp_path / "old.json"
    bad.write_text(content)
    line = refused(["profile", str(CONFIG), "--variants", "stmc", "--out", str(tmp_path / "p"), "--compare", str(bad)],
                   capsys)
    assert f"--compare {bad}" in line and words in line
    assert bad.read_text() == content and not (tmp_path / "p").exists()


def test_compare_file_missing_or_a_folder(tmp_path: Path, capsys, no_builds) -> None:
    line = refused(["profile", str(CONFIG), "--out", str(tmp_path / "p"), "--compare", str(tmp_path / "nope.json")],
                   capsys)
    assert "cannot be read" in line
    line = refused(["profile", str(CONFIG), "--out", str(tmp_path / "p"), "--compare", str(tmp_path)], capsys)
    assert "a folder" in line


def test_compare_against_the_file_this_run_overwrites(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch) -> None:
    """`--out D --compare D/profile.json`: the deltas are against the old run, not the file just written."""
    from soi_mcu import profile as profile_mod

    cycles = {"avg": 344_353.0}
    monkeypatch.setattr(profile_mod, "profile", lambda *a, **k: [_row("stmc", cycles["avg"])])
    out = tmp_path / "p"
    assert main(["profile", str(CONFIG), "--variants", "stmc", "--out", str(out)]) == 0
    cycles["avg"] = 289_548.0
    capsys.readouterr()
    assert main(["profile", str(CONFIG), "--variants", "stmc", "--out", str(out), "--compare", str(out / "profile.json")]) == 0
    printed = capsys.readouterr().out
    row = [line for line in printed.splitlines() if line.startswith("stmc ")][-1]  # the compare table's
    assert row.split()[1:3] == ["-54,805", "(-15.9%)"], row  # not a zero delta against itself
    assert json.loads((out / "profile.json").read_text())["variants"][0]["avg_cycles"] == 289_548.0


# --- outputs that never look current: a lock per --out, a report marked while running and after a failure ---

OLD_REPORT = {"status": "complete", "model": "demo", "frames": 64, "bitexact": True}


def _old_report(out: Path) -> Path:
    out.mkdir(parents=True, exist_ok=True)
    path = out / "report.json"
    path.write_text(json.dumps(OLD_REPORT))
    return path


@pytest.fixture
def no_tools_needed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The cases below fail before any tool runs: do not require the toolchain to reach them."""
    from soi_mcu import pipeline

    monkeypatch.setattr(pipeline, "preflight", lambda board, backend="qemu": None)


@pytest.mark.parametrize("fault, code, words", [
    (KeyboardInterrupt(), 130, "soi-mcu: interrupted"),
    (SoiError("the model is wrong"), 2, "the model is wrong"),
    (ToolError("QEMU exited with code 1"), 3, "QEMU exited with code 1"),
])
def test_a_failed_or_interrupted_run_marks_the_old_report(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch,
                                                          no_tools_needed, fault: BaseException, code: int,
                                                          words: str) -> None:
    from soi_mcu import pipeline

    def fail(*args, **kwargs):
        raise fault

    monkeypatch.setattr(pipeline, "float_model", fail)  # the first stage that works in --out
    report = _old_report(tmp_path / "out")
    line = refused(["run", "demo", "--frames", "4", "--out", str(tmp_path / "out")], capsys, code)
    assert words in line
    data = json.loads(report.read_text())
    assert data["status"] == "failed" and "bitexact" not in data  # no figure of the old run looks current
    assert data["error"] == ("interrupted" if code == 130 else str(fault))
    assert data["previous"] == OLD_REPORT  # nothing lost: the last complete report is kept under "previous"
    assert not (tmp_path / "out" / ".soi-mcu.lock").exists()
    # a second failure keeps the same previous report (not a chain of failure markers)
    refused(["run", "demo", "--frames", "4", "--out", str(tmp_path / "out")], capsys, code)
    assert json.loads(report.read_text())["previous"] == OLD_REPORT


def test_bad_input_leaves_the_old_report_untouched(tmp_path: Path, capsys) -> None:
    report = _old_report(tmp_path / "out")
    before = report.read_bytes()
    refused(["run", "demo", "--frames", "0", "--out", str(tmp_path / "out")], capsys)
    refused(["run", "demo", "--board", "nope", "--out", str(tmp_path / "out")], capsys)
    assert report.read_bytes() == before


def test_the_report_says_running_while_the_run_is_under_way(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             no_tools_needed) -> None:
    from soi_mcu import pipeline

    seen = {}

    def look(*args, **kwargs):  # a run killed here (SIGKILL) leaves exactly this on disk
        seen.update(json.loads((tmp_path / "out" / "report.json").read_text()))
        raise SoiError("stop")

    monkeypatch.setattr(pipeline, "float_model", look)
    _old_report(tmp_path / "out")
    with pytest.raises(SoiError):
        pipeline.run(pipeline.demo_spec(), "mps2-an386", 4, tmp_path / "out", quiet=True)
    assert seen["status"] == "running" and "bitexact" not in seen and seen["previous"] == OLD_REPORT


def test_a_folder_in_use_is_refused_in_one_line(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch,
                                                no_tools_needed, no_builds) -> None:
    """A second run into the --out of one still under way (here another process holding the lock)."""
    import os
    import subprocess
    import sys

    out = tmp_path / "out"
    report = _old_report(out)
    before = report.read_bytes()
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from pathlib import Path; from soi_mcu.report.outputs import lock_only\n"
        f"with lock_only(Path({str(out)!r})):\n    print('locked', flush=True); time.sleep(60)\n")],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "locked"
        for argv in (["run", "demo", "--frames", "4", "--out", str(out)],
                     ["profile", str(CONFIG), "--variants", "stmc", "--out", str(out)]):
            line = refused(argv, capsys)
            assert f"output folder {out} is in use by pid {holder.pid}" in line
        assert report.read_bytes() == before  # the run under way owns it: nothing changed
    finally:
        holder.kill()
        holder.wait()
    # the kernel dropped the killed holder's lock: the folder is free again, with no stale-lock step
    from soi_mcu.report.outputs import lock_only

    with lock_only(out):
        pass


def test_ctrl_c_during_the_build_is_an_interruption(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """make killed by the terminal's SIGINT (before Python sees it, or alone): KeyboardInterrupt, not a
    "firmware build failed" error."""
    import sys
    from types import SimpleNamespace

    from soi_mcu.target.boards import load_board
    from soi_mcu.target.build import build_firmware

    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "cmake").write_text(f"#!{sys.executable}\nimport os, signal\n"
                                   "signal.signal(signal.SIGINT, signal.SIG_DFL)\nos.kill(os.getpid(), signal.SIGINT)\n")
    (bin_dir / "arm-none-eabi-gcc").write_text("#!/bin/sh\nexit 0\n")
    for tool in bin_dir.iterdir():
        tool.chmod(0o755)
    monkeypatch.setenv("PATH", str(bin_dir))
    with pytest.raises(KeyboardInterrupt):
        build_firmware(SimpleNamespace(out_dir=tmp_path / "gen"), load_board("mps2-an386"), tmp_path / "build")


# --- the cache: entries stored with their hash, a damaged one removed (with a line) and rebuilt once ---

@pytest.fixture
def own_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    root = tmp_path / "cache"
    monkeypatch.setenv("SOI_MCU_CACHE", str(root))
    return root


def _damage(path: Path, how: str) -> None:
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "empty": b"", "garbage": b"garbage\n" * 10}[how])


@pytest.mark.parametrize("how", ["truncate", "empty", "garbage"])
def test_a_damaged_tflite_entry_is_evicted_and_rebuilt(own_cache: Path, capsys, monkeypatch: pytest.MonkeyPatch,
                                                       tmp_path: Path, how: str) -> None:
    import numpy as np

    from soi_mcu.model import OfflineModel, demo_spec
    from soi_mcu.quantize import export as export_mod

    conversions = []

    def convert(offline, calibration, frames):  # stands in for TensorFlow's converter (seconds)
        conversions.append(frames)
        return b"\x1c\x00\x00\x00TFL3" + bytes(range(256)) * 4

    monkeypatch.setattr(export_mod, "_convert", convert)
    offline = OfflineModel(demo_spec(), seed=0)
    calib = np.zeros((1, 8, offline.spec.freq_bins, offline.spec.in_channels), np.float32)
    first = export_mod.export_tflite(offline, calib, 8, tmp_path / "a.tflite")
    assert not first.from_cache and conversions == [8]
    again = export_mod.export_tflite(offline, calib, 8, tmp_path / "b.tflite")
    assert again.from_cache and conversions == [8]  # intact: reused
    entry = next((own_cache / "tflite").glob("*.tflite"))
    _damage(entry, how)
    capsys.readouterr()
    rebuilt = export_mod.export_tflite(offline, calib, 8, tmp_path / "c.tflite")
    err = capsys.readouterr().err
    assert f"cache entry {entry} is damaged" in err and "removed it, rebuilding it" in err
    assert not rebuilt.from_cache and conversions == [8, 8]  # converted once more
    assert (tmp_path / "c.tflite").read_bytes() == (tmp_path / "a.tflite").read_bytes() == entry.read_bytes()
    export_mod.export_tflite(offline, calib, 8, tmp_path / "d.tflite")
    assert conversions == [8, 8] and "damaged" not in capsys.readouterr().err  # and trusted again


def test_an_entry_without_its_hash_is_rebuilt_quietly(own_cache: Path, capsys) -> None:
    from soi_mcu import cache

    entry = own_cache / "tflite" / "x.tflite"
    cache.store(entry, b"data")
    assert cache.load(entry) == b"data"
    (entry.parent / "x.tflite.sha256").unlink()  # an older soi-mcu's entry, or a crash between the renames
    assert cache.load(entry) is None and not entry.exists()
    assert "damaged" not in capsys.readouterr().err
    cache.store(entry, b"header")
    (entry.parent / "x.tflite.sha256").unlink()
    assert cache.load(entry, adopt=lambda data: data == b"header") == b"header"  # vouched for: kept, hash recorded
    assert (entry.parent / "x.tflite.sha256").is_file()


@pytest.mark.skipif(not have("arm-none-eabi-gcc"), reason="needs arm-none-eabi-gcc")
def test_a_truncated_code_size_object_is_evicted_and_rebuilt(own_cache: Path, capsys) -> None:
    from soi_mcu.paths import FIRMWARE_DIR, kernel_include_dirs
    from soi_mcu.target import code_size
    from soi_mcu.target.boards import load_board

    board = load_board("mps2-an386")
    src = FIRMWARE_DIR / "runtime" / "soi_ring.c"
    includes = [*kernel_include_dirs(), FIRMWARE_DIR / "runtime"]
    obj = code_size._compile("arm-none-eabi-gcc", src, includes, board)
    functions = code_size._functions(obj)
    _damage(obj, "truncate")
    capsys.readouterr()
    again = code_size._compile("arm-none-eabi-gcc", src, includes, board)
    assert f"cache entry {obj} is damaged" in capsys.readouterr().err
    assert again == obj and code_size._functions(again) == functions  # no ELFParseError: a fresh object


def _plugin_header() -> Path | None:
    for path in (Path.home() / ".cache" / "soi-mcu" / "qemu-plugin" / "qemu-plugin.h",
                 ROOT / "build" / "test-cache" / "qemu-plugin" / "qemu-plugin.h"):
        if path.is_file():
            return path
    return None


@pytest.mark.skipif(_plugin_header() is None or not have("cc"), reason="needs a cached qemu-plugin.h and a C compiler")
def test_an_empty_plugin_and_a_garbage_header_are_evicted_and_rebuilt(own_cache: Path, capsys,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    from soi_mcu.target import qemu_plugin

    good = _plugin_header().read_bytes()
    fetched = []

    def fetch() -> bytes:  # stands in for apt-get source qemu (network)
        fetched.append(1)
        return good

    monkeypatch.delenv("QEMU_PLUGIN_H", raising=False)
    monkeypatch.setattr(qemu_plugin, "_fetch_header_from_debian", fetch)
    lib = qemu_plugin.ensure_plugin()
    built = lib.read_bytes()
    assert fetched == [1] and built[:4] == b"\x7fELF"
    _damage(lib, "empty")
    capsys.readouterr()
    assert qemu_plugin.ensure_plugin() == lib and lib.read_bytes()[:4] == b"\x7fELF"
    assert f"cache entry {lib} is damaged" in capsys.readouterr().err
    header = own_cache / "qemu-plugin" / "qemu-plugin.h"
    _damage(header, "garbage")
    qemu_plugin.ensure_plugin()
    assert f"cache entry {header} is damaged" in capsys.readouterr().err
    assert fetched == [1, 1] and header.read_bytes() == good
    # a header cached by an older soi-mcu (no hash): kept when it reads as the whole header
    (header.parent / "qemu-plugin.h.sha256").unlink()
    qemu_plugin.ensure_plugin()
    assert fetched == [1, 1]


def test_cache_command_shows_and_clears(own_cache: Path, capsys) -> None:
    from soi_mcu import cache

    cache.store(own_cache / "tflite" / "a.tflite", b"x" * 100)
    cache.store(own_cache / "code-size" / "b.o", b"y" * 10)
    (own_cache / "code-size" / "b.o").write_bytes(b"z")  # damaged
    assert main(["cache", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    stages = {s["name"]: s for s in data["stages"]}
    assert data["root"] == str(own_cache) and data["set_by"] == "SOI_MCU_CACHE"
    assert stages["tflite"]["entries"] == 1 and stages["tflite"]["bytes"] == 100
    assert stages["code-size"]["damaged"] == [str(own_cache / "code-size" / "b.o")]
    assert main(["cache"]) == 0
    out = capsys.readouterr().out
    assert str(own_cache) in out and "1 damaged" in out
    (own_cache / "mine").mkdir()  # not soi-mcu's: listed, never removed
    assert main(["cache", "--clear"]) == 0
    assert "removed" in capsys.readouterr().out
    assert not (own_cache / "tflite").exists() and not (own_cache / "code-size").exists() and (own_cache / "mine").is_dir()


# --- config and board files: one schema each, one line naming the file, the key and what is expected ---

@pytest.mark.parametrize("text, words", [
    ("[model]\nchannels = 8\n", "[model] channels = 8: expected a list of positive integers"),
    ('[model]\nkernel = [3, "3"]\n', '[model] kernel = [3, "3"]: expected a list of 2 positive integers'),
    ("[model]\nkernel = [2.5, 3]\n", "[model] kernel = [2.5, 3]: expected a list of 2 positive integers"),
    ("[model]\nkernel = [3]\n", "[model] kernel = [3]: expected a list of 2 positive integers"),
    ("[model]\nname = 5\n", "[model] name = 5: expected a non-empty string"),
    ("[model]\nhop = -64\n", "[model] hop = -64: expected a positive integer"),
    ("[model]\nsample_rate = true\n", "[model] sample_rate = true: expected a positive integer"),
    ("[model]\nfstride = [2, 3, 2, 1, 2, 1, 1]\n", "expected a list of values 1 or 2"),
    ("[soi]\nscc = 2\n", "[soi] scc = 2: expected a list of positive integers (encoder positions, 1-based), e.g. [2]"),
    ('[soi]\nextrapolation = 1\n', '[soi] extrapolation = 1: expected one of "duplicate", "transposed"'),
    ("model = 3\n", "model = 3: expected a [model] table"),
])
def test_config_type_errors_are_one_line(tmp_path: Path, capsys, text: str, words: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    for argv in (["complexity", str(path)], ["profile", str(path), "--out", str(tmp_path / "p")]):
        line = refused(argv, capsys)
        assert f"{path}: " in line and words in line, line
    assert not (tmp_path / "p").exists()


def test_a_folder_or_binary_given_as_the_config(tmp_path: Path, capsys) -> None:
    line = refused(["complexity", str(tmp_path)], capsys)
    assert f"config {tmp_path} is a folder" in line and "configs/unet-mcu-s.toml" in line
    (tmp_path / "x.toml").write_bytes(b"\xff\xfe\x00")
    assert "cannot be read" in refused(["complexity", str(tmp_path / "x.toml")], capsys)


def test_a_checkpoint_config_goes_through_the_same_schema() -> None:
    from soi_mcu.model.config import config_from_dict

    with pytest.raises(SoiError, match=r"ckpt.pt: \[config\] kernel = \[2.5, 3\]: expected"):
        config_from_dict({"name": "x", "kernel": [2.5, 3]}, "ckpt.pt")
    assert config_from_dict({"name": "x", "kernel": (3, 3)}, "ckpt.pt").kernel == (3, 3)


BOARD = (ROOT / "boards" / "mps2-an386.toml").read_text()


@pytest.mark.parametrize("old, new, words", [
    ("stack_size = 16384", 'stack_size = "16k"', 'stack_size = "16k": expected a positive multiple of 8'),
    ("stack_size = 16384", "stack_size = -4096", "stack_size = -4096: expected a positive multiple of 8"),
    ("stack_size = 16384", "stack_size = 1001", "stack_size = 1001: expected a positive multiple of 8"),
    ("[ram]\norigin = 0x20000000\nsize = 0x400000", "[ram]\norigin = 0x20000000\nsize = 0x100000000000",
     "[ram] origin 0x20000000 + size 0x100000000000 ends beyond the 32-bit address space"),
    ("origin = 0x20000000", "origin = 0x200000000", "[ram] origin = 8589934592: expected an address in 0x0..0xffffffff"),
    ('cpu_flags = ["-mcpu=cortex-m4"', 'cpu_flags = [4, "-mcpu=cortex-m4"', "cpu_flags = [4, "),
    ('core = "cortex-m4"', "core = 4", "core = 4: expected a non-empty string"),
    ('machine = "mps2-an386"', "machine = 5", "[simulators.qemu] machine = 5: expected a non-empty string"),
    ("[flash]", "scc = 2\n[flash]", "unknown key 'scc'"),
    ("clock_hz = 25_000_000", "clock_hz = 2.5e7", "clock_hz = 25000000.0: expected a positive integer (Hz)"),
])
def test_board_file_errors_are_one_line(tmp_path: Path, capsys, old: str, new: str, words: str) -> None:
    path = tmp_path / "mps2-an386.toml"
    assert old in BOARD
    path.write_text(BOARD.replace(old, new, 1))
    for argv in (["demo", "--board", str(path), "--out", str(tmp_path / "out")],
                 ["analyze", "demo", "--board", str(path), "--out", str(tmp_path / "out")]):
        line = refused(argv, capsys)
        assert f"board file {path}: " in line and words in line, line
    assert not (tmp_path / "out").exists()


def test_a_board_file_of_your_own_is_used_by_its_path(tmp_path: Path) -> None:
    from soi_mcu.target.boards import load_board

    path = tmp_path / "my-board.toml"
    path.write_text(BOARD.replace('name = "mps2-an386"', 'name = "my-board"'))
    board = load_board(str(path))
    assert board.name == "my-board" and board.file == str(path) and board.qemu_machine == "mps2-an386"
    with pytest.raises(SoiError, match="does not exist"):
        load_board(str(tmp_path / "nope.toml"))


@pytest.mark.skipif(not have("qemu-system-arm", "cmake", "arm-none-eabi-gcc"), reason="needs the toolchain and QEMU")
def test_an_unknown_qemu_machine_is_named_before_any_build(tmp_path: Path, capsys) -> None:
    path = tmp_path / "mps2-an386.toml"
    path.write_text(BOARD.replace('machine = "mps2-an386"', 'machine = "mps2-an368"'))
    line = refused(["demo", "--board", str(path), "--out", str(tmp_path / "out")], capsys)
    assert f"board file {path}: [simulators.qemu] machine = \"mps2-an368\" is not a machine" in line
    assert "did you mean 'mps2-an386'" in line
    assert not (tmp_path / "out").exists()  # refused before the output folder was touched


@pytest.mark.skipif(not have("qemu-system-arm", "cmake", "arm-none-eabi-gcc"), reason="needs the toolchain and QEMU")
@pytest.mark.parametrize("old, new, words", [
    ("origin = 0x00000000", "origin = 0x60000000", "[flash] origin = 0x60000000, size = 0x400000 is not memory"),
    ("size = 0x400000\n\n[simulators", "size = 0x1000000\n\n[simulators", "[ram] origin = 0x20000000, size = 0x1000000"),
])
def test_a_region_without_memory_behind_it_in_the_qemu_machine_is_named_before_any_build(
        tmp_path: Path, capsys, old: str, new: str, words: str) -> None:
    path = tmp_path / "mps2-an386.toml"
    assert old in BOARD
    path.write_text(BOARD.replace(old, new, 1))
    line = refused(["demo", "--board", str(path), "--out", str(tmp_path / "out")], capsys)
    assert f"error: board file {path}: " in line and words in line, line
    assert "in QEMU's mps2-an386 (its memory: 0x00000000-0x007fffff" in line
    assert not (tmp_path / "out").exists()


def test_the_cpu_view_of_a_qemu_memory_map_is_read_with_trustzone_memory() -> None:
    from soi_mcu.target.qemu_memory import parse_cpu_memory

    mtree = """FlatView #4
 AS "tz-mpc-downstream", root: QSPI
  0000000000000000-00000000007fffff (prio 0, rom): QSPI
FlatView #6
 AS "cpu-secure-memory-0", root: armv7m-container
 AS "cpu-memory-0", root: armv7m-container
 Root memory region: armv7m-container
  0000000000000000-000000000007ffff (prio 0, ram): sse300-itcm
  0000000001000000-00000000011fffff (prio 0, i/o): tz-mpc-upstream
  0000000001200000-00000000013fffff (prio 0, i/o): tz-mpc-upstream
  0000000040012000-0000000040012fff (prio 0, i/o): armsse-cpu-pwrctrl
FlatView #7
  0000000050000000-00000000500fffff (prio 0, ram): elsewhere
"""
    assert parse_cpu_memory(mtree) == ((0x0, 0x80000), (0x1000000, 0x1400000))


# --- options that do not apply to the command, --frames bounded, --variants the same everywhere ---

@pytest.mark.parametrize("argv, words", [
    (["generate", "demo", "--variant", "banana"], "--variant banana applies to a U-Net config (CONFIG.toml) only"),
    (["analyze", "demo", "--variant", "scc:2"], "--variant scc:2 applies to a U-Net config"),
    (["generate", str(CONFIG), "--freq-bins", "7"], f"--freq-bins 7 applies to a PyTorch model (FILE.py:FUNCTION) only; "
                                                    f"{CONFIG} sets them"),
    (["run", "demo", "--freq-bins", "7"], "--freq-bins 7 applies to a PyTorch model"),
    (["generate", "demo", "--freq-bins", "-3"], "--freq-bins -3: give the frequency bins"),
    (["profile", str(CONFIG), "--eval-count", "3"], "--eval-count only apply with --checkpoints"),
    (["profile", str(CONFIG), "--data", "dns"], "--data only apply with --checkpoints"),
    (["run", "demo", "--frames", "10000000"], "--frames 10000000: the firmware holds every input frame in flash"),
    (["demo", "--frames", "10000000"], "give at most 262,144 frames"),
    (["profile", str(CONFIG), "--frames", "10000000"], "--frames 10000000: the firmware holds every input frame"),
    (["complexity", str(CONFIG), "--variants", ","], "--variants ',' names no variant"),
    (["profile", str(CONFIG), "--variants", " , "], "--variants ' , ' names no variant"),
    (["complexity", str(CONFIG), "--variants", "stmc,banana"], "unknown variant 'banana'"),
])
def test_options_that_do_not_apply_are_refused(tmp_path: Path, capsys, no_builds, argv: list[str], words: str) -> None:
    out = tmp_path / "out"
    if argv[0] != "complexity":
        argv = [*argv, "--out", str(out)]
    line = refused(argv, capsys)
    assert words in line, line
    assert not out.exists()


def test_empty_variant_entries_are_skipped_alike(capsys, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from soi_mcu import profile as profile_mod

    assert main(["complexity", str(CONFIG), "--variants", "stmc,,scc:2,", "--json"]) == 0
    assert [r["variant"] for r in json.loads(capsys.readouterr().out)] == ["stmc", "scc:2"]
    seen = {}
    monkeypatch.setattr(profile_mod, "profile", lambda base, board, variants, *a, **k: seen.setdefault("v", variants)
                        and [_row("stmc", 1000.0)])
    assert main(["profile", str(CONFIG), "--variants", "stmc,,scc:2,", "--out", str(tmp_path / "p")]) == 0
    assert seen["v"] == ["stmc", "scc:2"]


def test_a_model_file_that_calls_sys_exit(tmp_path: Path, capsys) -> None:
    model = tmp_path / "m.py"
    model.write_text("import sys\n\ndef build():\n    sys.exit(3)\n")
    line = refused(["generate", f"{model}:build", "--out", str(tmp_path / "out")], capsys)
    assert "called sys.exit(3); it must return an nn.Module" in line
    model.write_text("import sys\nsys.exit(0)\n")
    assert "called sys.exit(0) while loading" in refused(["generate", f"{model}:build", "--out", str(tmp_path / "o")], capsys)


# --- the fit check before the export (weights from the float model), and the plan's before the LiteRT reference ---

def _small_board(tmp_path: Path, flash: int, ram: int, stack: int = 1024) -> Path:
    path = tmp_path / "tiny.toml"
    text = (BOARD.replace('name = "mps2-an386"', 'name = "tiny"').replace("stack_size = 16384", f"stack_size = {stack}")
            .replace("[flash]\norigin = 0x00000000\nsize = 0x400000", f"[flash]\norigin = 0x00000000\nsize = {flash}")
            .replace("[ram]\norigin = 0x20000000\nsize = 0x400000", f"[ram]\norigin = 0x20000000\nsize = {ram}"))
    assert text.count(str(flash)) and text.count(str(ram))
    path.write_text(text)
    return path


@pytest.mark.parametrize("command", ["run", "generate"])
def test_weights_that_cannot_fit_are_refused_before_the_export(tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch,
                                                               no_tools_needed, command: str) -> None:
    from soi_mcu import pipeline

    def too_late(*args, **kwargs):
        raise AssertionError("the float check or the export ran before the fit check")

    monkeypatch.setattr(pipeline, "float_model", too_late)
    monkeypatch.setattr(pipeline, "export", too_late)
    board = _small_board(tmp_path, flash=4096, ram=0x10000)  # the demo has 7,568 weights
    extra = ["--frames", "4"] if command == "run" else []
    line = refused([command, "demo", "--board", str(board), "--out", str(tmp_path / "out"), *extra], capsys)
    assert "model weights need at least 7,568 bytes of flash (one int8 per weight)" in line
    assert "board tiny has 4,096" in line and "before the int8 export" in line
    assert not (tmp_path / "out" / "report.json").exists()


def test_ram_that_cannot_fit_is_refused_before_the_litert_reference(tmp_path: Path, capsys,
                                                                    monkeypatch: pytest.MonkeyPatch, no_tools_needed) -> None:
    """Exports the demo (seconds; cached after the first run), then stops at the plan's RAM check."""
    from soi_mcu import pipeline

    def too_late(*args, **kwargs):
        raise AssertionError("the LiteRT reference ran before the fit check")

    monkeypatch.setattr(pipeline, "reference_outputs", too_late)
    board = _small_board(tmp_path, flash=0x40000, ram=1024 + 256)  # room for the stack, not for the model's buffers
    report = _old_report(tmp_path / "out")
    line = refused(["run", "demo", "--board", str(board), "--frames", "4", "--out", str(tmp_path / "out")], capsys)
    assert "bytes of RAM" in line and "board tiny has 1280" in line
    assert json.loads(report.read_text())["status"] == "failed"  # the run had started: the old report is marked


# --- firmware faults named for what they are (the harness's lines; test_faults.py runs real firmware) ---

LIMIT, TOP = 0x20001000, 0x20005000  # a 16 KiB stack


def _check(lines: list[str], rc: int = 3) -> str:
    from soi_mcu.target.boards import load_board
    from soi_mcu.target.harness_output import RunLog, check_finished

    symbols = {"soi_model_step": (0x100, 0x80), "build_block_8": (0x200, 0x80), "__stack_limit__": (LIMIT, 0),
               "__stack_top__": (TOP, 0)}
    with pytest.raises(ToolError) as err:
        check_finished(rc, lines, symbols, RunLog("QEMU", Path("out.txt"), Path("qemu.log")),
                       board=load_board("mps2-an386"))
    assert err.value.exit_code == 3
    return str(err.value)


def test_a_fault_after_the_stack_ran_past_its_end_is_a_stack_overflow() -> None:
    msg = _check([f"SOI_FAULT pc={0x210} cfsr=256 hfsr=1073741824 sp={LIMIT - 1000} guard=0"])
    assert msg.startswith("stack overflow: at least 17384 bytes needed, stack_size is 16384")
    assert "faulted at pc=0x00000210 (build_block_8)" in msg and "raise stack_size in" in msg
    msg = _check([f"SOI_FAULT pc={0x210} cfsr=256 hfsr=1073741824 sp={TOP - 200} guard=0"])  # SP came back up
    assert msg.startswith("stack overflow: more than 16384 bytes needed, stack_size is 16384")
    msg = _check([f"SOI_FAULT pc={0x110} cfsr=256 hfsr=1073741824 sp={TOP - 200} guard=1"])  # a real fault
    assert msg.startswith("firmware HardFault at pc=0x00000110 (soi_model_step)")


def test_the_stack_guard_checked_after_every_step() -> None:
    msg = _check(["SOI_OUT 0 00", "SOI_STACK_OVERFLOW 3"])
    assert msg.startswith("stack overflow: more than 16384 bytes needed, stack_size is 16384 (step 3 ran past the end")


def test_a_stack_in_its_guard_margin_says_how_much_was_needed() -> None:
    from soi_mcu.target.boards import load_board
    from soi_mcu.target.harness_output import stack_peak

    with pytest.raises(ToolError, match=r"stack overflow: 16352 bytes needed, stack_size is 16384"):
        stack_peak(["SOI_STACK 16352"], load_board("mps2-an386"))
    assert stack_peak(["SOI_STACK 1000"], load_board("mps2-an386")) == 1000


def test_a_lockup_and_a_machine_that_cannot_start_are_named() -> None:
    msg = _check(["qemu: fatal: Lockup: can't escalate 3 to HardFault (current priority -1)"], rc=-6)
    assert msg.startswith("the core locked up (qemu: fatal: Lockup") and "stack" in msg
    msg = _check(["qemu-system-arm: rom check and register reset failed"], rc=1)
    assert "could not run the firmware on this machine: qemu-system-arm: rom check" in msg
    assert "[flash]/[ram] regions of" in msg


@pytest.mark.parametrize("argv, words", [
    (["train", str(CONFIG), "--steps", "0"], "--steps 0: give at least 1"),
    (["train", "scenes", "--clips", "0"], "--clips 0: give at least 1"),
    (["train", str(CONFIG), "--seconds", "-1"], "--seconds -1.0: give a positive length"),
    (["sweep", str(CONFIG), "--batch", "0"], "--batch 0: give at least 1"),
])
def test_training_numbers_are_refused_before_any_data(capsys, monkeypatch: pytest.MonkeyPatch, argv: list[str],
                                                      words: str) -> None:
    from soi_mcu.train import scene_classifier, speech, sweep

    def too_late(*args, **kwargs):
        raise AssertionError("training data was prepared before the bad number was refused")

    for module in (speech, scene_classifier):
        monkeypatch.setattr(module, "run_from_args" if module is speech else "run_train_from_args", too_late)
    monkeypatch.setattr(sweep, "sweep", too_late)
    assert words in refused(argv, capsys)
