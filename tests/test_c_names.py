"""Whatever users call their layers and models, the generated C gets valid, unique identifiers."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import torch

from soi_mcu.model import Concat, Conv, Duplicate, ModelSpec, OfflineModel, analyze
from soi_mcu.model.c_names import c_identifier, c_safe
from soi_mcu.pipeline import generate_library_for

from .conftest import have


@pytest.mark.parametrize(
    "name, expected",
    [("enc1", "enc1"), ("enc 1", "enc_1"), ("1st-conv", "l_1st_conv"), ("int", "l_int"), ("a/b", "a_b"),
     ("*/", "layer"), ("soi_buf", "l_soi_buf"), ("x" * 60, "x" * 40), ("über", "ber")],
)
def test_c_identifier(name: str, expected: str) -> None:
    assert c_identifier(name, set()) == expected


def test_collisions_get_suffixes() -> None:
    taken: set[str] = set()
    assert [c_identifier(n, taken) for n in ("a-b", "a_b", "a b")] == ["a_b", "a_b_2", "a_b_3"]


WEIRD = ModelSpec(
    name="my model */ v2",
    freq_bins=8,
    in_channels=1,
    layers=(
        Conv("enc 1", "input", cout=3),
        Conv("1st-conv", "enc 1", cout=4, stride=2),
        Conv("int", "1st-conv", cout=4),
        Duplicate("a-b", "int"),
        Concat("a_b", ("a-b", "enc 1")),
        Conv("*/", "a_b", cout=1, kt=1, kf=1, act="none"),
    ),
)


def test_spec_and_trained_model_are_renamed_consistently() -> None:
    safe = c_safe(WEIRD)
    assert [layer.name for layer in safe.layers] == ["enc_1", "l_1st_conv", "l_int", "a_b", "a_b_2", "layer"]
    assert safe.name == "my_model_v2"
    analyze(safe)
    model = OfflineModel(c_safe(WEIRD), seed=3)
    renamed = c_safe(model)
    assert renamed is model  # already safe: unchanged
    x = torch.randn(1, 12, 8, 1)
    assert torch.equal(OfflineModel(safe, seed=3)(x), model(x))


@pytest.mark.skipif(not have("cmake"), reason="needs cmake")
def test_library_from_weird_names_builds_with_werror(tmp_path: Path) -> None:
    generate_library_for(WEIRD, "mps2-an386", tmp_path / "lib")
    source = (tmp_path / "lib" / "model" / "soi_model.c").read_text()
    assert "*/ v2" not in source and "my_model_v2" in source
    build = tmp_path / "build"
    subprocess.run(["cmake", "-S", str(tmp_path / "lib"), "-B", str(build), "-DCMAKE_C_FLAGS=-Wall -Wextra -Werror"],
                   check=True, capture_output=True)
    proc = subprocess.run(["cmake", "--build", str(build)], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
