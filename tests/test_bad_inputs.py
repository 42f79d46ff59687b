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
