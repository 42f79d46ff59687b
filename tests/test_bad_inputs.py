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
