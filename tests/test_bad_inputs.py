"""Bad inputs, as a new user would give them: each is refused through the CLI with its exit code and one
line (no traceback), before any long work, and leaves what an earlier run wrote as it was.

Fast: nothing here builds firmware (where a stage would, it is replaced by one that fails the test or
returns fixed rows). The faults that need firmware are in test_faults.py.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from soi_mcu.cli import main

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
